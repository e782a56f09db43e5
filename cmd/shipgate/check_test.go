package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		exit int
		out  []string // substrings of the output
	}{
		"a prod rollout waits for the approval its binding asks for": {
			args: []string{"-f", "testdata/check/manifests/good.yaml"},
			exit: 1,
			out: []string{"Deployment prod-payments/web", "testdata/check/manifests/good.yaml:8", "denied",
				"the namespace binding requires approval by 2 distinct people from release-managers"},
		},
		"pinned images are admitted where no approval is asked": {
			args: []string{"-f", "testdata/check/manifests/good.yaml", "--namespace-labels", "prod-payments=env=staging"},
			out:  []string{"Deployment prod-payments/web", "admitted"},
		},
		"a List, generateName and warn mode": {
			args: []string{"-f", "testdata/check/manifests/mixed.yaml", "--config", "testdata/check/gateway.yaml"},
			exit: 1,
			out: []string{
				"CronJob shop/report", `container "report" image "registry.example.com/shop/report:latest" uses the tag latest`,
				"Pod default/debug-*", `"busybox" has no tag or digest`,
				"Deployment dev-alice/tool", "warned",
			},
		},
		"a directory, with -n for objects that name no namespace": {
			args: []string{"-f", "testdata/check/manifests", "-n", "shop"},
			exit: 1,
			out:  []string{"Pod shop/debug-*", "Deployment prod-payments/web"},
		},
		"--namespace-labels pick a binding": {
			args: []string{"-f", "testdata/check/manifests/mixed.yaml", "--config", "testdata/check/gateway.yaml", "--namespace-labels", "dev-alice=team=tools"},
			exit: 1,
			out:  []string{"warned"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := runCommand(t, append([]string{"check"}, tc.args...)...)
			if got := exitOf(err); got != tc.exit {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tc.exit, out)
			}
			for _, s := range tc.out {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestCheckUnreadableInputExits2(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"broken YAML":            {"-f", "testdata/check/broken.yaml"},
		"a missing file":         {"-f", "testdata/check/nope.yaml"},
		"an invalid config":      {"-f", "testdata/check/manifests/good.yaml", "--config", "testdata/check/bad-gateway.yaml"},
		"bad --namespace-labels": {"-f", "testdata/check/manifests/good.yaml", "--namespace-labels", "prod"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := runCommand(t, append([]string{"check"}, args...)...)
			if got := exitOf(err); got != 2 {
				t.Fatalf("exit %d (%v), want 2\n%s", got, err, out)
			}
			if strings.Contains(out, "goroutine ") {
				t.Errorf("printed a stack trace:\n%s", out)
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	out, err := runCommand(t, "check", "-f", "testdata/check/manifests/mixed.yaml", "-o", "json")
	if exitOf(err) != 1 {
		t.Fatalf("exit %v, want 1", err)
	}
	var results []checkResult
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, out)
	}
	if len(results) != 3 {
		t.Fatalf("%d results, want 3 (CronJob, Pod, Deployment)", len(results))
	}
	// The embedded defaults enforce everywhere but dev-* (warn).
	wantAllowed := map[string]bool{"CronJob shop/report": false, "Pod default/debug-*": false, "Deployment dev-alice/tool": true}
	for _, r := range results {
		want, ok := wantAllowed[r.Object]
		if !ok {
			t.Errorf("unexpected object %s", r.Object)
			continue
		}
		if r.Decision.Allowed != want || len(r.Decision.Reasons) == 0 || r.Decision.Reasons[0].Code != "latest-tag" {
			t.Errorf("%s: allowed=%v reasons=%v, want allowed=%v with a latest-tag reason", r.Object, r.Decision.Allowed, r.Decision.Reasons, want)
		}
	}
}

// runCommand runs the root command with args, returning stdout.
func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func exitOf(err error) int {
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	default:
		return -1
	}
}
