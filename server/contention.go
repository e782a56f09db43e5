package server

import (
	"runtime/metrics"
	"sync"
	"time"
)

// contention tells whether this process is short of CPU: whether, over the
// last period, a good share of its goroutines that were ready to run
// waited long for a thread. The audit log's writer only holds a batch
// open for more records (audit.WithCommitDelay) when it is: then the CPU a
// transaction and an fsync per record cost is what admissions queue for,
// and sharing them is worth a few milliseconds; with CPU to spare it is
// not, and the writer commits at once.
type contention struct {
	mu     sync.Mutex
	at     time.Time
	busy   bool
	prev   []uint64
	sample []metrics.Sample
}

const (
	// contentionPeriod is how often the scheduler's histogram is read.
	contentionPeriod = 100 * time.Millisecond
	// contentionWait and contentionShare: contended when at least
	// contentionShare of the goroutines scheduled in the last period had
	// waited contentionWait or longer.
	contentionWait  = 500 * time.Microsecond
	contentionShare = 0.2
)

func newContention() *contention {
	return &contention{sample: []metrics.Sample{{Name: "/sched/latencies:seconds"}}}
}

// Busy reports whether the CPU was contended over the last period; it reads
// the runtime's scheduling latencies at most once a period.
func (c *contention) Busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.at) < contentionPeriod {
		return c.busy
	}
	c.at = now
	metrics.Read(c.sample)
	if c.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return false
	}
	h := c.sample[0].Value.Float64Histogram()
	c.busy = len(c.prev) == len(h.Counts) && contended(c.prev, h.Counts, h.Buckets)
	c.prev = append(c.prev[:0], h.Counts...)
	return c.busy
}

// contended reports whether, between two reads of the scheduler's latency
// histogram (counts per bucket; bucket i is [buckets[i], buckets[i+1])
// seconds), at least contentionShare of the goroutines scheduled had
// waited contentionWait or longer.
func contended(prev, counts []uint64, buckets []float64) bool {
	var all, long uint64
	for i, n := range counts {
		d := n - prev[i]
		all += d
		if buckets[i] >= contentionWait.Seconds() {
			long += d
		}
	}
	return all > 0 && float64(long) >= contentionShare*float64(all)
}
