package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/server/certs"
)

// TestCertRotationUnderLoadDropsNoConnection: admissions run without a
// pause over kept-alive HTTP/2 and HTTP/1.1 connections while the serving
// certificate pair on disk is replaced five times. No request fails; each
// new pair is what a new connection is served; the connections opened
// before the first rotation carry requests to the end, still with the
// first certificate, and no client dials a connection after the first
// rotation.
func TestCertRotationUnderLoadDropsNoConnection(t *testing.T) {
	const rotations, workers = 5, 8
	hosts := []string{"127.0.0.1"}
	type pair struct{ cert, key []byte }
	pairs := make([]pair, rotations+1)
	pool := x509.NewCertPool()
	for i := range pairs {
		ca, cert, key, err := certs.Generate(hosts, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(ca) // each pair has a CA of its own: a client trusts them all
		pairs[i] = pair{cert, key}
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	install := func(p pair) {
		writeAtomically(t, keyFile, string(p.key))
		writeAtomically(t, certFile, string(p.cert))
	}
	install(pairs[0])

	// A bound no test reaches, so every connection closed would be a drop.
	s := runServer(t, Options{
		ConfigFile:  configFile(t, gatewayEnforce+"webhook: {maxRequestsPerConnection: 100000000}\n"),
		TLSCertFile: certFile, TLSKeyFile: keyFile,
	})
	base := "https://" + s.Addr().String()
	// served is the leaf a new connection is given.
	served := func() *x509.Certificate {
		c, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			return nil
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	leafOf := func(p pair) *x509.Certificate {
		c, err := tls.X509KeyPair(p.cert, p.key)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf
	}
	first := leafOf(pairs[0])

	h2, h1 := newCountingClient(pool, false, workers), newCountingClient(pool, true, workers)
	clients := map[string]*countingClient{"HTTP/2": h2, "HTTP/1.1": h1}
	var (
		sent, afterLast atomic.Int64
		lastDone        atomic.Bool
		fails           failures
		stop            = make(chan struct{})
		wg              sync.WaitGroup
	)
	body := latestDeployment(t)
	for name, c := range clients {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					last := lastDone.Load()
					a := admit(c.Client, base+"/validate?timeout=10s", body)
					sent.Add(1)
					switch {
					case a.err != nil:
						fails.add("%s: %v", name, a.err)
					case a.resp.Allowed || a.resp.Result == nil || a.resp.Result.Code != 403:
						fails.add("%s: a latest image: allowed=%v %+v, want refused", name, a.resp.Allowed, a.resp.Result)
					case !a.leaf.Equal(first):
						fails.add("%s: a kept-alive connection was served certificate %s, want the first %s", name, a.leaf.SerialNumber, first.SerialNumber)
					case last:
						afterLast.Add(1)
					}
				}
			}()
		}
	}

	dialled := map[string]int64{} // once the load runs, before the first rotation
	for i := 1; i <= rotations; i++ {
		before := sent.Load()
		waitFor(t, fmt.Sprintf("load to run before rotation %d", i), func() bool { return sent.Load() >= before+100 })
		if i == 1 {
			for name, c := range clients {
				dialled[name] = c.dials.Load()
			}
		}
		install(pairs[i])
		want := leafOf(pairs[i])
		waitFor(t, fmt.Sprintf("a new connection to be served pair %d", i), func() bool {
			got := served()
			return got != nil && got.Equal(want)
		})
	}
	lastDone.Store(true)
	waitFor(t, "load to run after the last rotation", func() bool { return afterLast.Load() >= 100 })
	close(stop)
	wg.Wait()

	fails.check(t, sent.Load())
	for name, c := range clients {
		if n := c.dials.Load(); n != dialled[name] {
			t.Errorf("%s: %d connections dialled during the rotations (%d before them): a connection was dropped", name, n-dialled[name], dialled[name])
		}
	}
	t.Logf("%d admissions across %d rotations, %d after the last; %d failed; connections dialled before the first rotation: HTTP/2 %d, HTTP/1.1 %d; during and after: none",
		sent.Load(), rotations, afterLast.Load(), fails.n, dialled["HTTP/2"], dialled["HTTP/1.1"])
}
