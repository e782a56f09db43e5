package kube

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// BenchmarkReload1000Namespaces is the first load of a cluster with 1,000
// namespaces that each have a policy ConfigMap: every one checked, then
// all put in force with one Update (which takes what Check compiled).
// heap-MiB is the live heap the loaded policy holds afterwards.
func BenchmarkReload1000Namespaces(b *testing.B) {
	const n = 1000
	cms := make([]*corev1.ConfigMap, n)
	for i := range cms {
		cms[i] = benchConfigMap(i, i%7+1)
	}
	var heap uint64
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		l, e := newTestLoader(b, baselineDir)
		for _, cm := range cms {
			l.setConfigMap(cm)
		}
		b.StartTimer()
		cpu0 := cpuTime(b)
		if keys := reload(b, l); len(keys) != n {
			b.Fatalf("%d statuses, want %d", len(keys), n)
		}
		cpu += cpuTime(b) - cpu0
		b.StopTimer()
		if !e.Applies("team-0999", nil) {
			b.Fatal("team-0999 has no policy")
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(l)
		b.StartTimer()
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the CPU time the process has used, user and system, on all
// threads. On a machine shared with other builds the wall time of a
// benchmark depends on them; its CPU time much less.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchConfigMap is the policy ConfigMap of namespace team-NNNN (i): a
// deny above limit replicas and a warn.
func benchConfigMap(i, limit int) *corev1.ConfigMap {
	ns := fmt.Sprintf("team-%04d", i)
	return configMap(ns, "policy", map[string]string{"policy.rego": fmt.Sprintf(`package shipgate.namespaces[%q]

deny contains "too many replicas" if input.request.object.spec.replicas > %d
warn contains "no team label" if not input.request.object.metadata.labels.team
`, ns, limit)})
}

// BenchmarkReloadOneChange is the reload a running server does when one of
// 1,000 namespace ConfigMaps changes: only that namespace is composed and
// compiled again; the other 999 keep their prepared queries.
func BenchmarkReloadOneChange(b *testing.B) {
	const n = 1000
	l, e := newTestLoader(b, baselineDir)
	for i := range n {
		l.setConfigMap(benchConfigMap(i, i%7+1))
	}
	if keys := reload(b, l); len(keys) != n {
		b.Fatalf("%d statuses, want %d", len(keys), n)
	}
	limit := 0
	cpu0 := cpuTime(b)
	for b.Loop() {
		limit++
		l.setConfigMap(benchConfigMap(500, 100+limit))
		if keys := reload(b, l); len(keys) != 1 {
			b.Fatalf("%d statuses after one change, want 1", len(keys))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	// The change is in force, and it is the only one.
	if got := denies(b, e, "team-0500", labelled, 100+limit+1); len(got) != 1 {
		b.Errorf("team-0500 after the last change denies %q, want its one rule", got)
	}
	if got := denies(b, e, "team-0501", labelled, 10); len(got) != 1 {
		b.Errorf("team-0501 denies %q, want its one rule", got)
	}
}
