package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestGCCyclesFromMetrics reads the count from a real Go collector's
// exposition over TLS, as shipgate's and OPA's /metrics serve it, and
// tells a server without it or without /metrics apart.
func TestGCCyclesFromMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ts := httptest.NewTLSServer(mux)
	defer ts.Close()
	srv := &server{base: ts.URL}
	hc := ts.Client()

	n0, ok := gcCycles(t.Context(), hc, srv)
	if !ok {
		t.Fatal("no GC count read from a Go collector's /metrics")
	}
	// runtime.GC returns when the collection has completed.
	runtime.GC()
	runtime.GC()
	n1, ok := gcCycles(t.Context(), hc, srv)
	if !ok || n1 < n0+2 {
		t.Errorf("GC count %d after two collections, %d before (ok %v): want at least 2 more", n1, n0, ok)
	}

	empty := httptest.NewTLSServer(http.NotFoundHandler())
	defer empty.Close()
	if n, ok := gcCycles(t.Context(), empty.Client(), &server{base: empty.URL}); ok {
		t.Errorf("a server without /metrics gave a GC count: %d", n)
	}
}

func TestParseGCCycles(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		text    string
		want    int64
		wantErr bool
	}{
		"a count among other samples":        {text: "# HELP x\ngo_gc_duration_seconds_sum 0.5\ngo_gc_duration_seconds_count 1234\ngo_goroutines 9\n", want: 1234},
		"in exponent form":                   {text: "go_gc_duration_seconds_count 1.5e+06\n", want: 1500000},
		"absent":                             {text: "go_goroutines 9\n", wantErr: true},
		"not a number":                       {text: "go_gc_duration_seconds_count lots\n", wantErr: true},
		"a longer name that starts the same": {text: "go_gc_duration_seconds_count_total 5\n", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseGCCycles(bufio.NewScanner(strings.NewReader(tc.text)))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseGCCycles = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
