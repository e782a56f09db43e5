package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/shipgate/shipgate/signer"
)

// pacedVerifier stands in for a registry whose answers take a set time
// without using CPU, as a real one's round trips do: every image is
// verified after pace (or the admission's deadline). It counts the
// verifications running at once and the most there ever were; they run
// inside the webhook's in-flight gate, so that maximum is the most
// admissions the gate let in together.
type pacedVerifier struct {
	pace    time.Duration
	running atomic.Int64
	most    atomic.Int64
	calls   atomic.Int64
}

// Verify waits pace, then reports every image verified.
func (p *pacedVerifier) Verify(ctx context.Context, req signer.Request) []*signer.Result {
	n := p.running.Add(1)
	defer p.running.Add(-1)
	p.calls.Add(1)
	for m := p.most.Load(); n > m && !p.most.CompareAndSwap(m, n); m = p.most.Load() {
	}
	if p.pace > 0 {
		t := time.NewTimer(p.pace)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	out := make([]*signer.Result, len(req.Images))
	for i, ref := range req.Images {
		out[i] = &signer.Result{Ref: ref, TrustPolicy: "test", Verified: true, Digest: "sha256:" + strings.Repeat("ab", 32)}
	}
	return out
}

// runServer starts a server with opts completed for a test (loopback,
// SQLite in a temp dir, logs discarded) and stops it at cleanup, failing
// the test when Run returns an error.
func runServer(t *testing.T, opts Options) *Server {
	t.Helper()
	dir := t.TempDir()
	opts.Addr = "127.0.0.1:0"
	if opts.CertDir == "" {
		opts.CertDir = filepath.Join(dir, "certs")
	}
	opts.StoreURL = "sqlite://" + filepath.Join(dir, "shipgate.db")
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

// countingClient is an HTTPS client that counts the connections it dials.
type countingClient struct {
	*http.Client
	dials atomic.Int64
}

// newCountingClient returns a client trusting pool that speaks HTTP/2, or
// HTTP/1.1 only with h1, keeping up to idle connections open between
// requests.
func newCountingClient(pool *x509.CertPool, h1 bool, idle int) *countingClient {
	c := &countingClient{}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2:   !h1,
		MaxIdleConnsPerHost: idle,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
	}
	if h1 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no HTTP/2
	}
	c.Client = &http.Client{Transport: tr, Timeout: apiServerTimeout}
	return c
}

// apiServerTimeout is how long the load tests' clients wait for an answer:
// the ?timeout=10s they send, as long as the API server would wait. An
// answer later than that is a failure, wherever it queued.
const apiServerTimeout = 10 * time.Second

// patient is c waiting apiServerTimeout for each answer.
func patient(c *http.Client) *http.Client {
	return &http.Client{Transport: c.Transport, Timeout: apiServerTimeout}
}

// answer is one admission's outcome as a load test sees it.
type answer struct {
	resp *admissionv1.AdmissionResponse
	// leaf is the serving certificate of the connection that carried it.
	leaf  *x509.Certificate
	proto int // 1 or 2
	err   error
}

// admit posts an AdmissionReview and decodes the answer; anything but an
// HTTP 200 AdmissionReview is an error.
func admit(client *http.Client, url string, body []byte) answer {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	a := answer{proto: resp.ProtoMajor}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		a.leaf = resp.TLS.PeerCertificates[0]
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		a.err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
		return a
	}
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || review.Response == nil {
		a.err = fmt.Errorf("not an AdmissionReview: %v", err)
		return a
	}
	a.resp = review.Response
	return a
}

// failures collects what went wrong under load, keeping the first few
// for the report and counting the rest.
type failures struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (f *failures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.first) < 10 {
		f.first = append(f.first, fmt.Sprintf(format, args...))
	}
}

// check fails the test when anything went wrong, listing the first ones.
func (f *failures) check(t *testing.T, of int64) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		t.Errorf("%d of %d requests failed; the first:\n%s", f.n, of, strings.Join(f.first, "\n"))
	}
}

// deploymentWith is a Deployment CREATE in namespace shop with the given
// uid, labels (JSON object) and image.
func deploymentWith(uid, labels, image string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":%q,"kind":{"group":"apps","version":"v1","kind":"Deployment"},"namespace":"shop","name":"web","operation":"CREATE",
 "userInfo":{"username":"ci"},
 "object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop","labels":%s},
  "spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}}}`, uid, labels, image)
}
