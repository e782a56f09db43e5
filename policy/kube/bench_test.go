package kube

import (
	"fmt"
	"runtime"
	"testing"

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
		ns := fmt.Sprintf("team-%04d", i)
		cms[i] = configMap(ns, "policy", map[string]string{"policy.rego": fmt.Sprintf(`package shipgate.namespaces[%q]

deny contains "too many replicas" if input.request.object.spec.replicas > %d
warn contains "no team label" if not input.request.object.metadata.labels.team
`, ns, i%7+1)})
	}
	var heap uint64
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
		if keys := reload(b, l); len(keys) != n {
			b.Fatalf("%d statuses, want %d", len(keys), n)
		}
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
}
