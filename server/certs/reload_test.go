//go:debug tls10server=1

// tls10server lets a server without MinVersion accept TLS 1.0 and 1.1, as it
// did before Go 1.22, so TestTLSConfigVersionsAndProtocols shows that
// TLSConfig's own MinVersion refuses TLS 1.1 rather than Go's default.

package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// waitFor bounds every wait on the reloader; reloads take ~100ms.
const waitFor = 5 * time.Second

// testPair is a CA and a serving certificate for "localhost" signed by it.
type testPair struct {
	certPEM, keyPEM []byte
	ca, leaf        *x509.Certificate
}

func newTestPair(t *testing.T) testPair {
	t.Helper()
	caPEM, certPEM, keyPEM, err := Generate([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := parseOneCertificate(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := parseOneCertificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return testPair{certPEM: certPEM, keyPEM: keyPEM, ca: ca, leaf: leaf}
}

// layout installs a pair in a directory as some deployment does, and
// replaces it the same way.
type layout struct {
	install func(t *testing.T, dir string, certPEM, keyPEM []byte) (certFile, keyFile string)
	replace func(t *testing.T, dir string, certPEM, keyPEM []byte)
}

var layouts = map[string]layout{
	"files renamed over": {
		install: func(t *testing.T, dir string, certPEM, keyPEM []byte) (string, string) {
			writeFile(t, filepath.Join(dir, "tls.crt"), certPEM)
			writeFile(t, filepath.Join(dir, "tls.key"), keyPEM)
			return filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		},
		// Both new files are written first and renamed back to back, as a
		// careful tool does; the pair is mismatched only between the renames.
		replace: func(t *testing.T, dir string, certPEM, keyPEM []byte) {
			for name, data := range map[string][]byte{"tls.crt.new": certPEM, "tls.key.new": keyPEM} {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range []string{"tls.key", "tls.crt"} {
				if err := os.Rename(filepath.Join(dir, name+".new"), filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
		},
	},
	// Kubernetes' atomic writer: tls.crt -> ..data/tls.crt, ..data -> a
	// timestamped directory, swapped by renaming a new symlink over ..data.
	"Kubernetes Secret volume": {
		install: func(t *testing.T, dir string, certPEM, keyPEM []byte) (string, string) {
			secretVersion(t, dir, certPEM, keyPEM)
			for _, name := range []string{"tls.crt", "tls.key"} {
				if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			return filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		},
		replace: func(t *testing.T, dir string, certPEM, keyPEM []byte) {
			old, err := os.Readlink(filepath.Join(dir, "..data"))
			if err != nil {
				t.Fatal(err)
			}
			secretVersion(t, dir, certPEM, keyPEM)
			if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
				t.Fatal(err)
			}
		},
	},
}

// secretVersion writes a new timestamped directory and points ..data at it.
func secretVersion(t *testing.T, dir string, certPEM, keyPEM []byte) {
	t.Helper()
	version, err := os.MkdirTemp(dir, "..2026_01_02_15_04_05.")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(version, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(version), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// callbacks records what a Reloader reports.
type callbacks struct {
	reloads chan *x509.Certificate
	errs    chan error
}

// startReloader runs a Reloader on the files until the test ends, once its
// watches are in place.
func startReloader(t *testing.T, certFile, keyFile string, opts ...Option) (*Reloader, callbacks) {
	t.Helper()
	cb := callbacks{reloads: make(chan *x509.Certificate, 16), errs: make(chan error, 16)}
	opts = append([]Option{
		WithOnReload(func(c *x509.Certificate) { cb.reloads <- c }),
		WithOnError(func(err error) { cb.errs <- err }),
	}, opts...)
	r, err := NewReloader(certFile, keyFile, opts...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(t.Context()) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-r.watching:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(waitFor):
		t.Fatal("Run did not start watching")
	}
	return r, cb
}

// startServer serves HTTPS with TLSConfig(r.GetCertificate).
func startServer(t *testing.T, r *Reloader) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = TLSConfig(r.GetCertificate)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// clientConfig trusts the pairs' CAs and sends SNI "localhost": httptest adds
// its own certificate to the server's Certificates, which crypto/tls uses
// instead of GetCertificate for a ClientHello without a server name.
func clientConfig(pairs ...testPair) *tls.Config {
	roots := x509.NewCertPool()
	for _, p := range pairs {
		roots.AddCert(p.ca)
	}
	return &tls.Config{RootCAs: roots, ServerName: "localhost"}
}

// servedLeaf returns the certificate a new connection to addr is given.
func servedLeaf(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: waitFor}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// eventuallyServes waits until new connections to addr are given want.
func eventuallyServes(t *testing.T, addr string, cfg *tls.Config, want *x509.Certificate) {
	t.Helper()
	var last error
	for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got, err := servedLeaf(addr, cfg)
		if err == nil && got.Equal(want) {
			return
		}
		last = err
	}
	t.Fatalf("new connections not given the expected certificate within %v (last error: %v)", waitFor, last)
}

// get makes a request with client and returns the certificate it saw and
// whether it went over a connection made before.
func get(t *testing.T, client *http.Client, url string) (leaf *x509.Certificate, reused bool) {
	t.Helper()
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("GET: %d %q %v", resp.StatusCode, body, err)
	}
	return resp.TLS.PeerCertificates[0], reused
}

func TestReloaderServesNewPairToNewConnections(t *testing.T) {
	t.Parallel()
	for name, l := range layouts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b, c := newTestPair(t), newTestPair(t), newTestPair(t)
			dir := t.TempDir()
			certFile, keyFile := l.install(t, dir, a.certPEM, a.keyPEM)
			// No polling: only the directory watch can see the change.
			r, cb := startReloader(t, certFile, keyFile, WithPollInterval(0))
			srv := startServer(t, r)
			cfg := clientConfig(a, b, c)
			transport := &http.Transport{TLSClientConfig: cfg}
			t.Cleanup(transport.CloseIdleConnections)
			client := &http.Client{Transport: transport}

			if leaf, _ := get(t, client, srv.URL); !leaf.Equal(a.leaf) {
				t.Fatalf("before the change, served %v, want certificate A", leaf.SerialNumber)
			}

			l.replace(t, dir, b.certPEM, b.keyPEM)
			eventuallyServes(t, srv.Listener.Addr().String(), cfg, b.leaf)
			select {
			case leaf := <-cb.reloads:
				if !leaf.Equal(b.leaf) {
					t.Errorf("OnReload given %v, want certificate B", leaf.SerialNumber)
				}
			case <-time.After(waitFor):
				t.Error("OnReload not called")
			}

			// The debounce gathers the burst of events into one reload, so
			// the moment between the two renames is never loaded.
			select {
			case err := <-cb.errs:
				t.Errorf("OnError during an ordinary change: %v", err)
			default:
			}

			leaf, reused := get(t, client, srv.URL)
			if !reused {
				t.Error("the keep-alive connection was not reused")
			}
			if !leaf.Equal(a.leaf) {
				t.Error("the keep-alive connection's certificate changed")
			}

			// A second change is seen too: a watch on the files themselves
			// would have followed the first pair's inodes and lost them.
			l.replace(t, dir, c.certPEM, c.keyPEM)
			eventuallyServes(t, srv.Listener.Addr().String(), cfg, c.leaf)
		})
	}
}

func TestReloaderKeepsCurrentPairWhenNewOneIsBroken(t *testing.T) {
	t.Parallel()
	other := newTestPair(t)
	breakages := map[string]func(a testPair) (certPEM, keyPEM []byte){
		"key is not PEM":        func(a testPair) ([]byte, []byte) { return a.certPEM, []byte("not a key\n") },
		"key of another pair":   func(a testPair) ([]byte, []byte) { return a.certPEM, other.keyPEM },
		"certificate truncated": func(a testPair) ([]byte, []byte) { return a.certPEM[:len(a.certPEM)/2], a.keyPEM },
	}
	for lname, l := range layouts {
		for bname, breakage := range breakages {
			t.Run(lname+"/"+bname, func(t *testing.T) {
				t.Parallel()
				a, b := newTestPair(t), newTestPair(t)
				dir := t.TempDir()
				certFile, keyFile := l.install(t, dir, a.certPEM, a.keyPEM)
				r, cb := startReloader(t, certFile, keyFile, WithPollInterval(0))
				srv := startServer(t, r)
				addr, cfg := srv.Listener.Addr().String(), clientConfig(a, b)

				certPEM, keyPEM := breakage(a)
				l.replace(t, dir, certPEM, keyPEM)
				select {
				case err := <-cb.errs:
					t.Logf("OnError: %v", err)
				case leaf := <-cb.reloads:
					t.Fatalf("OnReload called with %v for a broken pair", leaf.SerialNumber)
				case <-time.After(waitFor):
					t.Fatal("OnError not called")
				}
				if leaf, err := servedLeaf(addr, cfg); err != nil || !leaf.Equal(a.leaf) {
					t.Fatalf("after a broken change, a new connection got %v, %v; want certificate A", leaf, err)
				}

				// A good pair after the broken one is still picked up.
				l.replace(t, dir, b.certPEM, b.keyPEM)
				eventuallyServes(t, addr, cfg, b.leaf)
			})
		}
	}
}

func TestReloaderPollsForChangesTheWatchMisses(t *testing.T) {
	t.Parallel()
	a, b := newTestPair(t), newTestPair(t)
	dir, elsewhere := t.TempDir(), t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, a.certPEM)
	writeFile(t, keyFile, a.keyPEM)
	// Writing through hard links in another directory changes the files
	// without an event in theirs (inotify reports a write to the directory
	// of the path written through).
	links := map[string][]byte{}
	for file, data := range map[string][]byte{keyFile: b.keyPEM, certFile: b.certPEM} {
		link := filepath.Join(elsewhere, filepath.Base(file))
		if err := os.Link(file, link); err != nil {
			t.Fatalf("making a hard link for the test (the temp directory must support them): %v", err)
		}
		links[link] = data
	}
	_, cb := startReloader(t, certFile, keyFile, WithPollInterval(50*time.Millisecond))

	for link, data := range links {
		if err := os.WriteFile(link, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(waitFor)
	for {
		select {
		case leaf := <-cb.reloads:
			if leaf.Equal(b.leaf) {
				return
			}
		case <-cb.errs: // a poll between the two writes sees a mismatch
		case <-deadline:
			t.Fatal("change not picked up by polling")
		}
	}
}

func TestReloaderWithoutWatchableDirectory(t *testing.T) {
	t.Parallel()
	a := newTestPair(t)
	setup := func(t *testing.T, opts ...Option) (*Reloader, string) {
		dir := filepath.Join(t.TempDir(), "certs")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "tls.crt"), a.certPEM)
		writeFile(t, filepath.Join(dir, "tls.key"), a.keyPEM)
		r, err := NewReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		return r, dir
	}

	t.Run("polling off: Run fails", func(t *testing.T) {
		t.Parallel()
		r, _ := setup(t, WithPollInterval(0))
		if err := r.Run(t.Context()); err == nil {
			t.Fatal("Run returned nil with nothing able to see changes")
		}
	})
	t.Run("polling on: Run reports and polls", func(t *testing.T) {
		t.Parallel()
		b := newTestPair(t)
		errs, reloads := make(chan error, 16), make(chan *x509.Certificate, 16)
		r, dir := setup(t, WithPollInterval(50*time.Millisecond),
			WithOnError(func(err error) { errs <- err }),
			WithOnReload(func(c *x509.Certificate) { reloads <- c }))
		done := make(chan error, 1)
		go func() { done <- r.Run(t.Context()) }()
		t.Cleanup(func() {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		select {
		case err := <-errs:
			t.Logf("OnError: %v", err)
		case <-time.After(waitFor):
			t.Fatal("the failed watch was not reported")
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "tls.key"), b.keyPEM)
		writeFile(t, filepath.Join(dir, "tls.crt"), b.certPEM)
		for deadline := time.After(waitFor); ; {
			select {
			case leaf := <-reloads:
				if leaf.Equal(b.leaf) {
					return
				}
			case <-errs:
			case <-deadline:
				t.Fatal("files that came back were not picked up")
			}
		}
	})
}

func TestNewReloader(t *testing.T) {
	t.Parallel()
	a, other := newTestPair(t), newTestPair(t)
	tests := map[string]struct {
		certPEM, keyPEM []byte
		wantErr         bool
	}{
		"matching pair":       {certPEM: a.certPEM, keyPEM: a.keyPEM},
		"missing certificate": {keyPEM: a.keyPEM, wantErr: true},
		"missing key":         {certPEM: a.certPEM, wantErr: true},
		"certificate not PEM": {certPEM: []byte("junk"), keyPEM: a.keyPEM, wantErr: true},
		"key of another pair": {certPEM: a.certPEM, keyPEM: other.keyPEM, wantErr: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
			if tt.certPEM != nil {
				writeFile(t, certFile, tt.certPEM)
			}
			if tt.keyPEM != nil {
				writeFile(t, keyFile, tt.keyPEM)
			}
			r, err := NewReloader(certFile, keyFile)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewReloader: error %v, want error: %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			cert, err := r.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
			if err != nil || cert == nil || cert.Leaf == nil || !cert.Leaf.Equal(a.leaf) {
				t.Fatalf("GetCertificate: %v, %v; want certificate A with its Leaf", cert, err)
			}
		})
	}
}

func TestTLSConfigVersionsAndProtocols(t *testing.T) {
	t.Parallel()
	a := newTestPair(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, a.certPEM)
	writeFile(t, keyFile, a.keyPEM)
	r, err := NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		server    *tls.Config
		version   uint16 // the only version the client offers
		protos    []string
		wantErr   bool
		wantProto string
	}{
		"TLS 1.1 refused": {server: TLSConfig(r.GetCertificate), version: tls.VersionTLS11, wantErr: true},
		// The control: the same client gets through to a server that does
		// not set MinVersion, so the refusal above is TLSConfig's doing.
		"TLS 1.1 accepted without MinVersion": {server: &tls.Config{GetCertificate: r.GetCertificate}, version: tls.VersionTLS11},
		"TLS 1.2, HTTP/2 preferred":           {server: TLSConfig(r.GetCertificate), version: tls.VersionTLS12, protos: []string{"h2", "http/1.1"}, wantProto: "h2"},
		"TLS 1.3, HTTP/1.1 only client":       {server: TLSConfig(r.GetCertificate), version: tls.VersionTLS13, protos: []string{"http/1.1"}, wantProto: "http/1.1"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr := handshakeServer(t, tt.server)
			cfg := clientConfig(a)
			cfg.ServerName = "127.0.0.1" // an IP: no SNI is sent, GetCertificate must answer anyway
			cfg.MinVersion, cfg.MaxVersion, cfg.NextProtos = tt.version, tt.version, tt.protos
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: waitFor}, "tcp", addr, cfg)
			if tt.wantErr {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if cs := conn.ConnectionState(); cs.Version != tt.version || cs.NegotiatedProtocol != tt.wantProto {
				t.Errorf("negotiated %s %q, want %s %q", tls.VersionName(cs.Version), cs.NegotiatedProtocol,
					tls.VersionName(tt.version), tt.wantProto)
			}
		})
	}
}

// handshakeServer accepts TLS connections with cfg, completes the handshake
// and closes them, until the test ends.
func handshakeServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.(*tls.Conn).Handshake()
			io.Copy(io.Discard, conn) // until the client closes
			conn.Close()
		}
	}()
	return ln.Addr().String()
}
