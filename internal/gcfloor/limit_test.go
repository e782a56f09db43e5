package gcfloor

import (
	"testing"
	"testing/fstest"
)

func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := map[string]struct {
		fs   fstest.MapFS
		want uint64
	}{
		"cgroup v2 in a container's own namespace": {fs: fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("536870912\n"),
		}, want: 512 << 20},
		"cgroup v2 at the process's path": {fs: fstest.MapFS{
			"proc/self/cgroup":                          file("0::/kubepods/pod1/c1\n"),
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": file("134217728\n"),
			"sys/fs/cgroup/memory.max":                  file("max\n"),
		}, want: 128 << 20},
		"cgroup v2, the path not mounted: the root's": {fs: fstest.MapFS{
			"proc/self/cgroup":         file("0::/kubepods/pod1/c1\n"),
			"sys/fs/cgroup/memory.max": file("268435456\n"),
		}, want: 256 << 20},
		"cgroup v2 without a limit": {fs: fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, want: 0},
		"cgroup v1 at the process's path": {fs: fstest.MapFS{
			"proc/self/cgroup": file("12:pids:/\n4:memory:/docker/abc\n3:cpu,cpuacct:/\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("268435456\n"),
		}, want: 256 << 20},
		"cgroup v1, memory among other controllers": {fs: fstest.MapFS{
			"proc/self/cgroup":                           file("4:cpu,memory:/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("104857600\n"),
		}, want: 100 << 20},
		"cgroup v1 without a limit": {fs: fstest.MapFS{
			"proc/self/cgroup": file("4:memory:/process_api/845e\n"),
			"sys/fs/cgroup/memory/process_api/845e/memory.limit_in_bytes": file("9223372036854771712\n"),
		}, want: 0},
		"a limit that is not a number": {fs: fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("lots\n"),
		}, want: 0},
		"no cgroup file": {fs: fstest.MapFS{}, want: 0},
		"no memory controller": {fs: fstest.MapFS{
			"proc/self/cgroup": file("3:cpu:/\n"),
		}, want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := MemoryLimit(tc.fs); got != tc.want {
				t.Errorf("MemoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestClamp(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := map[string]struct{ floor, limit, want uint64 }{
		"no limit":                       {64 * mib, 0, 64 * mib},
		"the chart's 512Mi limit":        {64 * mib, 512 * mib, 64 * mib},
		"a 128Mi limit: a quarter of it": {64 * mib, 128 * mib, 32 * mib},
		"a floor of 0 stays 0":           {0, 128 * mib, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Clamp(tc.floor, tc.limit); got != tc.want {
				t.Errorf("Clamp(%d, %d) = %d, want %d", tc.floor, tc.limit, got, tc.want)
			}
		})
	}
}
