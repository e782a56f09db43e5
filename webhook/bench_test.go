package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// BenchmarkDecodeReview is the yardstick: only decoding a realistic
// Deployment UPDATE AdmissionReview (4 containers, an init container,
// object and oldObject) with encoding/json.
func BenchmarkDecodeReview(b *testing.B) {
	body := compactRequest(b, "deployment-update-image")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate is the whole /validate handler on the same request and
// others: read the body, decode, extract, classify, apply the floor rules,
// fingerprint, encode the answer. No network.
func BenchmarkValidate(b *testing.B) {
	for _, name := range []string{"deployment-update-image", "deployment-update-scale", "deployment-create-latest", "pod-create-inherited"} {
		b.Run(name, func(b *testing.B) {
			body := compactRequest(b, name)
			h := Serve("validate", newTestValidator(b), nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			rec := &discardWriter{h: http.Header{}}
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/validate?timeout=10s", bytes.NewReader(body))
				rec.code = 0
				h.ServeHTTP(rec, r)
				if rec.code != 0 && rec.code != http.StatusOK {
					b.Fatalf("HTTP %d", rec.code)
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler and not a recorder's buffer.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// compactRequest is a request file without indentation, as the API server
// sends it.
func compactRequest(b *testing.B, name string) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, readRequest(b, name)); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}
