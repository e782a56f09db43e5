package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// benchInput is the Deployment admission of testdata/deployment-review.json
// (an UPDATE changing two images, about 12 KB) with the facts shipgate
// would add (testdata/bench-facts.json: three verified, test-attested
// images). bench/ sends the same input to a plain OPA server.
func benchInput(tb testing.TB) *Input {
	tb.Helper()
	review, err := os.ReadFile("testdata/deployment-review.json")
	if err != nil {
		tb.Fatal(err)
	}
	facts, err := os.ReadFile("testdata/bench-facts.json")
	if err != nil {
		tb.Fatal(err)
	}
	in := &Input{Review: review}
	if err := json.Unmarshal(facts, &in.Shipgate); err != nil {
		tb.Fatal(err)
	}
	return in
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
			cpu := make([]time.Duration, 0, b.N)
			ctx := b.Context()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				cpu0, ok0 := threadCPU()
				// evaluate, not Evaluate: on this locked thread, not a
				// warm goroutine's, so the thread's CPU time is the
				// evaluation's (BenchmarkEvaluateFresh measures the hop).
				res, err := e.evaluate(ctx, "prod-shop", []string{"bench"}, bc.input, nil)
				cpu1, ok1 := threadCPU()
				durations = append(durations, time.Since(start))
				if ok0 && ok1 {
					cpu = append(cpu, cpu1-cpu0)
				}
				if err != nil || len(res.Deny) != 0 {
					b.Fatalf("Evaluate = %+v, %v", res, err)
				}
			}
			reportPercentiles(b, durations, cpu)
		})
	}
}

// BenchmarkEvaluateFresh evaluates as the server does, each admission on
// a goroutine of its own that starts with a small stack: "inline" on that
// goroutine (its stack grows, by copying, to what OPA's recursion needs),
// "warm" through Evaluate, which hands the evaluation to a goroutine whose
// stack has grown already.
func BenchmarkEvaluateFresh(b *testing.B) {
	e := benchEngine(b)
	parsed, err := benchInput(b).Value()
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	for _, bc := range []struct {
		name string
		eval func() (Result, error)
	}{
		{"inline", func() (Result, error) { return e.evaluate(ctx, "prod-shop", []string{"bench"}, parsed, nil) }},
		{"warm", func() (Result, error) { return e.Evaluate(ctx, "prod-shop", []string{"bench"}, parsed) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					done := make(chan error, 1)
					go func() {
						res, err := bc.eval()
						if err == nil && len(res.Deny) != 0 {
							err = fmt.Errorf("denied: %v", res.Deny)
						}
						done <- err
					}()
					if err := <-done; err != nil {
						b.Error(err)
						return
					}
				}
			})
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
	cpu := make([]time.Duration, 0, b.N)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		cpu0, ok0 := threadCPU()
		rs, err := pq.Eval(b.Context(), rego.EvalParsedInput(parsed))
		cpu1, ok1 := threadCPU()
		durations = append(durations, time.Since(start))
		if ok0 && ok1 {
			cpu = append(cpu, cpu1-cpu0)
		}
		if err != nil || len(rs) != 1 {
			b.Fatalf("Eval = %v, %v", rs, err)
		}
	}
	reportPercentiles(b, durations, cpu)
}

// reportPercentiles reports the median and 99th percentile of single
// operations, in wall time and in the CPU time of the evaluating thread
// (none when cpu is empty). On a machine shared with other work the wall
// time's 99th percentile is mostly the other work: read it with the load
// average, and the CPU time's beside it.
func reportPercentiles(b *testing.B, durations, cpu []time.Duration) {
	at := func(ds []time.Duration, q float64) float64 {
		slices.Sort(ds)
		return float64(ds[int(q*float64(len(ds)-1))].Nanoseconds())
	}
	b.ReportMetric(at(durations, 0.50), "p50-ns")
	b.ReportMetric(at(durations, 0.99), "p99-ns")
	if len(cpu) > 0 {
		b.ReportMetric(at(cpu, 0.50), "p50-cpu-ns")
		b.ReportMetric(at(cpu, 0.99), "p99-cpu-ns")
	}
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
	b.Run("without-oldObject", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := in.value(true); err != nil {
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

// BenchmarkFactsValue is the facts of BenchmarkInputValue's input (two
// verified images, each with a test-result attestation) as an OPA value:
// built directly, and through JSON as they once were.
func BenchmarkFactsValue(b *testing.B) {
	f := benchInput(b).Shipgate
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.value(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, err := json.Marshal(f)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := parseJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
