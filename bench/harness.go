package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/shipgate/shipgate/config"
)

// harness is one run of the suite: what it started and what it measured.
type harness struct {
	o        *options
	work     string // temporary directory
	reg      *testRegistry
	kube     *kubeAPI
	keys     *signers
	fleet    *fleet
	shipgate *server
	opa      *server
	cosign   *cosignPeer
	rep      *Report
}

// run sets everything up, runs the selected scenarios and returns the
// report; a report is returned with whatever was measured even on error.
func run(ctx context.Context, o *options) (*Report, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	if o.cacheDir == "" {
		o.cacheDir = filepath.Join(root, "bench", ".cache")
	}
	if o.out == "" {
		o.out = filepath.Join(o.cacheDir, "results.json")
	}
	work, err := os.MkdirTemp("", "shipgate-bench-")
	if err != nil {
		return nil, err
	}
	h := &harness{o: o, work: work, rep: &Report{
		Started:  time.Now().UTC(),
		Command:  "go run ./bench " + strings.Join(os.Args[1:], " "),
		Machine:  machine(),
		Go:       runtime.Version(),
		Versions: map[string]string{},
	}}
	defer h.close()
	if err := h.setup(ctx, root); err != nil {
		return h.rep, err
	}
	err = h.runScenarios(ctx)
	h.rep.Ratios = ratios(h.rep.Results)
	h.rep.Targets = targets(h.rep.Results, o)
	return h.rep, err
}

func (h *harness) close() {
	if h.shipgate != nil {
		h.shipgate.stop(10 * time.Second)
	}
	if h.opa != nil {
		h.opa.stop(5 * time.Second)
	}
	if h.kube != nil {
		h.kube.close()
	}
	if h.reg != nil {
		h.reg.close()
	}
	if h.o.keep {
		fmt.Fprintln(os.Stderr, "bench: kept", h.work)
	} else {
		os.RemoveAll(h.work)
	}
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// setup builds and starts everything the scenarios need.
func (h *harness) setup(ctx context.Context, root string) error {
	o := h.o
	bin := filepath.Join(o.cacheDir, "bin")
	var err error
	if o.shipgateBin == "" {
		h.logf("building shipgate from %s", root)
		if o.shipgateBin, err = buildShipgate(root, bin); err != nil {
			return err
		}
	}
	policyPeer := o.peers && (o.has(podWarm) || o.has(rollout) || o.has(mixed))
	if policyPeer && o.opaBin == "" {
		v, err := moduleVersion(root, opaModule)
		if err != nil {
			return err
		}
		h.rep.Versions["opa"] = v
		if o.opaBin, err = goInstall(bin, "opa", opaModule, v); err != nil {
			return err
		}
	}
	cosignPeerOn := o.peers && o.has(cold)
	if cosignPeerOn {
		if err := h.findCosign(root, bin); err != nil {
			return err
		}
	}

	if h.reg, err = startRegistry(); err != nil {
		return err
	}
	if h.keys, err = newSigners(); err != nil {
		return err
	}
	if err := h.pushFleet(ctx); err != nil {
		return err
	}
	h.kube = startKubeAPI()
	kubeconfig := filepath.Join(h.work, "kubeconfig")
	if err := h.kube.writeKubeconfig(kubeconfig); err != nil {
		return err
	}
	// The default: the memory scenario's digests are cached as a
	// deployment caches them, the most recent in memory and every one in
	// the store (memoryScenario checks they are answered from there).
	cacheSize := config.DefaultCacheSize
	sgDir := filepath.Join(h.work, "shipgate")
	if err := os.MkdirAll(sgDir, 0o755); err != nil {
		return err
	}
	if h.shipgate, err = startShipgate(ctx, o.shipgateBin, sgDir, h.reg.host, kubeconfig, o.logLevel, o.debugAddr, h.keys, cacheSize); err != nil {
		return err
	}
	if policyPeer {
		opaDir := filepath.Join(h.work, "opa")
		if err := os.MkdirAll(opaDir, 0o755); err != nil {
			return err
		}
		if h.opa, err = startOPA(ctx, o.opaBin, opaDir, o.logLevel); err != nil {
			return err
		}
	}
	if cosignPeerOn {
		if h.cosign, err = newCosignPeer(o.cosignBin, filepath.Join(h.work, "cosign"), h.keys); err != nil {
			return err
		}
	}
	// Verify every warm image once, and check that shipgate admits what the
	// scenarios send.
	c := newClient(h.shipgate, o.http1, 4)
	defer c.close()
	for _, u := range warmUnits(h.fleet) {
		for _, r := range u {
			if err := c.send(ctx, r); err != nil {
				return fmt.Errorf("warming shipgate's cache: %w", err)
			}
		}
	}
	return nil
}

// findCosign uses -cosign, or $(go env GOPATH)/bin/cosign when it is the
// version go.mod requires, or builds that version once into the cache.
func (h *harness) findCosign(root, bin string) error {
	want, err := moduleVersion(root, cosignModule)
	if err != nil {
		return err
	}
	h.rep.Versions["cosign"] = want
	if h.o.cosignBin == "" {
		h.o.cosignBin = os.Getenv("SHIPGATE_COSIGN") // as the tests find it
	}
	if h.o.cosignBin == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			gopath, _, _ := strings.Cut(strings.TrimSpace(string(out)), string(os.PathListSeparator))
			p := filepath.Join(gopath, "bin", "cosign")
			if v, err := cosignVersion(p); err == nil && v == want {
				h.o.cosignBin = p
			}
		}
	}
	if h.o.cosignBin == "" {
		if h.o.cosignBin, err = goInstall(bin, "cosign", cosignModule+"/cmd/cosign", want); err != nil {
			return err
		}
	}
	v, err := cosignVersion(h.o.cosignBin)
	if err != nil {
		return err
	}
	if v != want {
		return fmt.Errorf("%s is cosign %s, want %s (go.mod)", h.o.cosignBin, v, want)
	}
	return nil
}

