package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounceDelay is how long Run waits after the last file event before it
// rereads the files. A Kubernetes Secret update or a rename of two files
// makes a burst of events within a millisecond or so; 100ms gathers the
// burst into one reload and is still unnoticeable to clients.
const debounceDelay = 100 * time.Millisecond

// Reloader serves a certificate pair read from two files and swaps it, when
// the files change, for new connections. Connections already open keep the
// certificate they were made with. Its methods are safe for concurrent use.
type Reloader struct {
	certFile, keyFile string
	opts              options

	current atomic.Pointer[tls.Certificate]

	mu      sync.Mutex // held while reloading; guards seen and readErr
	seen    pairSum    // contents last read, whether they loaded or not
	readErr string     // the last read error reported, to report it once

	watching     chan struct{} // closed once Run watches, for tests
	watchingOnce sync.Once
}

// pairSum identifies the contents of a certificate file and a key file.
type pairSum struct{ cert, key [sha256.Size]byte }

// NewReloader reads the PEM certificate chain in certFile and the private key
// in keyFile and returns a Reloader serving them, or an error if they cannot
// be read or are not a matching pair. Call Run to follow changes.
func NewReloader(certFile, keyFile string, opts ...Option) (*Reloader, error) {
	r := &Reloader{
		certFile: certFile,
		keyFile:  keyFile,
		opts:     defaultOptions(),
		watching: make(chan struct{}),
	}
	for _, opt := range opts {
		opt(&r.opts)
	}
	certPEM, keyPEM, err := r.read()
	if err != nil {
		return nil, fmt.Errorf("loading serving certificate: %w", err)
	}
	cert, err := r.parse(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading serving certificate: %w", err)
	}
	r.current.Store(cert)
	r.seen = pairSum{sha256.Sum256(certPEM), sha256.Sum256(keyPEM)}
	return r, nil
}

// GetCertificate returns the pair being served; it has the signature of
// tls.Config.GetCertificate and never blocks.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current.Load(), nil
}

// Run follows the files until ctx is done, then returns nil. It watches the
// directories holding them, which sees a file renamed over another and the
// `..data` symlink swap of a Kubernetes Secret volume, and rereads the files
// every poll interval as well. A new pair that loads replaces the current one
// and is passed to the OnReload function; one that does not is passed, once
// per distinct content, to the OnError function and the current pair stays.
// If the directories cannot be watched, Run reports that to OnError and only
// polls, or returns the error when polling is off.
func (r *Reloader) Run(ctx context.Context) error {
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
		tick   <-chan time.Time
	)
	w, err := r.watch()
	switch {
	case err == nil:
		defer w.Close()
		events, errs = w.Events, w.Errors
	case r.opts.pollInterval <= 0:
		return err
	default:
		r.opts.onError(fmt.Errorf("%w (polling every %v instead)", err, r.opts.pollInterval))
	}
	if r.opts.pollInterval > 0 {
		t := time.NewTicker(r.opts.pollInterval)
		defer t.Stop()
		tick = t.C
	}
	debounce := time.NewTimer(debounceDelay)
	debounce.Stop()
	defer debounce.Stop()

	r.watchingOnce.Do(func() { close(r.watching) })
	r.reload() // the files may have changed since NewReloader
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
			} else if ev.Op != fsnotify.Chmod {
				debounce.Reset(debounceDelay)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
			} else {
				r.opts.onError(fmt.Errorf("watching certificate files: %w", err))
			}
		case <-debounce.C:
			r.reload()
		case <-tick:
			r.reload()
		}
	}
}

// watch returns a watcher on the directories of the two files. Watching the
// files themselves would follow the inode they had when added, and miss both
// a rename over them and a swap of the symlink they resolve through.
func (r *Reloader) watch() (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching certificate files: %w", err)
	}
	dirs := []string{filepath.Dir(r.certFile)}
	if d := filepath.Dir(r.keyFile); d != dirs[0] {
		dirs = append(dirs, d)
	}
	for _, dir := range dirs {
		if err := w.Add(dir); err != nil {
			w.Close()
			return nil, fmt.Errorf("watching certificate files in %s: %w", dir, err)
		}
	}
	return w, nil
}

// reload rereads the files and, if their contents changed since last read,
// serves them or reports why it cannot.
func (r *Reloader) reload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, keyPEM, err := r.read()
	if err != nil {
		if err.Error() != r.readErr {
			r.readErr = err.Error()
			r.opts.onError(fmt.Errorf("reloading serving certificate: %w", err))
		}
		return
	}
	r.readErr = ""
	sum := pairSum{sha256.Sum256(certPEM), sha256.Sum256(keyPEM)}
	if sum == r.seen {
		return
	}
	r.seen = sum
	cert, err := r.parse(certPEM, keyPEM)
	if err != nil {
		r.opts.onError(fmt.Errorf("reloading serving certificate, keeping the current one: %w", err))
		return
	}
	r.current.Store(cert)
	r.opts.onReload(cert.Leaf)
}

// read returns the contents of the certificate and key files.
func (r *Reloader) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(r.certFile); err != nil {
		return nil, nil, fmt.Errorf("reading certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(r.keyFile); err != nil {
		return nil, nil, fmt.Errorf("reading key: %w", err)
	}
	return certPEM, keyPEM, nil
}

// parse makes a tls.Certificate, with its Leaf, of a PEM chain and key that
// must match.
func (r *Reloader) parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing %s and %s: %w", r.certFile, r.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", r.certFile, err)
		}
	}
	return &cert, nil
}

// TLSConfig returns the server TLS configuration of the webhook: TLS 1.2 or
// later, ALPN offering HTTP/2 then HTTP/1.1, and certificates from get,
// usually a Reloader's GetCertificate.
func TLSConfig(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: get,
	}
}
