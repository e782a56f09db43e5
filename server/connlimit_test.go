package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// excludedReview is an admission in kube-system: answered at once, so
// the test measures connections, not decisions.
var excludedReview = []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":"x1","kind":{"group":"apps","version":"v1","kind":"Deployment"},"namespace":"kube-system","name":"dns","operation":"CREATE",
 "userInfo":{"username":"admin"},
 "object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"dns","namespace":"kube-system"},
  "spec":{"template":{"spec":{"containers":[{"name":"dns","image":"coredns:1.12"}]}}}}}}`)

// dialCounting is a client like the API server's (Go's transport, HTTP/2
// over TLS, or HTTP/1.1 when h1 is set) that counts the connections it
// opens.
func dialCounting(base *http.Client, h1 bool) (*http.Client, *atomic.Int64) {
	var dials atomic.Int64
	tr := base.Transport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	if h1 {
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, &dials
}

// TestConnectionsCloseGracefullyAfterTheBound: with
// webhook.maxRequestsPerConnection 5, a client that keeps its connection
// open is moved to a new one every 5 requests — over HTTP/2 (GOAWAY) and
// HTTP/1.1 — and not one request fails, sequential or concurrent.
func TestConnectionsCloseGracefullyAfterTheBound(t *testing.T) {
	const bound = 5
	r := startWith(t, configFile(t, gatewayEnforce+fmt.Sprintf("webhook:\n  maxRequestsPerConnection: %d\n", bound)))

	for _, proto := range []string{"HTTP/2.0", "HTTP/1.1"} {
		t.Run(proto+" sequential", func(t *testing.T) {
			client, dials := dialCounting(r.client, proto == "HTTP/1.1")
			const n = 30
			for i := range n {
				res, err := client.Post(r.base+"/validate?timeout=5s", "application/json", bytesReader(excludedReview))
				if err != nil {
					t.Fatalf("request %d failed: %v", i+1, err)
				}
				_, _ = io.Copy(io.Discard, res.Body) // a body left unread would cost HTTP/1.1 its connection
				res.Body.Close()
				if res.StatusCode != http.StatusOK || res.Proto != proto {
					t.Fatalf("request %d: %s %d, want %s 200", i+1, res.Proto, res.StatusCode, proto)
				}
			}
			// `bound` requests a connection, one after another: n/bound
			// connections (one more if a request raced a GOAWAY).
			if got := dials.Load(); got < n/bound || got > n/bound+1 {
				t.Errorf("%d requests took %d connections, want %d", n, got, n/bound)
			}
			t.Logf("%d requests, %d connections", n, dials.Load())
		})
	}

	t.Run("HTTP/2.0 concurrent", func(t *testing.T) {
		client, dials := dialCounting(r.client, false)
		const workers, each = 8, 25
		var failed atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					resp, err := post(client, r.base+"/validate?timeout=5s", excludedReview)
					if err != nil || !resp.Allowed {
						failed.Add(1)
						t.Errorf("a request failed: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		// Requests already received on a connection when it closes are
		// answered on it, so under concurrency one carries a few more than
		// the bound; still the load moved over many connections.
		if failed.Load() != 0 || dials.Load() < 2 {
			t.Errorf("%d of %d requests failed over %d connections; want none failed, over several connections",
				failed.Load(), workers*each, dials.Load())
		}
		t.Logf("%d requests, %d connections", workers*each, dials.Load())
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
