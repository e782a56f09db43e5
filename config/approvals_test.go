package config

import (
	"strings"
	"testing"
	"time"
)

func TestApprovalNotifications(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce}\n"
	tests := map[string]struct {
		yaml string
		want []string // error lines; none for valid
	}{
		"receivers with and without an event filter": {
			yaml: "approvals:\n  notify:\n  - url: https://hooks.slack.com/services/T0/B0/secret\n  - url: http://10.0.0.5:8080/hook\n    events: [created, expired]\n",
		},
		"no scheme, a relative URL, an unknown event": {
			yaml: "approvals:\n  notify:\n  - url: hooks.example.com/x\n  - url: ftp://files.example.com/secret-path\n  - url: https://ok.example.com/\n    events: [used]\n",
			want: []string{
				"gateway.yaml:6: approvals.notify[0].url: must be an absolute http:// or https:// URL",
				"gateway.yaml:7: approvals.notify[1].url: must be an absolute http:// or https:// URL",
				`gateway.yaml:9: approvals.notify[2].events[0]: unknown event "used": must be one of created, approved, rejected, expired`,
			},
		},
		"a receiver listed twice": {
			yaml: "approvals:\n  notify:\n  - url: https://a.example.com/x\n  - url: https://a.example.com/x\n",
			want: []string{"gateway.yaml:7: approvals.notify[1].url: repeats approvals.notify[0].url"},
		},
		"an empty URL": {
			yaml: "approvals:\n  notify:\n  - events: [created]\n",
			want: []string{"approvals.notify[0].url: must not be empty"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("gateway.yaml", []byte(head+tc.yaml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if len(c.Approvals.Notify) != 2 || c.Approvals.Notify[1].Events[1] != "expired" {
					t.Errorf("approvals = %+v", c.Approvals)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "secret-path") {
				t.Errorf("an error echoes the URL, which may hold a secret:\n%v", err)
			}
		})
	}
}

func TestApprovalSweepInterval(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce}\n"
	tests := map[string]struct {
		yaml string
		want time.Duration // 0: left to the approval service's default
		err  string
	}{
		"left out":          {yaml: ""},
		"one second":        {yaml: "approvals:\n  sweepInterval: 1s\n", want: time.Second},
		"five minutes":      {yaml: "approvals:\n  sweepInterval: 5m\n", want: 5 * time.Minute},
		"below one second":  {yaml: "approvals:\n  sweepInterval: 100ms\n", err: "approvals.sweepInterval: must be at least 1s, got 100ms"},
		"not a duration":    {yaml: "approvals:\n  sweepInterval: often\n", err: `invalid duration "often"`},
		"a negative number": {yaml: "approvals:\n  sweepInterval: -5s\n", err: `duration "-5s" is negative`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("gateway.yaml", []byte(head+tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse: want an error with %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.Approvals.SweepInterval.Duration; got != tc.want {
				t.Errorf("approvals.sweepInterval = %s, want %s", got, tc.want)
			}
		})
	}
}
