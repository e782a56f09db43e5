package policy

import (
	"runtime"
	"sync"
)

// OPA evaluates by recursion, tens of frames per rule, so an evaluation
// needs a goroutine stack of some 100 KB. An admission arrives on a fresh
// goroutine (one per HTTP/2 stream) whose stack starts at a few KB and is
// copied, doubling, each time it runs out: under load that copying was 8 %
// of the gateway's CPU. Evaluations therefore run, when one is idle, on a
// few long-lived goroutines whose stacks have already grown; when all are
// busy, on the caller's own goroutine, so there is never a queue and never
// a wait for one: a slow evaluation (a network built-in) holds one warm
// goroutine, not the others' admissions.

// warmGoroutines is how many there are: two per processor, so every
// processor can have one running while another's caller is waking up.
var warmGoroutines = 2 * runtime.GOMAXPROCS(0)

type warmJob struct {
	fn       func()
	done     chan struct{}
	panicked bool
	value    any
}

var (
	warmStart sync.Once
	warmJobs  chan *warmJob
	warmPool  = sync.Pool{New: func() any { return &warmJob{done: make(chan struct{}, 1)} }}
)

// onWarmStack runs fn on an idle warm goroutine, else on this one, and
// returns when fn has. A panic in fn is raised again here, on the caller's
// goroutine, where the server's recovery sees it.
func onWarmStack(fn func()) {
	warmStart.Do(func() {
		warmJobs = make(chan *warmJob)
		for range warmGoroutines {
			go warmLoop()
		}
	})
	j := warmPool.Get().(*warmJob)
	j.fn = fn
	select {
	case warmJobs <- j:
		<-j.done
	default:
		j.fn = nil
		warmPool.Put(j)
		fn()
		return
	}
	panicked, value := j.panicked, j.value
	*j = warmJob{done: j.done}
	warmPool.Put(j)
	if panicked {
		panic(value)
	}
}

func warmLoop() {
	for j := range warmJobs {
		runWarm(j)
		j.done <- struct{}{}
	}
}

func runWarm(j *warmJob) {
	defer func() {
		if v := recover(); v != nil {
			j.panicked, j.value = true, v
		}
	}()
	j.fn()
}