// pushFleet pushes, signs and attests every image before anything is
// timed.
func (h *harness) pushFleet(ctx context.Context) error {
	start := time.Now()
	f := &fleet{host: h.reg.host, digests: map[string]string{}}
	var err error
	if f.app, err = h.reg.pushMany(ctx, h.keys, "shop/checkout", len(versions), 4, func(i int) string { return versions[i] }); err != nil {
		return err
	}
	if f.proxy, err = h.reg.pushMany(ctx, h.keys, "shop/envoy", len(proxyVersions), 4, func(i int) string { return proxyVersions[i] }); err != nil {
		return err
	}
	n := 0
	if h.o.has(cold) {
		n += h.o.coldPool
	}
	if h.o.has(memory) {
		n += h.o.memoryDigests
	}
	if n > 0 {
		h.logf("pushing %d signed and test-attested images for cold/memory", n)
		if f.cold, err = h.reg.pushMany(ctx, h.keys, "shop/cold", n, 4, func(i int) string { return fmt.Sprintf("build-%06d", i) }); err != nil {
			return err
		}
	}
	for _, p := range append(append([]pushed{}, f.app...), f.proxy...) {
		f.digests[p.ref] = p.digest
	}
	h.fleet = f
	h.logf("registry ready: %d images in %s", len(f.app)+len(f.proxy)+len(f.cold), time.Since(start).Round(time.Millisecond))
	return nil
}

