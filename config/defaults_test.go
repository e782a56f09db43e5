package config

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

func TestApplyDefaults(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in    GatewayConfig
		check func(t *testing.T, c *GatewayConfig)
	}{
		"an empty config gets every default": {
			in: GatewayConfig{},
			check: func(t *testing.T, c *GatewayConfig) {
				if !slices.Equal(c.ExcludedNamespaces, DefaultExcludedNamespaces) {
					t.Errorf("excludedNamespaces = %v", c.ExcludedNamespaces)
				}
				if c.Defaults.Mode != ModeEnforce {
					t.Errorf("defaults.mode = %q", c.Defaults.Mode)
				}
				if c.Webhook.TimeoutMargin.Duration != 500*time.Millisecond || c.Webhook.DefaultTimeout.Duration != 10*time.Second {
					t.Errorf("webhook = %+v", c.Webhook)
				}
				if w := c.Webhook; w.MaxInFlight != 256 || w.MaxRequestsPerConnection != 1000 {
					t.Errorf("webhook.maxInFlight = %d, maxRequestsPerConnection = %d, want 256 and 1000", w.MaxInFlight, w.MaxRequestsPerConnection)
				}
				if e := c.Audit.CheckpointEvery; e.Records != 1000 || e.Interval.Duration != time.Minute {
					t.Errorf("audit.checkpointEvery = %+v", e)
				}
				if d := c.Audit.CommitDelay; d == nil || d.Duration != 5*time.Millisecond {
					t.Errorf("audit.commitDelay = %v, want 5ms", d)
				}
				if got := c.Webhook.Controllers["Deployment"]; !slices.Contains(got, "system:serviceaccount:kube-system:deployment-controller") {
					t.Errorf("webhook.controllers[Deployment] = %v", got)
				}
				if c.Store.URL != "" {
					t.Errorf("store.url = %q, want it left to the server", c.Store.URL)
				}
			},
		},
		"an explicit empty excludedNamespaces stays empty": {
			in: GatewayConfig{ExcludedNamespaces: []string{}},
			check: func(t *testing.T, c *GatewayConfig) {
				if len(c.ExcludedNamespaces) != 0 {
					t.Errorf("excludedNamespaces = %v, want empty", c.ExcludedNamespaces)
				}
			},
		},
		"set values are kept": {
			in: GatewayConfig{
				Defaults: Binding{Mode: ModeAudit},
				Webhook: Webhook{
					TimeoutMargin:            Duration{time.Second},
					MaxInFlight:              8,
					MaxRequestsPerConnection: 50,
					Controllers:              map[string][]string{"Job": {"system:serviceaccount:ci:batch"}},
				},
				Audit: Audit{CheckpointEvery: CheckpointEvery{Records: 10}},
			},
			check: func(t *testing.T, c *GatewayConfig) {
				if c.Defaults.Mode != ModeAudit || c.Webhook.TimeoutMargin.Duration != time.Second || c.Audit.CheckpointEvery.Records != 10 {
					t.Errorf("a set value was overwritten: %+v %+v %+v", c.Defaults, c.Webhook, c.Audit)
				}
				if c.Webhook.MaxInFlight != 8 || c.Webhook.MaxRequestsPerConnection != 50 {
					t.Errorf("webhook load bounds overwritten: %+v", c.Webhook)
				}
				if got := c.Webhook.Controllers["Job"]; !slices.Equal(got, []string{"system:serviceaccount:ci:batch"}) {
					t.Errorf("webhook.controllers[Job] = %v, want the config's own", got)
				}
				if _, ok := c.Webhook.Controllers["CronJob"]; !ok {
					t.Errorf("webhook.controllers[CronJob] missing: kinds left out get the defaults")
				}
			},
		},
		"a threshold left out with authorities means one": {
			in: GatewayConfig{Trust: []TrustPolicy{
				{Signatures: SignatureRequirement{Authorities: []Authority{{Name: "a"}, {Name: "b"}}}},
				{Signatures: SignatureRequirement{Threshold: 2, Authorities: []Authority{{Name: "a"}, {Name: "b"}}}},
				{},
			}},
			check: func(t *testing.T, c *GatewayConfig) {
				got := []int{c.Trust[0].Signatures.Threshold, c.Trust[1].Signatures.Threshold, c.Trust[2].Signatures.Threshold}
				if !slices.Equal(got, []int{1, 2, 0}) {
					t.Errorf("thresholds = %v, want [1 2 0]", got)
				}
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := tt.in
			c.ApplyDefaults()
			tt.check(t, &c)
			before := c.Revision()
			c.ApplyDefaults()
			if after := c.Revision(); after != before {
				t.Errorf("ApplyDefaults twice changed the config")
			}
		})
	}
}

