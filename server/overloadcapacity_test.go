package server

import (
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/webhook"
)

// TestTwiceCapacityIsShedNotQueued: the server's capacity is measured in
// a closed loop (as many clients as webhook.maxInFlight, each sending its
// next admission when the last is answered), then twice that rate is
// offered in an open loop, whatever the answers. Every request must get an
// HTTP 200 AdmissionReview, admitted or shed with a 429; some must be shed
// and some admitted; the admissions judged at once never exceed
// webhook.maxInFlight; the heap stays within a bound; the server is
// healthy afterwards and judges the next admission. Nothing is timed:
// latencies are logged, not asserted (this machine is shared).
func TestTwiceCapacityIsShedNotQueued(t *testing.T) {
	// One connection carrying everything isolates the in-flight gate; the
	// default bound of requests per connection makes Go's client (the API
	// server's) reconnect in the middle of the overload, which is what a
	// cluster sees.
	for name, perConnection := range map[string]int{
		"one connection":                 100000000,
		"a connection closed every 1000": 1000,
	} {
		t.Run(name, func(t *testing.T) { twiceCapacity(t, perConnection) })
	}
}

func twiceCapacity(t *testing.T, perConnection int) {
	const (
		// limit is webhook.maxInFlight. Each admitted rollout waits its
		// turn at the SQLite writer: while a rollout's record was a
		// transaction of its own (before d39c09a), 16 under the race
		// detector on a busy two-core machine queued some past their
		// deadline (503, "audit store unavailable"). The gate must fit
		// the store's write rate inside the deadline, here as in a
		// cluster.
		limit = 8
		// pace is a registry round trip: what makes an admission take
		// time without CPU, so the gate, not the CPU, sets capacity.
		pace = 20 * time.Millisecond
		// closed is the closed loop's admissions per client.
		closed = 40
		// offeredFor is how long twice the capacity is offered.
		offeredFor = 3 * time.Second
		// heapBound bounds the heap's growth over the overload. The load
		// holds a few hundred requests at once, each a few tens of KiB
		// between client, TLS and server; 64 MiB is several times that.
		heapBound = 64 << 20
	)
	pv := &pacedVerifier{pace: pace}
	r := startWith(t, configFile(t, gatewayEnforce+fmt.Sprintf("webhook: {maxInFlight: %d, maxRequestsPerConnection: %d}\n", limit, perConnection)), webhook.WithVerifier(pv))
	client := patient(r.client)
	var uids atomic.Int64
	send := func() answer {
		return admit(client, r.base+"/validate?timeout=10s", pinnedDeployment(t, fmt.Sprintf("load-%d", uids.Add(1))))
	}
	var fails failures
	type tally struct{ admitted, shed atomic.Int64 }
	classify := func(a answer, c *tally) {
		switch {
		case a.err != nil:
			fails.add("%v", a.err)
		case a.resp.Allowed:
			c.admitted.Add(1)
		case a.resp.Result != nil && a.resp.Result.Code == http.StatusTooManyRequests:
			c.shed.Add(1)
		case a.resp.Result != nil:
			fails.add("neither admitted nor shed: %d %s", a.resp.Result.Code, a.resp.Result.Message)
		default:
			fails.add("refused with no status")
		}
	}

	// Capacity: limit clients in a closed loop, once to warm up (the
	// store's first pages, TLS sessions), once measured.
	var warm, measured tally
	var wg sync.WaitGroup
	loop := func(n int, c *tally) {
		for range limit {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n {
					classify(send(), c)
				}
			}()
		}
		wg.Wait()
	}
	loop(closed/4, &warm)
	start := time.Now()
	loop(closed, &measured)
	capacity := float64(measured.admitted.Load()) / time.Since(start).Seconds()
	if capacity <= 0 {
		t.Fatalf("the closed loop admitted nothing (%d shed, %d failed)", measured.shed.Load(), fails.n)
	}

	// Twice that, offered whatever the answers.
	rate := 2 * capacity
	total := int(rate * offeredFor.Seconds())
	var (
		offered   tally
		latencyMu sync.Mutex
		latencies []time.Duration
		heapPeak  uint64
	)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapBase := ms.HeapInuse
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampling:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heapPeak = max(heapPeak, ms.HeapInuse)
			}
		}
	}()
	start = time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	for launched := 0; launched < total; {
		<-tick.C
		due := min(total, int(rate*time.Since(start).Seconds()))
		for ; launched < due; launched++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				began := time.Now()
				a := send()
				took := time.Since(began)
				classify(a, &offered)
				if a.err == nil && a.resp.Allowed {
					latencyMu.Lock()
					latencies = append(latencies, took)
					latencyMu.Unlock()
				}
			}()
		}
	}
	tick.Stop()
	offeredRate := float64(total) / time.Since(start).Seconds()
	wg.Wait()
	close(sampling)
	<-sampled

	fails.check(t, int64(limit*(closed+closed/4)+total))
	admitted, shed := offered.admitted.Load(), offered.shed.Load()
	if admitted+shed != int64(total) {
		t.Errorf("%d admitted and %d shed of %d offered", admitted, shed, total)
	}
	if shed == 0 || admitted == 0 {
		t.Errorf("at twice the capacity %d were admitted and %d shed, want some of each", admitted, shed)
	}
	if most := pv.most.Load(); most > limit {
		t.Errorf("%d admissions were judged at once, more than webhook.maxInFlight %d", most, limit)
	}
	if growth := int64(heapPeak) - int64(heapBase); growth > heapBound {
		t.Errorf("the heap grew by %d MiB under overload, more than %d MiB", growth>>20, heapBound>>20)
	}
	if got := get(t, r.client, r.base+"/healthz"); got != "ok" {
		t.Errorf("/healthz after the overload: %q", got)
	}
	if a := send(); a.err != nil || !a.resp.Allowed {
		t.Errorf("the admission after the overload: %+v %v, want judged and admitted", a.resp, a.err)
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(p*float64(len(latencies)-1))].Round(time.Millisecond)
	}
	t.Logf("closed loop of %d: %d admitted, %d shed, capacity %.0f/s; offered %d at %.0f/s: %d admitted, %d shed, %d failed; at most %d judged at once (limit %d); heap %d MiB before, peak %d MiB; admitted latency p50 %v p99 %v max %v (logged, not asserted)",
		limit, measured.admitted.Load(), measured.shed.Load(), capacity, total, offeredRate, admitted, shed, fails.n,
		pv.most.Load(), limit, heapBase>>20, heapPeak>>20, pct(0.5), pct(0.99), pct(1))
}
