package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// benchInput is the Deployment admission of testdata/deployment-review.json
// (an UPDATE changing two images, about 12 KB) with the facts shipgate
// would add.
func benchInput(tb testing.TB) *Input {
	tb.Helper()
	review, err := os.ReadFile("testdata/deployment-review.json")
	if err != nil {
		tb.Fatal(err)
	}
	image := func(ref, digest string) ImageFacts {
		return ImageFacts{
			Ref: ref, Normalized: ref, Tag: "2.7.1", Digest: digest,
			Containers: []string{"checkout"}, TrustPolicy: "company", Verified: true,
			Authorities: []string{"release-key"},
			Attestations: []AttestationFacts{{
				PredicateType: "https://in-toto.io/attestation/test-result/v0.1",
				Authority:     "ci-key",
				Predicate:     json.RawMessage(`{"result":"PASSED","configuration":[{"name":"ci.yml"}],"passedTests":["unit","integration"]}`),
				SignedAt:      "2026-11-26T10:00:00Z",
			}},
			Errors: []string{},
		}
	}
	return &Input{Review: review, Shipgate: Facts{
		Namespace: NamespaceFacts{Name: "prod-shop", Labels: map[string]string{"env": "prod", "kubernetes.io/metadata.name": "prod-shop"}},
		Workload: WorkloadFacts{Kind: "Deployment", Name: "checkout", Class: "rollout",
			TemplateHash: "sha256:5b1c4a7e", Fingerprint: "sha256:9f86d081", ImagesChanged: true},
		Images: []ImageFacts{
			image("registry.example.com/shop/checkout:2.7.1", "sha256:1111111111111111111111111111111111111111111111111111111111111111"),
			image("registry.example.com/shop/checkout-migrate:2.7.1", "sha256:2222222222222222222222222222222222222222222222222222222222222222"),
			image("ghcr.io/example/envoy:1.31.2", "sha256:3333333333333333333333333333333333333333333333333333333333333333"),
		},
		Approval: ApprovalFacts{State: "none", Approvers: []string{}},
	}}
}

func benchEngine(tb testing.TB) *Engine {
	tb.Helper()
	b, err := LoadDir("testdata/bench")
	if err != nil {
		tb.Fatal(err)
	}
	return mustEngine(tb, b, nil)
}

// TestBenchPolicyDecision checks the benchmark measures a real decision:
// the compliant Deployment passes all 50 rules but the approval, and a
// change to it trips the rules it should.
func TestBenchPolicyDecision(t *testing.T) {
	t.Parallel()
	e := benchEngine(t)
	in := benchInput(t)
	res, err := e.Evaluate(t.Context(), "prod-shop", []string{"bench"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deny) != 0 || len(res.Warn) != 0 || len(res.RequireApproval) != 1 {
		t.Errorf("compliant Deployment: deny %q, warn %q, approvals %+v; want only one approval", msgs(res.Deny), msgs(res.Warn), res.RequireApproval)
	}

	var review map[string]any
	if err := json.Unmarshal(in.Review, &review); err != nil {
		t.Fatal(err)
	}
	spec := review["request"].(map[string]any)["object"].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	c := spec["containers"].([]any)[0].(map[string]any)
	c["image"] = "docker.io/library/nginx:latest"
	delete(c, "readinessProbe")
	c["securityContext"].(map[string]any)["privileged"] = true
	spec["hostNetwork"] = true
	bad := *in
	bad.Review, _ = json.Marshal(review)
	res, err = e.Evaluate(t.Context(), "prod-shop", []string{"bench"}, &bad)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"bench: container checkout: image docker.io/library/nginx:latest is from an unapproved registry",
		"bench: container checkout: image docker.io/library/nginx:latest uses latest",
		"bench: container checkout: no readiness probe",
		"bench: container checkout: privileged",
		"bench: hostNetwork is forbidden",
	}
	if got := msgs(res.Deny); !slices.Equal(got, want) {
		t.Errorf("non-compliant Deployment: deny = %q, want %q", got, want)
	}
}

// BenchmarkEvaluate evaluates the 50-rule set of testdata/bench for one
// Deployment admission. "review" includes parsing the 12 KB review and the
// facts into OPA's value, as every request does; "parsed" is evaluation
// alone. p99-ns is the 99th percentile of single evaluations.
func BenchmarkEvaluate(b *testing.B) {
	e := benchEngine(b)
	in := benchInput(b)
	parsed, err := in.Value()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		input any
	}{{"review", in}, {"parsed", parsed}} {
		b.Run(bc.name, func(b *testing.B) {
			durations := make([]time.Duration, 0, b.N)
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				res, err := e.Evaluate(ctx, "prod-shop", []string{"bench"}, bc.input)
				durations = append(durations, time.Since(start))
				if err != nil || len(res.Deny) != 0 {
					b.Fatalf("Evaluate = %+v, %v", res, err)
				}
			}
			slices.Sort(durations)
			b.ReportMetric(float64(durations[len(durations)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkPlainOPA is the baseline: the same policy and input through
// OPA's rego package with its defaults, querying the three rules directly,
// as an OPA server would be asked. The ratio to BenchmarkEvaluate/parsed is
// what the engine's wrapping costs.
func BenchmarkPlainOPA(b *testing.B) {
	src, err := os.ReadFile("testdata/bench/bench.rego")
	if err != nil {
		b.Fatal(err)
	}
	in := benchInput(b)
	parsed, err := in.Value()
	if err != nil {
		b.Fatal(err)
	}
	pq, err := rego.New(
		rego.Module("bench.rego", string(src)),
		rego.Query("deny := data.shipgate.bench.deny; warn := data.shipgate.bench.warn; appr := data.shipgate.bench.require_approval"),
	).PrepareForEval(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		rs, err := pq.Eval(b.Context(), rego.EvalParsedInput(parsed))
		durations = append(durations, time.Since(start))
		if err != nil || len(rs) != 1 {
			b.Fatalf("Eval = %v, %v", rs, err)
		}
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkInputValue is the per-request cost of building the input: the
// 12 KB review and the facts into one OPA value, against OPA's own
// ast.ValueFromReader for the review alone.
func BenchmarkInputValue(b *testing.B) {
	in := benchInput(b)
	b.Run("Input.Value", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := in.Value(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ast.ValueFromReader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ast.ValueFromReader(bytes.NewReader(in.Review)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
