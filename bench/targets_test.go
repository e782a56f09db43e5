package main

import (
	"strings"
	"testing"
)

// roundsOf is closed-loop results of scenario, one per round, for each
// target: throughputs[target][k] is round k+1's.
func roundsOf(scenario string, throughputs map[string][]float64) []Result {
	var rs []Result
	for k := range throughputs["shipgate"] {
		for _, target := range []string{"shipgate", "opa"} {
			if k < len(throughputs[target]) {
				rs = append(rs, Result{Scenario: scenario, Target: target, Mode: "closed", Clients: 32, Round: k + 1,
					Throughput: throughputs[target][k], Requests: 1000, RegistryRequests: 100, RegistryHeads: 100})
			}
		}
	}
	return rs
}

func targetNamed(t *testing.T, ts []Target, prefix string) Target {
	t.Helper()
	for _, tg := range ts {
		if strings.HasPrefix(tg.Name, prefix) {
			return tg
		}
	}
	t.Fatalf("no target %q among %v", prefix, ts)
	return Target{}
}

// TestTargetsTakeTheMedianRound: the closed-loop targets are judged on the
// median of the rounds, each shipgate run against the peer's of the same
// round, not on one run, and not across rounds.
func TestTargetsTakeTheMedianRound(t *testing.T) {
	o := &options{memoryDigests: 100000}
	for _, tc := range []struct {
		name      string
		sg, opa   []float64
		met       bool
		ratioText string
	}{
		// Round 2's shipgate beats round 1's OPA, but each round is
		// compared with itself: 0.90, 1.10, 1.05 → 1.05.
		{"two of three ahead", []float64{450, 660, 630}, []float64{500, 600, 600}, true, "1.05×, the median of 3 rounds"},
		{"one of three ahead", []float64{450, 660, 570}, []float64{500, 600, 600}, false, "0.95×, the median of 3 rounds"},
	} {
		rs := roundsOf(podWarm, map[string][]float64{"shipgate": tc.sg, "opa": tc.opa})
		got := targetNamed(t, targets(rs, o), "pod-warm closed-loop")
		if got.Met != tc.met || !got.Measured || !strings.HasPrefix(got.Got, tc.ratioText) {
			t.Errorf("%s: %+v, want met=%v and %q", tc.name, got, tc.met, tc.ratioText)
		}
		if !strings.Contains(got.Got, "0.90× (450 vs 500)") {
			t.Errorf("%s: %q does not list round 1", tc.name, got.Got)
		}
	}

	// A round with errors leaves the target unmeasured.
	rs := roundsOf(podWarm, map[string][]float64{"shipgate": {700, 700, 700}, "opa": {600, 600, 600}})
	rs[2].Errors = 3
	if got := targetNamed(t, targets(rs, o), "pod-warm closed-loop"); got.Measured {
		t.Errorf("a round with errors: %+v, want unmeasured", got)
	}

	// rollout: the median shipgate round; registry requests over all rounds.
	rs = roundsOf(rollout, map[string][]float64{"shipgate": {2100, 1900, 2050}, "opa": {500, 500, 500}})
	rs[0].RegistryRequests = 7000
	got := targetNamed(t, targets(rs, o), "rollout durable")
	if !got.Met || !strings.HasPrefix(got.Got, "2050/s (C=32), the median of 3 rounds") {
		t.Errorf("rollout: %+v, want met with the median 2050/s", got)
	}
	if per := targetNamed(t, targets(rs, o), "rollout registry"); per.Met || !strings.HasPrefix(per.Got, "2.40 ") {
		t.Errorf("rollout registry requests: %+v, want 7,200 for 3,000 admissions, 2.40, missed", per)
	}

	// The ratio table pairs each round with its own.
	rats := ratios(roundsOf(podWarm, map[string][]float64{"shipgate": {450, 660}, "opa": {500, 600}}))
	if len(rats) != 2 || rats[0].Mode != "closed #1" || rats[0].Thru != 0.9 || rats[1].Mode != "closed #2" || rats[1].Thru != 1.1 {
		t.Errorf("ratios %+v, want round 1 at 0.90× and round 2 at 1.10×", rats)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}
