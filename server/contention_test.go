package server

import (
	"math"
	"testing"
)

// TestContended: the share of scheduling events between two reads of the
// histogram that waited contentionWait (500 µs) or longer decides, at
// contentionShare (20 %); events before the first read do not count.
func TestContended(t *testing.T) {
	buckets := []float64{0, 1e-4, 5e-4, 1e-3, math.Inf(1)} // [0,100µs) [100µs,500µs) [500µs,1ms) [1ms,∞)
	for name, tc := range map[string]struct {
		prev, now []uint64
		want      bool
	}{
		"nothing scheduled":                        {[]uint64{5, 5, 5, 5}, []uint64{5, 5, 5, 5}, false},
		"every wait short":                         {[]uint64{0, 0, 0, 0}, []uint64{900, 100, 0, 0}, false},
		"19 % long":                                {[]uint64{0, 0, 0, 0}, []uint64{700, 110, 100, 90}, false},
		"20 % long":                                {[]uint64{0, 0, 0, 0}, []uint64{700, 100, 100, 100}, true},
		"a third long, in the top bucket":          {[]uint64{0, 0, 0, 0}, []uint64{200, 0, 0, 100}, true},
		"long waits only before the previous read": {[]uint64{0, 0, 500, 500}, []uint64{900, 100, 500, 500}, false},
		"long waits only since the previous read":  {[]uint64{900, 100, 0, 0}, []uint64{900, 100, 30, 0}, true},
	} {
		if got := contended(tc.prev, tc.now, buckets); got != tc.want {
			t.Errorf("%s: contended = %v, want %v", name, got, tc.want)
		}
	}
}

// TestContentionReadsTheScheduler: Busy reads the runtime's histogram (a
// first read has nothing to compare with, so it says not busy) and keeps
// its answer for a period.
func TestContentionReadsTheScheduler(t *testing.T) {
	c := newContention()
	if c.Busy() {
		t.Error("the first read said busy: it has no earlier read to compare with")
	}
	if len(c.prev) == 0 {
		t.Fatal("Busy kept no counts: /sched/latencies:seconds was not read")
	}
	at := c.at
	c.Busy()
	if c.at != at {
		t.Error("a second call within the period read the histogram again")
	}
}
