package policy

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestReloadUnderConcurrentEvaluations swaps policy 100 times while
// evaluations run, and checks every evaluation against the decision of the
// revision it reports: none may fail, and none may mix an old cluster
// policy with a new namespace policy or show a half-built revision.
func TestReloadUnderConcurrentEvaluations(t *testing.T) {
	t.Parallel()
	const ns = "team-a"
	cluster := func(tag string, approvers int) *Bundle {
		return bundleOf(map[string]string{"production.rego": fmt.Sprintf(`package shipgate.production
deny contains "cluster %[1]s" if input.request.kind.kind == "Pod"
require_approval := {"approvers": %[2]d, "groups": ["release-managers"], "reason": "%[1]s"}
`, tag, approvers)})
	}
	namespace := func(tag string) *Bundle {
		return bundleOf(map[string]string{"ns.rego": fmt.Sprintf(`package shipgate.namespaces["team-a"]
warn contains "namespace %s"
`, tag)})
	}
	type state struct {
		cluster, ns *Bundle
		deny, warn  string
		approvers   int
	}
	states := []state{
		{cluster("A", 2), namespace("a"), "production: cluster A", "shipgate.namespaces.team-a: namespace a", 2},
		{cluster("B", 3), namespace("b"), "production: cluster B", "shipgate.namespaces.team-a: namespace b", 3},
		{cluster("A", 2), namespace("b"), "production: cluster A", "shipgate.namespaces.team-a: namespace b", 2},
		{cluster("B", 3), namespace("a"), "production: cluster B", "shipgate.namespaces.team-a: namespace a", 3},
	}
	want := map[string]state{} // by Result.Revision
	for _, s := range states {
		want[s.cluster.Digest()[:12]+"+"+s.ns.Digest()[:12]] = s
	}

	e := mustEngine(t, states[0].cluster, map[string]*Bundle{ns: states[0].ns})
	input, err := (&Input{Review: podReview(ns, "app:1.0")}).Value()
	if err != nil {
		t.Fatal(err)
	}

	var (
		stop     atomic.Bool
		evals    atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		seen     = map[string]int{}
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string]int{}
			for !stop.Load() {
				res, err := e.Evaluate(t.Context(), ns, []string{"production"}, input)
				evals.Add(1)
				if err != nil {
					fail("evaluation failed during a swap: %v", err)
					continue
				}
				s, ok := want[res.Revision]
				if !ok {
					fail("unknown revision %q", res.Revision)
					continue
				}
				local[res.Revision]++
				if !slices.Equal(msgs(res.Deny), []string{s.deny}) || !slices.Equal(msgs(res.Warn), []string{s.warn}) ||
					len(res.RequireApproval) != 1 || res.RequireApproval[0].Approvers != s.approvers {
					fail("revision %s decided %+v, want deny %q warn %q approvers %d", res.Revision, res, s.deny, s.warn, s.approvers)
				}
			}
			mu.Lock()
			for k, v := range local {
				seen[k] += v
			}
			mu.Unlock()
		}()
	}
	for i := range 100 {
		s := states[(i+1)%len(states)]
		if err := e.Update(s.cluster, map[string]*Bundle{ns: s.ns}); err != nil {
			t.Errorf("swap %d: %v", i, err)
		}
		// Let evaluations run on this revision before the next swap.
		for n := evals.Load(); evals.Load() < n+4; {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(seen) != len(states) {
		t.Errorf("evaluations saw %d revisions (%v), want all %d", len(seen), seen, len(states))
	}
	t.Logf("%d evaluations across 100 swaps: %v", evals.Load(), seen)
}

// BenchmarkUpdateNamespaces compiles cluster policy and 1,000 namespace
// bundles from nothing (the start of a server whose namespaces each have a
// policy ConfigMap), and reports the heap the compiled revision holds.
// Target (issue 4): under 2 s and 100 MiB.
func BenchmarkUpdateNamespaces(b *testing.B) {
	const n = 1000
	namespaces := make(map[string]*Bundle, n)
	for i := range n {
		ns := fmt.Sprintf("team-%04d", i)
		namespaces[ns] = bundleOf(map[string]string{ns + "/policy.rego": fmt.Sprintf(`package shipgate.namespaces[%q]

deny contains sprintf("container %%s needs a team label", [c.name]) if {
	some c in input.request.object.spec.template.spec.containers
	not input.request.object.metadata.labels.team
}

warn contains "no owner annotation" if not input.request.object.metadata.annotations.owner

require_approval := {"approvers": 1, "groups": [%q], "reason": "team rule"} if input.shipgate.workload.imagesChanged
`, ns, ns+"-leads")})
	}
	cluster := bundleOf(map[string]string{"production.rego": clusterDenyingLatest.Modules["production.rego"].Source})
	var heap uint64
	for b.Loop() {
		e, err := New(cluster, namespaces)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = ms.HeapAlloc
		runtime.KeepAlive(e)
		b.StartTimer()
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
}
