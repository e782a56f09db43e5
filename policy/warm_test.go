package policy

import (
	"sync"
	"testing"
	"time"
)

// TestWarmStackPanicReachesCaller: a panic on a warm goroutine is raised
// again on the caller's, and the warm goroutine survives it.
func TestWarmStackPanicReachesCaller(t *testing.T) {
	for range 2 * warmGoroutines { // every warm goroutine panics at least once if taken
		func() {
			defer func() {
				if v := recover(); v != "boom" {
					t.Fatalf("recovered %v, want the evaluation's panic", v)
				}
			}()
			onWarmStack(func() { panic("boom") })
			t.Fatal("onWarmStack returned after its function panicked")
		}()
	}
	ran := false
	onWarmStack(func() { ran = true })
	if !ran {
		t.Fatal("the function did not run after the panics")
	}
}

// TestWarmStackNeverQueues: with every warm goroutine held by a slow
// evaluation, another evaluation runs at once on its caller's goroutine
// instead of waiting for one.
func TestWarmStackNeverQueues(t *testing.T) {
	onWarmStack(func() {}) // start the warm goroutines
	release := make(chan struct{})
	var held, holding sync.WaitGroup
	holding.Add(warmGoroutines)
	for range warmGoroutines {
		held.Add(1)
		go func() {
			defer held.Done()
			onWarmStack(func() { holding.Done(); <-release })
		}()
	}
	// Some of those may have run on their own goroutines (a warm one was
	// not idle yet); either way all are now holding.
	holding.Wait()
	done := make(chan struct{})
	go func() {
		onWarmStack(func() {})
		close(done)
	}()
	select { // with a queue it would wait for release, which comes after
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("an evaluation waited for a busy warm goroutine")
	}
	close(release)
	held.Wait()
}
