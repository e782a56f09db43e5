package policy

import (
	"syscall"
	"time"
	"unsafe"
)

// clockThreadCPUTime is CLOCK_THREAD_CPUTIME_ID of clock_gettime(2).
const clockThreadCPUTime = 3

// threadCPU is the CPU time the calling thread has used; the caller locks
// its goroutine to the thread. Unlike wall time it does not count the
// time the thread waited while other processes ran, so its percentiles
// say what an evaluation costs on a core of its own, on a shared machine
// too. It does not count the garbage collector's own threads either.
func threadCPU() (time.Duration, bool) {
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano()), errno == 0
}
