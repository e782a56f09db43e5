package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// gcMetric is the Prometheus Go collector's count of completed
// collections, which shipgate's /metrics and OPA's both serve.
const gcMetric = "go_gc_duration_seconds_count"

// gcCycles reads how many garbage collections the server has completed
// from its /metrics; ok is false when it cannot tell. The harness reads it
// before and after a run: a Go server's GC work shows in its CPU, and the
// count says how much of that is collections.
func gcCycles(ctx context.Context, hc *http.Client, s *server) (n int64, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	n, err = parseGCCycles(bufio.NewScanner(resp.Body))
	return n, err == nil
}

// parseGCCycles finds gcMetric's sample in Prometheus text exposition.
func parseGCCycles(sc *bufio.Scanner) (int64, error) {
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), gcMetric+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("%s: not a count: %q", gcMetric, v)
		}
		return int64(f), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s sample", gcMetric)
}
