package gcfloor

import (
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// limitShare is the part of the container's memory limit a floor may take:
// a quarter, so that the heap's headroom never decides whether a replica is
// killed for memory. Under the chart's 512Mi limit the 64Mi default stands;
// under 128Mi the floor is 32Mi.
const limitShare = 4

// noLimit is where cgroup v1 reports "unlimited": the largest page-aligned
// int64, or near it.
const noLimit = 1 << 62

// Clamp is floor, at most a quarter of a memory limit of limit bytes; a
// limit of 0 is none.
func Clamp(floor, limit uint64) uint64 {
	if limit > 0 {
		return min(floor, limit/limitShare)
	}
	return floor
}

// MemoryLimit is the memory limit of this process's cgroup in bytes, 0 when
// it has none or none can be read. fsys is the root file system
// (os.DirFS("/")). It reads cgroup v2's memory.max or v1's
// memory.limit_in_bytes at the cgroup's path from /proc/self/cgroup and
// then, for a container that sees its own cgroup at the mount's root, at
// the root.
func MemoryLimit(fsys fs.FS) uint64 {
	b, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	var candidates []string
	for line := range strings.Lines(string(b)) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			candidates = append(candidates,
				path.Join("sys/fs/cgroup", f[2], "memory.max"),
				"sys/fs/cgroup/memory.max")
		case slices.Contains(strings.Split(f[1], ","), "memory"):
			candidates = append(candidates,
				path.Join("sys/fs/cgroup/memory", f[2], "memory.limit_in_bytes"),
				"sys/fs/cgroup/memory/memory.limit_in_bytes")
		}
	}
	for _, c := range candidates {
		b, err := fs.ReadFile(fsys, c)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n >= noLimit {
			return 0
		}
		return n
	}
	return 0
}
