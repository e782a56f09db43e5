package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Latency is a run's latency distribution, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		i = max(0, min(i, len(s)-1))
		return ms(s[i])
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Latency{P50: q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999), Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s)))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Result is one run: a scenario against one target in one mode.
type Result struct {
	Scenario string `json:"scenario"`
	// Target is "shipgate", "opa" or "cosign".
	Target string `json:"target"`
	// Mode is "closed" (Clients workers), "open" (Rate requests/s) or, for
	// cosign, "sequential" (one image after another).
	Mode    string `json:"mode"`
	Clients int    `json:"clients,omitempty"`
	// Round numbers the closed-loop runs of a policy scenario, from 1,
	// when there are several (-rounds); 0 otherwise.
	Round int `json:"round,omitempty"`
	// DryRun marks a run whose requests were dry runs (cold): shipgate
	// decided them but wrote nothing.
	DryRun   bool    `json:"dry_run,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
	Protocol string  `json:"protocol,omitempty"`
	Seconds  float64 `json:"seconds"`
	// Requests sent (admission requests; images for cosign) and units
	// (rollouts, for mixed). Throughput and Latency count only the
	// requests answered with an admission: errors and denials are
	// counted apart.
	Requests int64 `json:"requests"`
	Units    int64 `json:"units,omitempty"`
	// Digests is how many new digests were verified (memory).
	Digests    int64   `json:"digests,omitempty"`
	Throughput float64 `json:"throughput"`
	Latency    Latency `json:"latency_ms"`
	Errors     int64   `json:"errors"`
	Denied     int64   `json:"denied"`
	Dropped    int64   `json:"dropped,omitempty"`
	FirstError string  `json:"first_error,omitempty"`
	// The server process (for cosign: all the cosign processes together).
	ServerCPUSeconds float64 `json:"server_cpu_seconds"`
	// ServerCPUMsPerRequest is CPU time per answered request.
	ServerCPUMsPerRequest float64 `json:"server_cpu_ms_per_request"`
	// ServerPeakRSSMiB is VmHWM over the run (reset at its start when the
	// kernel allows; PeakReset says whether it did) or, for cosign, the
	// largest maxrss of one process.
	ServerPeakRSSMiB float64 `json:"server_peak_rss_mib"`
	ServerRSSMiB     float64 `json:"server_rss_mib,omitempty"`
	PeakReset        bool    `json:"peak_reset"`
	// GCCycles is how many garbage collections the server completed
	// during the run, from its /metrics; -1 when it could not be read
	// (cosign, or a server without the metric).
	GCCycles int64 `json:"gc_cycles"`
	// RegistryRequests is how many HTTP requests the loopback registry
	// served during the run; RegistryHeads the manifest HEADs among them
	// (tag resolutions).
	RegistryRequests int64 `json:"registry_requests"`
	RegistryHeads    int64 `json:"registry_heads"`
	// RegistryByKind breaks the requests down: "HEAD manifest by tag", ….
	RegistryByKind map[string]int64 `json:"registry_by_kind,omitempty"`
	// KubeRequests is what the loopback API server served (owner, namespace
	// and service-account reads); KubeOwnerGets the owner GETs among them.
	KubeRequests  int64 `json:"kube_requests"`
	KubeOwnerGets int64 `json:"kube_owner_gets"`
	// KubeByKind breaks them down, with the TLS connections opened.
	KubeByKind map[string]int64 `json:"kube_by_kind,omitempty"`
	// HarnessCPUSeconds is this process's CPU during the run: the load
	// generator, and also the registry and the API stand-in it serves.
	HarnessCPUSeconds float64 `json:"harness_cpu_seconds"`
	// OtherCPUSeconds is what the rest of the machine used meanwhile
	// (other people's builds on a shared machine).
	OtherCPUSeconds float64 `json:"other_cpu_seconds"`
	// StealCPUSeconds is the CPU time the hypervisor took from this
	// machine's processors meanwhile, for other guests. The processes it
	// was taken from count it as their own, the server's CPU included.
	StealCPUSeconds float64 `json:"steal_cpu_seconds"`
	Load1           float64 `json:"load1"`
}

// Ratio compares shipgate with a peer on one scenario and mode.
type Ratio struct {
	Scenario string  `json:"scenario"`
	Mode     string  `json:"mode"`
	Peer     string  `json:"peer"`
	Thru     float64 `json:"throughput_ratio"`
	P99      float64 `json:"p99_ratio"`
	P50      float64 `json:"p50_ratio"`
}

// Report is the JSON file.
type Report struct {
	Started  time.Time         `json:"started"`
	Command  string            `json:"command"`
	Machine  string            `json:"machine"`
	Go       string            `json:"go"`
	Versions map[string]string `json:"versions"`
	Results  []Result          `json:"results"`
	Ratios   []Ratio           `json:"ratios"`
	Targets  []Target          `json:"targets"`
	Notes    []string          `json:"notes,omitempty"`
}

// Target is one target of the issue, checked against this run.
type Target struct {
	Name     string `json:"name"`
	Want     string `json:"want"`
	Got      string `json:"got"`
	Met      bool   `json:"met"`
	Measured bool   `json:"measured"`
}

// roundLabel is " #k" for the k-th of several rounds, else "".
func (r *Result) roundLabel() string {
	if r.Round == 0 {
		return ""
	}
	return fmt.Sprintf(" #%d", r.Round)
}

// ratios pairs every shipgate result with the peer results of the same
// scenario, mode and round. For cold the peer is cosign, compared per
// image.
func ratios(rs []Result) []Ratio {
	var out []Ratio
	for _, s := range rs {
		if s.Target != "shipgate" {
			continue
		}
		for _, p := range rs {
			if p.Target == "shipgate" || p.Scenario != s.Scenario || (p.Target != "cosign" && (p.Mode != s.Mode || p.Rate != s.Rate || p.Round != s.Round)) {
				continue
			}
			mode := s.Mode
			if s.Mode == "open" {
				mode = fmt.Sprintf("R=%.0f/s", s.Rate)
			}
			if s.DryRun {
				mode += " dry"
			}
			mode += s.roundLabel()
			out = append(out, Ratio{Scenario: s.Scenario, Mode: mode, Peer: p.Target,
				Thru: div(s.Throughput, p.Throughput), P99: div(s.Latency.P99, p.Latency.P99), P50: div(s.Latency.P50, p.Latency.P50)})
		}
	}
	return out
}

// median is the middle of xs (the mean of the two middle values for an
// even count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// printTable writes the results and ratios as aligned text.
func printTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\tmode\treq/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terr\tsrv CPU s\tCPU ms/req\tpeak RSS MiB\tGCs\treg req\treg/req\tapi req\tharness CPU s\tother CPU s\tsteal s\t")
	for _, r := range rep.Results {
		mode := r.Mode
		switch r.Mode {
		case "closed":
			mode = fmt.Sprintf("C=%d", r.Clients)
		case "open":
			mode = fmt.Sprintf("R=%.0f/s", r.Rate)
			if !sustained(&r) {
				mode += "!"
			}
		}
		if r.DryRun {
			mode += " dry"
		}
		mode += r.roundLabel()
		errs := fmt.Sprint(r.Errors + r.Denied + r.Dropped)
		gcs := "—"
		if r.GCCycles >= 0 {
			gcs = fmt.Sprint(r.GCCycles)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%.2f\t%.3f\t%.1f\t%s\t%d\t%.2f\t%d\t%.2f\t%.2f\t%.2f\t\n",
			r.Scenario, r.Target, mode, r.Throughput, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max,
			errs, r.ServerCPUSeconds, r.ServerCPUMsPerRequest, r.ServerPeakRSSMiB, gcs, r.RegistryRequests,
			div(float64(r.RegistryRequests), float64(max(r.Units, r.Requests))), r.KubeRequests, r.HarnessCPUSeconds, r.OtherCPUSeconds, r.StealCPUSeconds)
	}
	tw.Flush()
	if len(rep.Ratios) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "shipgate / peer\tmode\tpeer\tthroughput ×\tp50 ×\tp99 ×\t")
		for _, r := range rep.Ratios {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t\n", r.Scenario, r.Mode, r.Peer, r.Thru, r.P50, r.P99)
		}
		tw.Flush()
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w)
		for _, t := range rep.Targets {
			mark := "MET "
			switch {
			case !t.Measured:
				mark = "n/a "
			case !t.Met:
				mark = "MISS"
			}
			fmt.Fprintf(w, "%s  %-58s want %-28s got %s\n", mark, t.Name, t.Want, t.Got)
		}
	}
	if slices.ContainsFunc(rep.Results, func(r Result) bool { return r.Mode == "open" && !sustained(&r) }) {
		fmt.Fprintln(w, "\nR=…! marks an open-loop run that did not keep up with its rate (errors, or under 95 % answered): its latency is queueing.")
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", strings.TrimSpace(n))
	}
}
