// Package gcfloor keeps the Go heap's collection goal at or above a floor.
//
// With GOGC=100 the runtime collects whenever the heap doubles its live
// data. shipgate's live heap under load is small (6–7 MB serving bare Pods:
// compiled policies, caches, connections) while each admission allocates
// some 280 KB, so it collected about 30 times a second, each cycle some 6 ms
// of CPU, and a third of the time ran with the write barrier on. A floor
// lets the heap grow to, say, 64 MiB before a collection while the live data
// is small; once the live data passes half the floor, GOGC=100 applies as
// before, so a large heap (a cache of 100,000 digests) gets no more headroom
// than it had.
//
// Go offers the opposite bound (GOMEMLIMIT, a ceiling) but no floor, so a
// Floor sets the GC percent after every collection from the live heap that
// collection found.
package gcfloor

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Default is the floor `shipgate serve` keeps unless --gc-heap-floor says
// otherwise: 64 MiB.
const Default = 64 << 20

// basePercent is the GC percent above the floor: Go's default.
const basePercent = 100

// heapMinimum is the runtime's least heap goal at GOGC=100, 4 MiB; it
// scales with the GC percent, so a percent above floor/heapMinimum × 100
// would raise the goal past the floor on its own.
const heapMinimum = 4 << 20

// liveMetric is the heap the last collection marked live.
const liveMetric = "/gc/heap/live:bytes"

// Floor adjusts the GC percent after each collection until Stop.
type Floor struct {
	floor  uint64
	logger *slog.Logger

	mu      sync.Mutex
	stopped bool
	percent int
	sample  []metrics.Sample
}

// sentinel is allocated for one collection to find unreachable; its
// cleanup runs after that collection. It holds a pointer so that the tiny
// allocator, whose blocks may outlive their objects, never places it.
type sentinel struct {
	_ *Floor
}

// Start keeps the heap goal at or above floor bytes from the next
// collection on. The caller leaves it off when the environment sets GOGC:
// an explicit GC percent is the operator's, and Start would overwrite it.
// A floor of 0 returns a Floor that does nothing.
func Start(floor uint64, logger *slog.Logger) *Floor {
	f := &Floor{floor: floor, logger: logger, percent: basePercent,
		sample: []metrics.Sample{{Name: liveMetric}}}
	if floor == 0 {
		f.stopped = true
		return f
	}
	f.arm()
	return f
}

// arm allocates the next sentinel.
func (f *Floor) arm() {
	runtime.AddCleanup(&sentinel{}, func(f *Floor) { f.collected() }, f)
}

// collected runs after a collection: it sets the percent for the live heap
// that collection found and arms for the next.
func (f *Floor) collected() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	metrics.Read(f.sample)
	var live uint64
	if f.sample[0].Value.Kind() == metrics.KindUint64 {
		live = f.sample[0].Value.Uint64()
	}
	if p := Percent(live, f.floor); p != f.percent {
		debug.SetGCPercent(p)
		if f.logger != nil {
			f.logger.Debug("GC percent set for the heap floor", "percent", p, "liveBytes", live, "floorBytes", f.floor)
		}
		f.percent = p
	}
	f.arm()
}

// Stop ends the adjustments and puts the GC percent back to 100.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	if f.percent != basePercent {
		debug.SetGCPercent(basePercent)
		f.percent = basePercent
	}
}

// Percent is the GC percent that makes the heap goal about floor for a
// live heap of live bytes, and never less than 100: the goal is live ×
// (1 + percent/100). It is at most floor/heapMinimum × 100, so that the
// runtime's minimum goal, which grows with the percent, stays within the
// floor. No live heap measured yet gives 100.
func Percent(live, floor uint64) int {
	if live == 0 || live >= floor/2 {
		return basePercent
	}
	limit := floor * 100 / heapMinimum
	p := (floor - live) * 100 / live
	if p > limit {
		p = limit
	}
	if p < basePercent {
		return basePercent
	}
	return int(p)
}
