package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/policy"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/webhook"
	"github.com/shipgate/shipgate/workload/manifest"
)

const (
	evalDir     = "testdata/policy/eval/"
	evalGateway = evalDir + "gateway.yaml"
)

func TestPolicyEval(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		exit int
		out  []string // substrings of the output, in order
		not  []string
	}{
		"a policy denies: each message with its set and code, exit 1": {
			args: []string{"-f", evalDir + "app.yaml", "--config", evalGateway},
			exit: 1,
			out: []string{
				"Deployment shop/api (testdata/policy/eval/app.yaml:1): denied",
				"namespace shop, mode enforce, policy revision ", "sets: shop",
				"DENY      shop  -            replicas must be at least 2",
				"DENY      shop  SHOP-LIMITS  container sidecar has no memory limit",
				"WARN      shop  -            image registry.example.com/shop/api:1.4.2 is not verified",
				"APPROVAL  shop  -            2 approvers from release-managers: images change",
				"note: images were not verified (offline)",
			},
			not: []string{"ConfigMap", "container api has no memory limit"},
		},
		"nothing denied: allowed once approved, exit 0": {
			args: []string{"-f", evalDir + "good.yaml", "--config", evalGateway, "-n", "shop"},
			out:  []string{"Deployment shop/web (testdata/policy/eval/good.yaml:1): allowed once approved", "APPROVAL"},
			not:  []string{"DENY"},
		},
		"a denial in a warn namespace still exits 1, and says what admission does": {
			args: []string{"-f", evalDir + "one-replica.yaml", "--config", evalGateway, "-n", "dev-alice"},
			exit: 1,
			out:  []string{"Deployment dev-alice/tool", "denied (mode warn: admitted, the reasons returned as warnings)", "replicas must be at least 2"},
		},
		"--set and --policies without a config": {
			args: []string{"-f", evalDir + "one-replica.yaml", "--policies", evalDir + "policies", "--set", "shop"},
			exit: 1,
			out:  []string{"Deployment default/tool", "sets: shop", "replicas must be at least 2"},
		},
		"no set bound: nothing to evaluate": {
			args: []string{"-f", evalDir + "good.yaml", "--policies", evalDir + "policies"},
			out:  []string{"Deployment default/web", ": allowed", "sets: none"},
		},
		"an excluded namespace is not judged": {
			args: []string{"-f", evalDir + "good.yaml", "--config", evalGateway, "-n", "kube-system"},
			out:  []string{"Deployment kube-system/web", "not judged", "namespace kube-system is excluded"},
			not:  []string{"APPROVAL"},
		},
		"an unknown set fails the evaluation, as admission fails closed": {
			args: []string{"-f", evalDir + "good.yaml", "--config", evalGateway, "-n", "broken"},
			exit: 1,
			out:  []string{"policy evaluation failed", "ERROR", `evaluating policy set "nosuchset": unknown policy set`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := runCommand(t, append([]string{"policy", "eval"}, tc.args...)...)
			if got := exitOf(err); got != tc.exit {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tc.exit, out)
			}
			policyWantInOrder(t, out, tc.out)
			for _, s := range tc.not {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestPolicyEvalExplain(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		// The rule that raised the message: entered at its head, its
		// body evaluated line by line.
		"full": {
			"trace of shop (--explain full):",
			"query:1", "Enter deny = [d | d = data.shipgate.shop.deny]",
			"testdata/policy/eval/policies/shop.rego:6", "Enter data.shipgate.shop.deny",
			"testdata/policy/eval/policies/shop.rego:7", "Eval c = data.shipgate.shop.containers[",
			"testdata/policy/eval/policies/shop.rego:8", "Eval not c.resources.limits.memory",
			"testdata/policy/eval/policies/shop.rego:9", `Eval sprintf("container %s has no memory limit"`,
			"testdata/policy/eval/policies/shop.rego:6", "Exit data.shipgate.shop.deny",
		},
		// Only the failures and the path to them: the api container has
		// its memory limit.
		"fails": {
			"trace of shop (--explain fails):",
			"testdata/policy/eval/policies/shop.rego:6", "Enter data.shipgate.shop.deny",
			"testdata/policy/eval/policies/shop.rego:8", "Fail not c.resources.limits.memory",
		},
		"notes": {"trace of shop (--explain notes):", "(no events kept)"},
	}
	for mode, want := range tests {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			out, err := runCommand(t, "policy", "eval", "-f", evalDir+"app.yaml", "--config", evalGateway, "--explain", mode)
			if exitOf(err) != 1 {
				t.Fatalf("exit %v, want 1\n%s", err, out)
			}
			policyWantInOrder(t, out, want)
			if mode == "fails" && strings.Contains(out, "Eval sprintf") {
				t.Errorf("--explain fails kept evaluations that did not fail:\n%s", out)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		out, _ := runCommand(t, "policy", "eval", "-f", evalDir+"app.yaml", "--config", evalGateway, "--explain", "full", "-o", "json")
		var results []evalResult
		if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 1 {
			t.Fatalf("-o json: %v\n%s", err, out)
		}
		ex := results[0].Explanation
		if len(ex) != 1 || ex[0].Set != "shop" || !strings.Contains(strings.Join(ex[0].Trace, "\n"), "Enter data.shipgate.shop.deny") {
			t.Errorf("explanation %+v lacks the trace of shop's deny", ex)
		}
	})

	t.Run("an unknown mode", func(t *testing.T) {
		t.Parallel()
		_, err := runCommand(t, "policy", "eval", "-f", evalDir+"app.yaml", "--explain", "debug")
		if err == nil || !strings.Contains(err.Error(), "want full, notes, fails") {
			t.Errorf("err %v, want the modes listed", err)
		}
	})
}

func TestPolicyEvalJSON(t *testing.T) {
	t.Parallel()
	out, err := runCommand(t, "policy", "eval", "-f", evalDir+"app.yaml", "--config", evalGateway, "-o", "json")
	if exitOf(err) != 1 {
		t.Fatalf("exit %v, want 1\n%s", err, out)
	}
	var results []evalResult
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, out)
	}
	if len(results) != 1 {
		t.Fatalf("%d results, want the Deployment alone", len(results))
	}
	r := results[0]
	wantDeny := []evalMessage{
		{Set: "shop", Msg: "replicas must be at least 2"},
		{Set: "shop", Code: "SHOP-LIMITS", Msg: "container sidecar has no memory limit"},
	}
	if fmt.Sprint(r.Deny) != fmt.Sprint(wantDeny) {
		t.Errorf("deny %+v, want %+v", r.Deny, wantDeny)
	}
	if len(r.Warn) != 2 || len(r.RequireApproval) != 1 || r.RequireApproval[0].Approvers != 2 || r.ImagesVerified {
		t.Errorf("warn %+v, approval %+v, imagesVerified %v", r.Warn, r.RequireApproval, r.ImagesVerified)
	}
	var in struct {
		Request struct {
			Operation string `json:"operation"`
		} `json:"request"`
		Shipgate policy.Facts `json:"shipgate"`
	}
	if err := json.Unmarshal(r.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in.Request.Operation != "CREATE" || in.Shipgate.Workload.Class != "rollout" || len(in.Shipgate.Images) != 2 || in.Shipgate.Images[0].Verified {
		t.Errorf("input %s", r.Input)
	}
}

func TestPolicyEvalUnreadableInputExits2(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"broken YAML":                 {"-f", "testdata/check/broken.yaml", "--config", evalGateway},
		"a missing manifest":          {"-f", evalDir + "nope.yaml", "--config", evalGateway},
		"an invalid config":           {"-f", evalDir + "app.yaml", "--config", "testdata/check/bad-gateway.yaml"},
		"a policy that does not load": {"-f", evalDir + "app.yaml", "--config", evalGateway, "--policies", evalDir + "broken"},
		"a missing policy directory":  {"-f", evalDir + "app.yaml", "--policies", evalDir + "nope"},
		"bad --namespace-labels":      {"-f", evalDir + "app.yaml", "--namespace-labels", "shop"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := runCommand(t, append([]string{"policy", "eval"}, args...)...)
			if got := exitOf(err); got != 2 {
				t.Fatalf("exit %d (%v), want 2\n%s", got, err, out)
			}
		})
	}
}

