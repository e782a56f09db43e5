package main

import (
	"testing"
	"time"
)

// TestCPULine: busy time is every field but idle and iowait, up to and
// including steal; guest time, already in user and nice, is not counted
// twice; steal is reported on its own.
func TestCPULine(t *testing.T) {
	t.Parallel()
	tick := time.Second / clockTicks
	for _, tc := range []struct {
		line        string
		busy, steal time.Duration
	}{
		{"cpu  100 5 50 1000 20 3 2 40 7 1", 200 * tick, 40 * tick},
		{"cpu  100 5 50 1000 20 3 2", 160 * tick, 0}, // an old kernel: no steal field
		{"cpu0 100 5 50 1000 20 3 2 40 7 1", 0, 0},
		{"", 0, 0},
	} {
		busy, steal := cpuLine(tc.line)
		if busy != tc.busy || steal != tc.steal {
			t.Errorf("cpuLine(%q) = %v, %v; want %v, %v", tc.line, busy, steal, tc.busy, tc.steal)
		}
	}
}
