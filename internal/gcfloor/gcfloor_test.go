package gcfloor

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	tests := map[string]struct {
		live, floor uint64
		want        int
	}{
		"no collection yet": {0, 64 * mib, 100},
		"half the floor live: GOGC=100 already gets there":      {32 * mib, 64 * mib, 100},
		"more live than the floor":                              {200 * mib, 64 * mib, 100},
		"a quarter of the floor live: the goal is the floor":    {16 * mib, 64 * mib, 300},
		"6 MiB live, as serving bare Pods":                      {6 * mib, 64 * mib, 966},
		"a tiny heap is held to the runtime's minimum":          {1 * mib, 64 * mib, 1600},
		"a small floor: the runtime's minimum caps the percent": {1 * mib, 6 * mib, 150},
		"a floor at the runtime's minimum changes nothing":      {1 * mib, 4 * mib, 100},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Percent(tc.live, tc.floor); got != tc.want {
				t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.floor, got, tc.want)
			}
		})
	}
}

// gcState is the GC percent and heap goal the runtime is using.
func gcState(t *testing.T) (percent, goal uint64) {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// collect runs collections, at most 50, until done holds for the GC
// percent, and returns the percent: a Floor adjusts it on the cleanup
// goroutine after each collection.
func collect(t *testing.T, done func(percent uint64) bool) uint64 {
	t.Helper()
	var p uint64
	for range 50 {
		runtime.GC()
		runtime.Gosched()
		if p, _ = gcState(t); done(p) {
			break
		}
	}
	return p
}

func raised(p uint64) bool { return p > 100 }

// TestFloorFollowsTheLiveHeap runs a Floor in this test process: the heap
// goal is raised to the floor while the live heap is small, GOGC=100 comes
// back once the live heap passes half the floor, and Stop leaves it there.
// Not parallel: the GC percent is the process's.
func TestFloorFollowsTheLiveHeap(t *testing.T) {
	const floor = 64 << 20
	f := Start(floor, nil)
	defer f.Stop()

	collect(t, raised)
	p, goal := gcState(t)
	s := []metrics.Sample{{Name: liveMetric}}
	metrics.Read(s)
	live := s[0].Value.Uint64()
	if live >= floor/4 {
		t.Fatalf("the test's own live heap is %d bytes, too large for this test", live)
	}
	if want := uint64(Percent(live, floor)); p < want*9/10 || p > want*11/10 {
		t.Fatalf("GC percent with %d bytes live = %d, want about %d", live, p, want)
	}
	if goal < floor*9/10 {
		t.Errorf("heap goal with %d bytes live = %d, want at least about the floor, %d", live, goal, floor)
	}

	// 48 MiB held live: more than half the floor.
	big := make([][]byte, 48)
	for i := range big {
		big[i] = make([]byte, 1<<20)
	}
	if p := collect(t, func(p uint64) bool { return p == 100 }); p != 100 {
		t.Errorf("GC percent with 48 MiB live = %d, want 100", p)
	}
	runtime.KeepAlive(big)
	big = nil

	if p := collect(t, raised); !raised(p) {
		t.Errorf("GC percent after the 48 MiB were dropped = %d, want it raised again", p)
	}

	f.Stop()
	if p, _ := gcState(t); p != 100 {
		t.Errorf("GC percent after Stop = %d, want 100", p)
	}
	if p := collect(t, raised); p != 100 {
		t.Errorf("GC percent after Stop and 50 collections = %d, want 100", p)
	}
}

func TestZeroFloorDoesNothing(t *testing.T) {
	f := Start(0, nil)
	defer f.Stop()
	for range 3 {
		runtime.GC()
		runtime.Gosched()
	}
	if p, _ := gcState(t); p != 100 {
		t.Errorf("GC percent with no floor = %d, want 100", p)
	}
}