// TestPolicyEvalProductionSecrets evaluates the example production policy
// on a Deployment with secrets in env values: each is denied by name, and
// no message, in the table or in JSON, repeats the value.
func TestPolicyEvalProductionSecrets(t *testing.T) {
	t.Parallel()
	secrets := []string{"AKIAIOSFODNN7EXAMPLE", "MHcCAQEEIBkg4LVWM9nuwNSk3yBxRJlBRZNMJSR9Yq5LXRGVxUBFoAoGCCqGSM49", "q8Zr2LmX9vT4pK7wN3bY6cH1"}
	out, err := runCommand(t, "policy", "eval", "-f", evalDir+"secrets.yaml", "--policies", "../../policies", "--set", "production")
	if exitOf(err) != 1 {
		t.Fatalf("exit %v, want 1\n%s", err, out)
	}
	for _, want := range []string{
		"SG-PROD-SECRET  container api: env AWS_ACCESS_KEY_ID holds what looks like an AWS access key",
		"SG-PROD-SECRET  container api: env TLS_KEY holds what looks like a PEM key or certificate",
		"SG-PROD-SECRET  container api: env SESSION holds what looks like a high-entropy token",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "LOG_LEVEL") {
		t.Errorf("an ordinary value was denied:\n%s", out)
	}
	jsonOut, _ := runCommand(t, "policy", "eval", "-f", evalDir+"secrets.yaml", "--policies", "../../policies", "--set", "production", "-o", "json")
	var results []evalResult
	if err := json.Unmarshal([]byte(jsonOut), &results); err != nil || len(results) != 1 {
		t.Fatalf("-o json: %v\n%s", err, jsonOut)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the table repeats the secret %q:\n%s", s, out)
		}
		for _, m := range results[0].Deny {
			if strings.Contains(m.Msg, s) {
				t.Errorf("deny message %q repeats the secret", m.Msg)
			}
		}
	}
}