// runScenarios runs each selected scenario against shipgate and its peer,
// closed-loop then open-loop, alternating targets so drift in the
// machine's load falls on both.
func (h *harness) runScenarios(ctx context.Context) error {
	o := h.o
	for _, s := range []string{podWarm, rollout, mixed, cold, memory} {
		if !o.has(s) || ctx.Err() != nil {
			continue
		}
		var err error
		switch s {
		case podWarm:
			err = h.policyScenario(ctx, s, podWarmUnits(h.fleet, 2048), 1)
		case rollout:
			err = h.policyScenario(ctx, s, rolloutUnits(h.fleet, 512), 1)
		case mixed:
			err = h.policyScenario(ctx, s, mixedUnits(h.fleet, 128, o.mixedPods), 4+2*o.mixedPods)
		case cold:
			err = h.coldScenario(ctx)
		case memory:
			err = h.memoryScenario(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return ctx.Err()
}

// policyScenario runs a scenario whose peer is the OPA server: closed
// loop, rounds times, shipgate and the peer alternated, then open loop at
// each rate.
func (h *harness) policyScenario(ctx context.Context, name string, pool [][]*request, perUnit int) error {
	targets := []*server{h.shipgate}
	if h.opa != nil {
		targets = append(targets, h.opa)
	}
	var closed []float64 // shipgate's closed-loop throughputs, for "auto"
	for round := 1; round <= h.o.rounds; round++ {
		for _, t := range targets {
			r := h.measure(ctx, name, t, &cycle{pool: pool}, perUnit, 0, h.o.clients, true)
			if h.o.rounds > 1 {
				r.Round = round
			}
			h.add(r)
			if t == h.shipgate {
				closed = append(closed, r.Throughput)
			}
		}
	}
	for _, rate := range h.o.rates {
		if rate == 0 {
			rate = max(1, math.Round(median(closed)/2))
		}
		for _, t := range targets {
			h.add(h.measure(ctx, name, t, &cycle{pool: pool}, perUnit, rate, h.o.clients, true))
		}
	}
	return nil
}

// add keeps a result and says it on the terminal.
func (h *harness) add(r Result) {
	h.rep.Results = append(h.rep.Results, r)
	mode := r.Mode
	if r.Mode == "open" {
		mode = fmt.Sprintf("R=%.0f", r.Rate)
	}
	if r.DryRun {
		mode += " dry"
	}
	mode += r.roundLabel()
	h.logf("%-8s %-8s %-7s %7.0f req/s  p50 %7.2f ms  p99 %8.2f ms  errors %d", r.Scenario, r.Target, mode, r.Throughput, r.Latency.P50, r.Latency.P99, r.Errors+r.Denied+r.Dropped)
	if r.FirstError != "" {
		h.logf("  first error: %s", r.FirstError)
	}
}

// coldScenario sends every request with a never-seen image to shipgate,
// then has the cosign CLI verify some of the same images.
func (h *harness) coldScenario(ctx context.Context) error {
	// Half the pool as the API server sends it, half as dry runs.
	half := h.o.coldPool / 2
	for i, dry := range []bool{false, true} {
		imgs := h.fleet.cold[i*half : (i+1)*half]
		pool := coldUnits(&fleet{cold: imgs, proxy: h.fleet.proxy}, fmt.Sprintf("cold%d", i), dry)
		r := h.measure(ctx, cold, h.shipgate, &once{pool: pool}, 1, 0, h.o.coldClients, false)
		r.DryRun = dry
		h.add(r)
		if r.Requests >= int64(len(pool)) {
			h.rep.Notes = append(h.rep.Notes, fmt.Sprintf("cold: the %d new images of the %s run ran out before %s; raise -cold-pool for a longer run",
				len(pool), map[bool]string{false: "durable", true: "dry"}[dry], h.o.duration))
		}
	}
	if h.cosign == nil {
		return nil
	}
	n := min(h.o.cosignImages, h.o.coldPool)
	res := Result{Scenario: cold, Target: "cosign", Mode: "sequential", Clients: 1, GCCycles: -1}
	var lat []time.Duration
	start := time.Now()
	reg0, heads0 := h.reg.counts()
	kinds0 := h.reg.kindCounts()
	for _, img := range h.fleet.cold[:n] {
		run, err := h.cosign.verifyImage(ctx, img.ref)
		if err != nil {
			return err
		}
		lat = append(lat, run.wall)
		res.ServerCPUSeconds += run.cpu.Seconds()
		res.ServerPeakRSSMiB = max(res.ServerPeakRSSMiB, float64(run.maxRSS)/(1<<20))
	}
	elapsed := time.Since(start)
	reg1, heads1 := h.reg.counts()
	res.Seconds = elapsed.Seconds()
	res.Requests = int64(n)
	res.Throughput = float64(n) / elapsed.Seconds()
	res.Latency = latencyOf(lat)
	res.ServerCPUMsPerRequest = res.ServerCPUSeconds * 1000 / float64(n)
	res.RegistryRequests, res.RegistryHeads = reg1-reg0, heads1-heads0
	res.RegistryByKind = map[string]int64{}
	for k, v := range h.reg.kindCounts() {
		if d := v - kinds0[k]; d > 0 {
			res.RegistryByKind[k] = d
		}
	}
	res.Load1 = loadAverage()
	h.rep.Results = append(h.rep.Results, res)
	h.logf("%-8s %-8s %-5s %7.1f img/s  p50 %6.1f ms (verify + verify-attestation)", cold, "cosign", res.Mode, res.Throughput, res.Latency.P50)
	return nil
}

// memoryScenario verifies memoryDigests new digests and reads shipgate's
// peak RSS over its whole life.
func (h *harness) memoryScenario(ctx context.Context) error {
	off := 0
	if h.o.has(cold) {
		off = h.o.coldPool
	}
	pool := memoryUnits(h.fleet.cold[off : off+h.o.memoryDigests])
	saved := h.o.duration
	h.o.duration = 24 * time.Hour // until the pool is used up
	r := h.measure(ctx, memory, h.shipgate, &once{pool: pool}, 1, 0, 4, false)
	h.o.duration = saved
	h.rep.Results = append(h.rep.Results, r)
	r.Digests = 5 * (r.Requests - r.Errors - r.Denied)
	h.rep.Results[len(h.rep.Results)-1] = r
	h.logf("%-8s shipgate %d digests verified in %d admissions: peak RSS %.1f MiB, RSS now %.1f MiB", memory, r.Digests, r.Requests, r.ServerPeakRSSMiB, r.ServerRSSMiB)
	if r.FirstError != "" {
		return errors.New(r.FirstError)
	}
	// The first digests verified are long out of the memory cache: admitted
	// again, they must come from the store, without a registry request.
	again := pool[:min(len(pool), memoryAgainUnits)]
	h.o.duration = 24 * time.Hour
	a := h.measure(ctx, memory, h.shipgate, &once{pool: again}, 1, 0, 4, false)
	h.o.duration = saved
	a.Scenario = memoryAgain
	h.rep.Results = append(h.rep.Results, a)
	h.logf("%-8s shipgate %d admissions of the first %d digests again: %d registry requests, p50 %.2f ms", memory, a.Requests, 5*a.Requests, a.RegistryRequests, a.Latency.P50)
	if a.FirstError != "" {
		return errors.New(a.FirstError)
	}
	return nil
}

// memoryAgainUnits is how many of the memory scenario's first Deployments
// are admitted again once the rest have pushed them out of the memory
// cache.
const memoryAgainUnits = 1000

// measure runs one scenario against one target, closed-loop or, when
// rate > 0, open-loop at rate, after an unmeasured warm-up when warm, and
// gathers what the processes used meanwhile.
func (h *harness) measure(ctx context.Context, name string, t *server, work units, perUnit int, rate float64, clients int, warm bool) Result {
	open := rate > 0
	c := newClient(t, h.o.http1, clients)
	defer c.close()
	runOnce := func(d time.Duration) *tally {
		if open {
			return openLoop(ctx, c, work, rate, perUnit, d)
		}
		return closedLoop(ctx, c, work, clients, d)
	}
	pid := t.pid()
	settle(ctx, pid)
	if warm && h.o.warmup > 0 {
		runOnce(h.o.warmup)
	}
	reset := name != memory && resetPeak(pid)
	gc0, gcOK := gcCycles(ctx, c.http, t)
	cpu0, _ := procCPU(pid)
	reg0, heads0 := h.reg.counts()
	kinds0 := h.reg.kindCounts()
	kubeKinds0 := h.kube.kindCounts()
	kube0, owners0 := h.kube.requests.Load(), h.kube.owners.Load()
	self0 := selfCPU()
	busy0, steal0 := machineCPU()
	start := time.Now()

	tl := runOnce(h.o.duration)

	elapsed := time.Since(start)
	busy1, steal1 := machineCPU()
	self1 := selfCPU()
	cpu1, _ := procCPU(pid)
	reg1, heads1 := h.reg.counts()
	rss, peak, _ := procMemory(pid)
	gc1, gcOK1 := gcCycles(ctx, c.http, t)

	r := Result{Scenario: name, Target: t.name, Mode: "closed", Clients: clients, PeakReset: reset, GCCycles: -1}
	if gcOK && gcOK1 {
		r.GCCycles = gc1 - gc0
	}
	if open {
		r.Mode, r.Clients, r.Rate = "open", 0, rate
	}
	if p, ok := c.proto.Load().(string); ok {
		r.Protocol = p
	}
	r.Seconds = elapsed.Seconds()
	r.Requests = int64(len(tl.latencies))
	r.Units = tl.units
	r.Throughput = float64(len(tl.ok)) / elapsed.Seconds()
	r.Latency = latencyOf(tl.ok)
	r.Errors, r.Denied, r.Dropped, r.FirstError = tl.errors, tl.denied, tl.dropped, tl.first
	r.ServerCPUSeconds = (cpu1 - cpu0).Seconds()
	r.ServerCPUMsPerRequest = div(r.ServerCPUSeconds*1000, float64(r.Requests))
	r.ServerPeakRSSMiB, r.ServerRSSMiB = float64(peak)/(1<<20), float64(rss)/(1<<20)
	r.RegistryRequests, r.RegistryHeads = reg1-reg0, heads1-heads0
	r.RegistryByKind = map[string]int64{}
	for k, v := range h.reg.kindCounts() {
		if d := v - kinds0[k]; d > 0 {
			r.RegistryByKind[k] = d
		}
	}
	r.KubeRequests, r.KubeOwnerGets = h.kube.requests.Load()-kube0, h.kube.owners.Load()-owners0
	r.KubeByKind = map[string]int64{}
	for k, v := range h.kube.kindCounts() {
		if d := v - kubeKinds0[k]; d > 0 {
			r.KubeByKind[k] = d
		}
	}
	r.HarnessCPUSeconds = (self1 - self0).Seconds()
	r.OtherCPUSeconds = max(0, (busy1-busy0).Seconds()-r.ServerCPUSeconds-r.HarnessCPUSeconds)
	r.StealCPUSeconds = (steal1 - steal0).Seconds()
	r.Load1 = loadAverage()
	return r
}

// machine describes the CPU and memory of this machine.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		var kb int64
		if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:")), "%d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %d GiB", (kb+(1<<19))>>20)
		}
	}
	return fmt.Sprintf("%d vCPU (%s)%s, %s/%s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH)
}

// settle waits until the server is idle (under 5 % of a core over a
// quarter second), at most 10 s: a server still working off the backlog
// of an earlier run that overloaded it would charge that work to the next.
func settle(ctx context.Context, pid int) {
	const window = 250 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		a, err := procCPU(pid)
		if err != nil {
			return
		}
		time.Sleep(window)
		b, err := procCPU(pid)
		if err != nil || b-a < window/20 {
			return
		}
	}
}