func TestApplyDefaultsDoesNotShareDefaultExcludedNamespaces(t *testing.T) {
	t.Parallel()
	var c GatewayConfig
	c.ApplyDefaults()
	c.ExcludedNamespaces[0] = "changed"
	if DefaultExcludedNamespaces[0] != "kube-system" {
		t.Fatalf("changing a config changed DefaultExcludedNamespaces")
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	c := Default()
	if !slices.Equal(c.ExcludedNamespaces, DefaultExcludedNamespaces) {
		t.Errorf("default.yaml excludedNamespaces = %v, want DefaultExcludedNamespaces %v", c.ExcludedNamespaces, DefaultExcludedNamespaces)
	}
	tests := map[string]struct {
		namespace string
		labels    map[string]string
		mode      Mode
		approvers int
	}{
		"dev-* is warned":                                {"dev-alice", nil, ModeWarn, 0},
		"sandbox-* is audited":                           {"sandbox-1", nil, ModeAudit, 0},
		"prod-* labelled env=prod needs approval":        {"prod-api", map[string]string{"env": "prod"}, ModeEnforce, 2},
		"prod-* without the label falls to the defaults": {"prod-api", nil, ModeEnforce, 0},
		"anything else is enforced":                      {"payments", map[string]string{"env": "prod"}, ModeEnforce, 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := c.Resolve(tt.namespace, tt.labels)
			if r.Binding.Mode != tt.mode {
				t.Errorf("mode = %q, want %q", r.Binding.Mode, tt.mode)
			}
			got := 0
			if a := r.Binding.Approval; a != nil {
				got = a.Approvers
			}
			if got != tt.approvers {
				t.Errorf("approvers = %d, want %d", got, tt.approvers)
			}
		})
	}
	t.Run("the prod approval rule is the one documented", func(t *testing.T) {
		t.Parallel()
		a := c.Resolve("prod-api", map[string]string{"env": "prod"}).Binding.Approval
		want := ApprovalExpiry{Pending: Duration{72 * time.Hour}, Approved: Duration{24 * time.Hour}, BreakGlass: Duration{time.Hour}}
		if !slices.Equal(a.Groups, []string{"release-managers"}) || !slices.Equal(a.BreakGlassGroups, []string{"sre-oncall"}) || a.Expiry != want {
			t.Errorf("approval = %+v", a)
		}
	})
	t.Run("each call returns its own copy", func(t *testing.T) {
		t.Parallel()
		d := Default()
		d.Namespaces[0].Mode = ModeAudit
		if Default().Namespaces[0].Mode != ModeWarn {
			t.Errorf("changing one Default() changed the next")
		}
	})
}

// TestDefaultYAMLSpellsOutDefaults checks that the values default.yaml
// writes out are the ones ApplyDefaults would give, so the file documents
// them truthfully: dropping them leaves the same config.
func TestDefaultYAMLSpellsOutDefaults(t *testing.T) {
	t.Parallel()
	data := DefaultYAML()
	for _, line := range []string{
		"excludedNamespaces: [kube-system, kube-public, kube-node-lease, shipgate-system]\n",
		"  checkpointEvery: {records: 1000, interval: 1m}\n",
		"  commitDelay: 5ms\n",
		"  timeoutMargin: 500ms\n",
		"  defaultTimeout: 10s\n",
	} {
		if !bytes.Contains(data, []byte(line)) {
			t.Fatalf("default.yaml no longer holds %q; update this test", line)
		}
		data = bytes.Replace(data, []byte(line), nil, 1)
	}
	stripped, err := Parse("stripped.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stripped.Revision(), Default().Revision(); got != want {
		t.Errorf("default.yaml without its spelled-out defaults has revision %s, want %s", got, want)
	}
}