// TestPolicyEvalInputIsWhatValidateBuilds evaluates a policy that denies
// with json.marshal(input), through `policy eval` and through the
// webhook's Validator on the same request: the two inputs must be equal,
// offline and with images verified.
func TestPolicyEvalInputIsWhatValidateBuilds(t *testing.T) {
	t.Parallel()
	imgs := signedtest.New(t)
	passed, _ := imgs.Push(t, "tools/report", "3.1.0", signer.TestsPassed)
	failed, _ := imgs.Push(t, "tools/fetch", "1.0.0", signer.TestsFailed)
	dir := t.TempDir()
	gateway := "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce}\nnamespaces:\n- match: {names: [inputs]}\n  trust: [test]\n  policies: [inputdump]\n" + imgs.TrustYAML(t, "test")
	cfgFile := filepath.Join(dir, "gateway.yaml")
	policyWriteFile(t, cfgFile, gateway)
	manifestFile := filepath.Join(dir, "cronjob.yaml")
	cronjob, err := os.ReadFile(evalDir + "inputs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policyWriteFile(t, manifestFile, strings.NewReplacer(
		"registry.example.com/tools/report:3.1.0", passed,
		"registry.example.com/tools/fetch@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", failed,
	).Replace(string(cronjob)))

	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := policy.LoadDir(evalDir + "policies")
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.New(b, nil, policy.WithStrictBuiltinErrors())
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifest.ReadPaths([]string{manifestFile})
	if err != nil {
		t.Fatal(err)
	}
	labels, err := namespaceLabels(objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := offlineRequest(1, &objs[1], "default")
	if err != nil {
		t.Fatal(err)
	}

	for name, verify := range map[string]bool{"offline": false, "--verify": true} {
		t.Run(name, func(t *testing.T) {
			opts := []webhook.Option{webhook.WithPolicy(engine), webhook.WithNamespaceLabels(labels), webhook.WithLogger(discardLogger())}
			args := []string{"policy", "eval", "-f", manifestFile, "--config", cfgFile, "--policies", evalDir + "policies", "-o", "json"}
			if verify {
				v, err := evalVerifier(cfg)
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, webhook.WithVerifier(v))
				args = append(args, "--verify")
			}
			d := webhook.NewValidator(func() *config.GatewayConfig { return cfg }, opts...).Decide(t.Context(), req)
			var want string
			for _, r := range d.Reasons {
				if r.Code == "policy:inputdump" {
					want = r.Message
				}
			}
			if want == "" {
				t.Fatalf("/validate did not evaluate the policy: %+v", d.Reasons)
			}

			out, _ := runCommand(t, args...)
			var results []evalResult
			if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 1 || len(results[0].Deny) != 1 {
				t.Fatalf("policy eval: %v\n%s", err, out)
			}
			if got := results[0].Deny[0].Msg; got != want {
				t.Errorf("policy eval's input differs from /validate's:\n eval:     %s\n validate: %s", got, want)
			}
			if results[0].ImagesVerified != verify {
				t.Errorf("imagesVerified %v, want %v", results[0].ImagesVerified, verify)
			}
			if verify && !strings.Contains(want, `"verified":true`) {
				t.Errorf("no image verified: %s", want)
			}
		})
	}
}

// TestPolicyEvalVerify shows the signer's verdict per image and lets the
// policy read it.
func TestPolicyEvalVerify(t *testing.T) {
	t.Parallel()
	imgs := signedtest.New(t)
	good, digest := imgs.Push(t, "shop/web", "1.4.2", signer.TestsPassed)
	failing, _ := imgs.Push(t, "shop/web", "1.4.3", signer.TestsFailed)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "gateway.yaml")
	policyWriteFile(t, cfgFile, "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce}\nnamespaces:\n- match: {names: [shop]}\n  trust: [test]\n  policies: [shop]\n"+imgs.TrustYAML(t, "test"))
	src, err := os.ReadFile(evalDir + "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		image string
		out   []string
		not   []string
	}{
		"a signed, tested image": {image: good, out: []string{"allowed once approved", "image " + good + ": verified, " + digest}, not: []string{"is not verified", "note: images were not verified"}},
		"an image whose tests failed": {image: failing, out: []string{
			"WARN", "image " + failing + " is not verified",
			"image " + failing + ": not verified: ",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := filepath.Join(t.TempDir(), "web.yaml")
			policyWriteFile(t, m, strings.ReplaceAll(string(src), "registry.example.com/shop/web:1.4.2", tc.image))
			out, err := runCommand(t, "policy", "eval", "-f", m, "--config", cfgFile, "--policies", evalDir+"policies", "-n", "shop", "--verify")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			policyWantInOrder(t, out, tc.out)
			for _, s := range tc.not {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
		})
	}
}

// policyWantInOrder checks that each of want appears in out after the one
// before it.
func policyWantInOrder(t *testing.T, out string, want []string) {
	t.Helper()
	rest := out
	for _, s := range want {
		i := strings.Index(rest, s)
		if i < 0 {
			t.Errorf("output lacks %q (in order):\n%s", s, out)
			return
		}
		rest = rest[i+len(s):]
	}
}

func policyWriteFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
