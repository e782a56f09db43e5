package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/policy"
)

// decisionRego is the decision document the OPA server is asked for: the
// three outputs of the 50-rule set, as shipgate's engine queries them, so
// OPA evaluates the same rules and not every helper of the package.
const decisionRego = `package shipgate.decision

import data.shipgate.bench

result := {
	"deny": bench.deny,
	"warn": bench.warn,
	"require_approval": [a | a := bench.require_approval],
}
`

// BenchmarkPolicyVsOPAServer decides one Deployment admission with the
// 50-rule policy set of policy/testdata/bench: the AdmissionReview of
// policy/testdata/deployment-review.json (an UPDATE, about 12 KB) with the
// facts of policy/testdata/bench-facts.json.
//
//   - shipgate: the policy engine in process, from the review's bytes:
//     building the input (Input.Value) and evaluating — what /validate
//     spends on policy per admission.
//   - opa-server: `opa run --server` built from the OPA module version
//     go.mod requires (as the harness builds it, kept in bench/.cache),
//     plain HTTP on loopback with keep-alive, log level error, POST of
//     {"input": …} to /v1/data/shipgate/decision/result — its HTTP,
//     JSON and evaluation.
//
// Both run closed-loop with GOMAXPROCS concurrent callers; ns/op is the
// inverse of throughput. p50-ns and p99-ns are of single decisions;
// cpu-µs/op is the CPU the deciding process used per decision (for the
// OPA server its own process; the HTTP client's CPU is not counted). The
// first call of each checks both decide the same.
//
//	go test -run '^$' -bench PolicyVsOPAServer -benchtime 5s ./bench/
func BenchmarkPolicyVsOPAServer(b *testing.B) {
	root, err := moduleRoot()
	if err != nil {
		b.Fatal(err)
	}
	testdata := filepath.Join(root, "policy", "testdata")
	review, err := os.ReadFile(filepath.Join(testdata, "deployment-review.json"))
	if err != nil {
		b.Fatal(err)
	}
	factsJSON, err := os.ReadFile(filepath.Join(testdata, "bench-facts.json"))
	if err != nil {
		b.Fatal(err)
	}
	in := &policy.Input{Review: review}
	if err := json.Unmarshal(factsJSON, &in.Shipgate); err != nil {
		b.Fatal(err)
	}
	bundle, err := policy.LoadDir(filepath.Join(testdata, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	engine, err := policy.New(bundle, nil, policy.WithStrictBuiltinErrors())
	if err != nil {
		b.Fatal(err)
	}
	opa, url := startPlainOPA(b, root, bundle)
	defer opa.stop(5 * time.Second)

	// The OPA request: the review with input.shipgate, as shipgate's
	// engine sees it.
	var doc map[string]any
	if err := json.Unmarshal(review, &doc); err != nil {
		b.Fatal(err)
	}
	var facts any
	if err := json.Unmarshal(factsJSON, &facts); err != nil {
		b.Fatal(err)
	}
	doc["shipgate"] = facts
	body, err := json.Marshal(map[string]any{"input": doc})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()

	decideShipgate := func(ctx context.Context) (string, error) {
		res, err := engine.Evaluate(ctx, "prod-shop", []string{"bench"}, in)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("deny %d warn %d approvals %d", len(res.Deny), len(res.Warn), len(res.RequireApproval)), nil
	}
	decideOPA := func(ctx context.Context) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("OPA answered %s: %s %v", resp.Status, raw, err)
		}
		var out struct {
			Result struct {
				Deny            []any `json:"deny"`
				Warn            []any `json:"warn"`
				RequireApproval []any `json:"require_approval"`
			} `json:"result"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return "", fmt.Errorf("reading OPA's answer %s: %w", raw, err)
		}
		r := out.Result
		return fmt.Sprintf("deny %d warn %d approvals %d", len(r.Deny), len(r.Warn), len(r.RequireApproval)), nil
	}

	want, err := decideShipgate(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if want != "deny 0 warn 0 approvals 1" {
		b.Fatalf("shipgate decided %s; the benchmark's Deployment should pass every rule but ask for one approval", want)
	}
	if got, err := decideOPA(b.Context()); err != nil || got != want {
		b.Fatalf("OPA decided %q (%v), shipgate %q", got, err, want)
	}

	b.Run("shipgate", func(b *testing.B) {
		measureDecisions(b, decideShipgate, selfCPU)
	})
	b.Run("opa-server", func(b *testing.B) {
		measureDecisions(b, decideOPA, func() time.Duration {
			d, _ := procCPU(opa.pid())
			return d
		})
	})
}

// startPlainOPA writes the bundle's modules and decisionRego to a
// directory and serves it with `opa run --server` on loopback HTTP. It
// returns the server and the URL of the decision.
func startPlainOPA(b *testing.B, root string, bundle *policy.Bundle) (*server, string) {
	b.Helper()
	v, err := moduleVersion(root, opaModule)
	if err != nil {
		b.Fatal(err)
	}
	bin, err := goInstall(filepath.Join(root, "bench", ".cache", "bin"), "opa", opaModule, v)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	policies := filepath.Join(dir, "policies")
	if err := os.MkdirAll(policies, 0o755); err != nil {
		b.Fatal(err)
	}
	files := map[string]string{"decision.rego": decisionRego}
	for name, m := range bundle.Modules {
		files[filepath.Base(name)] = m.Source
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(policies, name), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	s, err := startServer("opa", bin, []string{"run", "--server",
		"--addr", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "error", policies,
	}, filepath.Join(dir, "opa.log"))
	if err != nil {
		b.Fatal(err)
	}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := s.waitReady(b.Context(), s.base+"/health", 30*time.Second); err != nil {
		s.stop(time.Second)
		b.Fatal(err)
	}
	return s, s.base + "/v1/data/shipgate/decision/result"
}

// measureDecisions runs decide closed-loop from GOMAXPROCS goroutines and
// reports the median and 99th percentile of single decisions, and the CPU
// per decision that cpu (a process's CPU time) counted meanwhile.
func measureDecisions(b *testing.B, decide func(context.Context) (string, error), cpu func() time.Duration) {
	var mu sync.Mutex
	var all []time.Duration
	cpu0 := cpu()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			start := time.Now()
			_, err := decide(ctx)
			local = append(local, time.Since(start))
			if err != nil {
				b.Error(err)
				return
			}
		}
		mu.Lock()
		all = append(all, local...)
		mu.Unlock()
	})
	b.StopTimer()
	used := cpu() - cpu0
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	at := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
	b.ReportMetric(float64(used.Microseconds())/float64(len(all)), "cpu-µs/op")
}
