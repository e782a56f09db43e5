package audit_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/internal/gcfloor"
	"github.com/shipgate/shipgate/store/storetest"
)

// BenchmarkAppend measures durable appends (each returns after its
// transaction commits) at 1, 16 and 64 concurrent writers, reporting
// records/s, the 50th and 99th percentile latency of one Append, and the
// garbage collections a second.
//
// It runs with the GC heap floor `shipgate serve` keeps by default, as the
// gateway's appends do, and like serve leaves it off when GOGC is set in
// the environment: GOGC=100 measures the runtime's default. At GOGC=100
// the test binary's small heap was collected some 40 times a second at 64
// writers, which the gateway never is (docs/performance.md).
func BenchmarkAppend(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		defer gcfloor.Start(gcfloor.Default, nil).Stop()
	}
	for _, d := range storetest.Dialects {
		for _, writers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", d, writers), func(b *testing.B) {
				db := storetest.Open(b, d)
				key := newKey(b, "shipgate.bench/append")
				l := newLog(b, db, audit.WithCheckpoints(key.signer, 1000, time.Minute))
				recs := make([]audit.Record, 256)
				for i := range recs {
					recs[i] = sample(i)
				}
				var next atomic.Int64
				lat := make([][]time.Duration, writers)
				var gc0, gc1 runtime.MemStats
				runtime.ReadMemStats(&gc0)
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							n := next.Add(1)
							if n > int64(b.N) {
								return
							}
							// As the webhook appends: the time is the append's
							// (records arrive in time order) and the uid is the
							// API server's, a random UUID.
							r := recs[n%int64(len(recs))]
							r.Time = time.Time{}
							r.RequestUID = randomUID()
							t0 := time.Now()
							if _, err := l.Append(b.Context(), r); err != nil {
								b.Error(err)
								return
							}
							lat[w] = append(lat[w], time.Since(t0))
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				runtime.ReadMemStats(&gc1)
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(len(all))/elapsed.Seconds(), "records/s")
					b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
					b.ReportMetric(float64(gc1.NumGC-gc0.NumGC)/elapsed.Seconds(), "gc/s")
				}
			})
		}
	}
}

// randomUID is a version 4 UUID, as the API server gives each
// AdmissionRequest.
func randomUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
