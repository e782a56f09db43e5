package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/shipgate/shipgate/policy"
)

// testFleet is a fleet with made-up digests: enough to build every
// scenario's requests without a registry.
func testFleet() *fleet {
	f := &fleet{host: "127.0.0.1:5000", digests: map[string]string{}}
	mk := func(repo, tag string, i int) pushed {
		p := pushed{ref: f.host + "/" + repo + ":" + tag, digest: fmt.Sprintf("sha256:%064x", i)}
		f.digests[p.ref] = p.digest
		return p
	}
	for i, v := range versions {
		f.app = append(f.app, mk("shop/checkout", v, i))
		f.proxy = append(f.proxy, mk("shop/envoy", proxyVersions[i], 100+i))
	}
	for i := range 5 {
		f.cold = append(f.cold, mk("shop/cold", fmt.Sprintf("build-%06d", i), 200+i))
	}
	return f
}

// TestScenarioRequests checks that every scenario sends well-formed
// AdmissionReviews with a fresh uid each, and that both shipgate's policy
// engine and the OPA peer's entry point admit them: a benchmark of
// denials would measure the wrong path.
func TestScenarioRequests(t *testing.T) {
	t.Parallel()
	f := testFleet()
	scenarios := map[string][][]*request{
		podWarm: podWarmUnits(f, 4),
		rollout: rolloutUnits(f, 4),
		mixed:   mixedUnits(f, 2, 3),
		cold:    append(coldUnits(f, "cold", false), coldUnits(f, "dry", true)...),
		memory:  memoryUnits(f.cold),
	}
	engine := testEngine(t)
	opa := testOPA(t)
	for name, units := range scenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, u := range units {
				for i, r := range u {
					body := r.withUID(nil, uint64(1000+i))
					var ar admissionv1.AdmissionReview
					if err := json.Unmarshal(body, &ar); err != nil || ar.Request == nil {
						t.Fatalf("%s: not an AdmissionReview: %v", r.what, err)
					}
					if got, want := string(ar.Request.UID), r.uidString(uint64(1000+i)); got != want {
						t.Errorf("%s: uid %q, want %q", r.what, got, want)
					}
					if dry := strings.HasSuffix(r.what, "(dry run)"); ar.Request.DryRun == nil || *ar.Request.DryRun != dry {
						t.Errorf("%s: dryRun %v, want %v", r.what, ar.Request.DryRun, dry)
					}
					res, err := engine.Evaluate(t.Context(), namespace, []string{"baseline", "shop"}, &policy.Input{Review: body})
					if err != nil {
						t.Fatalf("%s: shipgate policy: %v", r.what, err)
					}
					if len(res.Deny) > 0 {
						t.Errorf("%s: shipgate policy denies: %+v", r.what, res.Deny)
					}
					if allowed, msg := opaDecision(t, opa, body); !allowed {
						t.Errorf("%s: OPA entry point denies: %s", r.what, msg)
					}
				}
			}
		})
	}
	if n := len(scenarios[memory]); n != 1 {
		t.Errorf("5 images make %d memory units, want 1", n)
	}
	if n := len(scenarios[mixed][0]); n != 4+2*3 {
		t.Errorf("a mixed unit has %d requests, want %d", n, 4+2*3)
	}
}

func testEngine(t *testing.T) *policy.Engine {
	t.Helper()
	b := policy.NewBundle()
	for _, name := range []string{"baseline.rego", "shop.rego"} {
		src, err := policyFiles.ReadFile("policies/" + name)
		if err != nil {
			t.Fatal(err)
		}
		b.AddModule(name, string(src), policy.RegoAuto)
	}
	e, err := policy.New(b, nil, policy.WithStrictBuiltinErrors())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testOPA(t *testing.T) rego.PreparedEvalQuery {
	t.Helper()
	opts := []func(*rego.Rego){rego.Query("data.system.main")}
	for _, name := range []string{"baseline.rego", "shop.rego", "system.rego"} {
		src, err := policyFiles.ReadFile("policies/" + name)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, rego.Module(name, string(src)))
	}
	pq, err := rego.New(opts...).PrepareForEval(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return pq
}

func opaDecision(t *testing.T, pq rego.PreparedEvalQuery, body []byte) (bool, string) {
	t.Helper()
	var input any
	if err := json.Unmarshal(body, &input); err != nil {
		t.Fatal(err)
	}
	rs, err := pq.Eval(t.Context(), rego.EvalInput(input))
	if err != nil || len(rs) != 1 {
		t.Fatalf("evaluating data.system.main: %v (%d results)", err, len(rs))
	}
	b, _ := json.Marshal(rs[0].Expressions[0].Value)
	var a answer
	if err := json.Unmarshal(b, &a); err != nil || a.Response == nil {
		t.Fatalf("data.system.main is not an AdmissionReview: %s", b)
	}
	if a.Response.Allowed {
		return true, ""
	}
	return false, strings.TrimSpace(a.Response.Status.Message)
}

// TestUIDOf checks owner uids look like the API server's.
func TestUIDOf(t *testing.T) {
	t.Parallel()
	u := string(uidOf("ReplicaSet", namespace, "web-1"))
	if len(u) != 36 || strings.Count(u, "-") != 4 || u != string(uidOf("ReplicaSet", namespace, "web-1")) {
		t.Errorf("uidOf = %q: want a stable 36-character uid", u)
	}
}
