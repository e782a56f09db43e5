package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/store/storetest"
)

// TestAwaitCallersWaitsForEveryAnswer: the writer goes on only once every
// caller it answered has taken its answer, or when the wait runs out.
func TestAwaitCallersWaitsForEveryAnswer(t *testing.T) {
	l := &Log{woken: make(chan struct{}, 1)}
	jobs := make([]*job, 3)
	for i := range jobs {
		jobs[i] = &job{done: make(chan result, 1)}
		l.answer(jobs[i], result{seq: uint64(i)})
	}
	take := func(j *job) {
		<-j.done
		l.took()
	}
	if l.awaitCallers(10 * time.Millisecond) {
		t.Fatal("awaitCallers reported every caller had taken its answer before any had")
	}
	take(jobs[0])
	take(jobs[1])
	if l.awaitCallers(10 * time.Millisecond) {
		t.Fatal("awaitCallers reported every caller had taken its answer with one still to")
	}
	// The last one takes its answer while the writer waits: the writer
	// is told, well before its wait of a minute runs out.
	go func() {
		time.Sleep(5 * time.Millisecond)
		take(jobs[2])
	}()
	if !l.awaitCallers(time.Minute) {
		t.Fatal("awaitCallers did not see the last caller take its answer")
	}
	// A later batch is counted afresh: the signal the last one left does
	// not end the next wait early.
	next := &job{done: make(chan result, 1)}
	l.answer(next, result{})
	if l.awaitCallers(10 * time.Millisecond) {
		t.Fatal("awaitCallers went on, on an earlier batch's signal, before the next batch's caller took its answer")
	}
	take(next)
	if !l.awaitCallers(time.Minute) || l.unwoken.Load() != 0 {
		t.Fatalf("after every answer was taken: %d answers still counted", l.unwoken.Load())
	}
}

// TestEveryAnswerIsCountedOnce: concurrent appends, some of whose callers
// give up while queued, at commit or after it, leave no answer counted as
// untaken, so the writer never waits on a caller that is gone.
func TestEveryAnswerIsCountedOnce(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			l, err := New(db)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var wg sync.WaitGroup
			var mu sync.Mutex
			outcomes := map[bool]int{}
			for w := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 40 {
						ctx, cancel := context.WithCancel(context.Background())
						if i%3 == 1 {
							// Cancelled after a delay from 0 to 2 ms: before,
							// during or after its batch, depending on the run.
							time.AfterFunc(time.Duration(i%7)*300*time.Microsecond, cancel)
						}
						r := Record{Event: EventAdmission, Kind: "Deployment", Namespace: "ns", Name: fmt.Sprintf("w%d-%d", w, i)}
						_, err := l.Append(ctx, r)
						cancel()
						mu.Lock()
						outcomes[err == nil]++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if outcomes[true] == 0 {
				t.Fatalf("no append succeeded: %v", outcomes)
			}
			if n := l.unwoken.Load(); n != 0 {
				t.Fatalf("after every Append returned, %d answers are counted as not yet taken (appended %d, gave up %d)", n, outcomes[true], outcomes[false])
			}
		})
	}
}
