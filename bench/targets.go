package main

import (
	"fmt"
	"strings"
)

// The targets.
const (
	targetRate       = 1000.0 // pod-warm's fixed rate, requests per second
	rolloutTarget    = 2000.0 // durable rollout admissions per second on SQLite
	coldMedianTarget = 8.0    // ms per new image
	coldVsCosign     = 10.0   // times faster than the cosign CLI
	memoryTargetMiB  = 150.0  // peak RSS after memoryDigestsTarget digests
	memoryDigestsFor = 100000
	// distinctTags is the number of distinct tag references in a rollout
	// Deployment: the registry may be asked once for each.
	distinctTags = 2
)

// targets checks the targets against the results.
func targets(rs []Result, o *options) []Target {
	find := func(scenario, target, mode string) *Result {
		for i := range rs {
			r := &rs[i]
			if r.Scenario == scenario && r.Target == target && r.Mode == mode && !r.DryRun && (mode != "open" || r.Rate == targetRate) {
				return r
			}
		}
		return nil
	}
	var out []Target
	add := func(name, want string, measured bool, met bool, got string) {
		out = append(out, Target{Name: name, Want: want, Got: got, Met: measured && met, Measured: measured})
	}

	if pairs := closedPairs(rs, podWarm, "opa"); len(pairs) > 0 {
		var xs []float64
		var each []string
		clean := true
		for _, p := range pairs {
			xs = append(xs, div(p[0].Throughput, p[1].Throughput))
			each = append(each, fmt.Sprintf("%.2f× (%.0f vs %.0f)", xs[len(xs)-1], p[0].Throughput, p[1].Throughput))
			clean = clean && p[0].Errors+p[0].Denied == 0
		}
		m := median(xs)
		got := each[0] + " req/s"
		if len(pairs) > 1 {
			got = fmt.Sprintf("%.2f×, the median of %d rounds: %s req/s", m, len(pairs), strings.Join(each, ", "))
		}
		add(fmt.Sprintf("pod-warm closed-loop (C=%d) throughput vs OPA", pairs[0][0].Clients), "≥ 1.00×", clean, m >= 1, got)
	} else {
		add("pod-warm closed-loop throughput vs OPA", "≥ 1.00×", false, false, "not run")
	}
	sg, opa := find(podWarm, "shipgate", "open"), find(podWarm, "opa", "open")
	if sg != nil && opa != nil {
		got := fmt.Sprintf("%.2f ms vs %.2f ms (%.2f×)", sg.Latency.P99, opa.Latency.P99, div(sg.Latency.P99, opa.Latency.P99))
		// A rate OPA itself cannot sustain here compares two queues, not
		// two servers: that is not a measurement of the target.
		measured := sustained(opa)
		if !measured {
			got += fmt.Sprintf("; OPA sustained only %.0f of %.0f req/s, so the rate is beyond this machine now", opa.Throughput, opa.Rate)
		} else if !sustained(sg) {
			got += fmt.Sprintf("; shipgate sustained only %.0f of %.0f req/s", sg.Throughput, sg.Rate)
		}
		add(fmt.Sprintf("pod-warm p99 at %.0f req/s vs OPA", sg.Rate), "≤ OPA's p99", measured,
			sustained(sg) && sg.Errors+sg.Denied+sg.Dropped == 0 && sg.Latency.P99 <= opa.Latency.P99, got)
	} else {
		add(fmt.Sprintf("pod-warm p99 at %.0f req/s vs OPA", targetRate), "≤ OPA's p99", false, false, fmt.Sprintf("not run (-rate %.0f)", targetRate))
	}
	if runs := closedRuns(rs, rollout, "shipgate"); len(runs) > 0 {
		var xs []float64
		var reqs, regs, heads int64
		clean := true
		for _, r := range runs {
			xs = append(xs, r.Throughput)
			reqs, regs, heads = reqs+r.Requests, regs+r.RegistryRequests, heads+r.RegistryHeads
			clean = clean && r.Errors+r.Denied == 0
		}
		m := median(xs)
		got := fmt.Sprintf("%.0f/s (C=%d)", m, runs[0].Clients)
		if len(runs) > 1 {
			got = fmt.Sprintf("%.0f/s (C=%d), the median of %d rounds", m, runs[0].Clients, len(runs))
		}
		add("rollout durable admissions/s (SQLite)", fmt.Sprintf("≥ %.0f/s", rolloutTarget), clean, m >= rolloutTarget, got)
		per := div(float64(regs), float64(reqs))
		add("rollout registry requests per admission", fmt.Sprintf("≤ %d (one per distinct tag)", distinctTags), reqs > 0,
			per <= distinctTags, fmt.Sprintf("%.2f (%d HEAD of %d requests)", per, heads, regs))
	} else {
		add("rollout durable admissions/s (SQLite)", fmt.Sprintf("≥ %.0f/s", rolloutTarget), false, false, "not run")
	}
	sg, cs := find(cold, "shipgate", "closed"), find(cold, "cosign", "sequential")
	if sg != nil {
		add(fmt.Sprintf("cold median per new image (C=%d)", sg.Clients), fmt.Sprintf("≤ %.0f ms", coldMedianTarget), sg.Errors+sg.Denied == 0,
			sg.Latency.P50 <= coldMedianTarget, fmt.Sprintf("%.2f ms", sg.Latency.P50))
		if cs != nil {
			x := div(cs.Latency.P50, sg.Latency.P50)
			add("cold vs cosign verify + verify-attestation", fmt.Sprintf("≥ %.0f× faster", coldVsCosign), true,
				x >= coldVsCosign, fmt.Sprintf("%.0f× (%.1f ms vs %.2f ms median)", x, cs.Latency.P50, sg.Latency.P50))
		}
	} else {
		add("cold median per new image", fmt.Sprintf("≤ %.0f ms", coldMedianTarget), false, false, "not run")
	}
	if r := find(memory, "shipgate", "closed"); r != nil {
		measured := r.Digests >= memoryDigestsFor && r.Errors+r.Denied == 0
		add(fmt.Sprintf("peak RSS after %d digests", memoryDigestsFor), fmt.Sprintf("≤ %.0f MiB", memoryTargetMiB), measured,
			r.ServerPeakRSSMiB <= memoryTargetMiB, fmt.Sprintf("%.1f MiB after %d digests", r.ServerPeakRSSMiB, r.Digests))
	} else {
		add(fmt.Sprintf("peak RSS after %d digests", memoryDigestsFor), fmt.Sprintf("≤ %.0f MiB", memoryTargetMiB), false, false,
			fmt.Sprintf("not run (-scenarios memory -memory-digests %d)", o.memoryDigests))
	}
	if r := find(memoryAgain, "shipgate", "closed"); r != nil {
		add("memory: first digests admitted again, still cached", "0 registry requests", r.Requests > 0 && r.Errors+r.Denied == 0,
			r.RegistryRequests == 0, fmt.Sprintf("%d registry requests for %d digests, p50 %.2f ms per admission", r.RegistryRequests, 5*r.Requests, r.Latency.P50))
	}
	return out
}

// closedRuns are target's closed-loop runs of scenario, dry runs aside,
// in the order run (one per round).
func closedRuns(rs []Result, scenario, target string) []*Result {
	var out []*Result
	for i := range rs {
		if r := &rs[i]; r.Scenario == scenario && r.Target == target && r.Mode == "closed" && !r.DryRun {
			out = append(out, r)
		}
	}
	return out
}

// closedPairs pairs shipgate's closed-loop runs of scenario with peer's
// of the same round.
func closedPairs(rs []Result, scenario, peer string) [][2]*Result {
	var out [][2]*Result
	peers := closedRuns(rs, scenario, peer)
	for _, s := range closedRuns(rs, scenario, "shipgate") {
		for _, p := range peers {
			if p.Round == s.Round {
				out = append(out, [2]*Result{s, p})
				break
			}
		}
	}
	return out
}

// sustained says whether an open-loop run kept up with its rate: nearly
// every scheduled request answered, without errors.
func sustained(r *Result) bool {
	return r.Errors+r.Denied+r.Dropped == 0 && r.Throughput >= 0.95*r.Rate
}
