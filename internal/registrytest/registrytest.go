// Package registrytest runs a real OCI registry in process for tests:
// go-containerregistry's pkg/registry, with the OCI 1.1 referrers API,
// behind an httptest server on 127.0.0.1. go-containerregistry and cosign
// speak plain HTTP to loopback hosts, so references to Host need no
// insecure flags. Every request is counted and logged, and a fault hook
// lets a test make the registry fail, throttle, stall or truncate.
package registrytest

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FaultFunc sees each request before the registry does. Returning true
// means it wrote the response itself and the registry never sees it.
type FaultFunc func(w http.ResponseWriter, req *http.Request) bool

// Registry is a running in-process registry.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of references.
	Host string
	// URL is "http://127.0.0.1:PORT".
	URL string

	server   *httptest.Server
	requests atomic.Int64
	fault    atomic.Pointer[FaultFunc]

	mu  sync.Mutex
	log []string
}

// Option configures New.
type Option func(*options)

type options struct {
	referrers bool
	logf      func(format string, args ...any)
}

// WithoutReferrers serves no OCI 1.1 referrers API, as older registries
// do; clients then fall back to the sha256-<hex> referrers tag.
func WithoutReferrers() Option {
	return func(o *options) { o.referrers = false }
}

// WithLogf sends the registry's own request log to logf (t.Logf, say);
// by default it is discarded.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(o *options) { o.logf = logf }
}

// New starts a registry that is closed when the test ends.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	o := options{referrers: true}
	for _, opt := range opts {
		opt(&o)
	}
	logger := log.New(io.Discard, "", 0)
	if o.logf != nil {
		logger = log.New(logfWriter(o.logf), "registry: ", 0)
	}
	handler := registry.New(registry.WithReferrersSupport(o.referrers), registry.Logger(logger))

	r := &Registry{}
	r.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		r.mu.Lock()
		r.log = append(r.log, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		if f := r.fault.Load(); f != nil && (*f)(w, req) {
			return
		}
		handler.ServeHTTP(w, req)
	}))
	t.Cleanup(r.server.Close)
	r.URL = r.server.URL
	r.Host = strings.TrimPrefix(r.server.URL, "http://")
	return r
}

// Requests is the number of HTTP requests served so far, failed and
// faulted ones included.
func (r *Registry) Requests() int64 { return r.requests.Load() }

// RequestLog is "METHOD PATH" of each request since the last ResetCount,
// in the order they arrived.
func (r *Registry) RequestLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// ResetCount sets the request count to zero and empties the log.
func (r *Registry) ResetCount() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests.Store(0)
	r.log = nil
}

// SetFault installs f in front of the registry; nil removes it.
func (r *Registry) SetFault(f func(w http.ResponseWriter, req *http.Request) bool) {
	if f == nil {
		r.fault.Store(nil)
		return
	}
	ff := FaultFunc(f)
	r.fault.Store(&ff)
}

// Ref is the reference Host/repo:tag.
func (r *Registry) Ref(repo, tag string) string {
	return fmt.Sprintf("%s/%s:%s", r.Host, repo, tag)
}

// PushRandom pushes a random one-layer image as repo:tag and returns its
// reference (Host/repo:tag) and manifest digest ("sha256:…").
func (r *Registry) PushRandom(t testing.TB, repo, tag string) (ref string, digest string) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatalf("making a random image: %v", err)
	}
	ref = r.Ref(repo, tag)
	return ref, r.push(t, ref, img)
}

// PushImage pushes img as repo:tag and returns its reference and digest.
func (r *Registry) PushImage(t testing.TB, repo, tag string, img v1.Image) (ref string, digest string) {
	t.Helper()
	ref = r.Ref(repo, tag)
	return ref, r.push(t, ref, img)
}

// platforms are the platforms PushIndex gives its images, in order.
var platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "arm", Variant: "v7"},
	{OS: "linux", Architecture: "ppc64le"},
	{OS: "linux", Architecture: "s390x"},
	{OS: "linux", Architecture: "386"},
}

// PushIndex pushes an OCI image index of n random platform images
// (linux/amd64, linux/arm64, linux/arm/v7, …) as repo:tag. It returns the
// reference, the index digest and the platform manifests' digests in
// platform order.
func (r *Registry) PushIndex(t testing.TB, repo, tag string, n int) (ref string, indexDigest string, platformDigests []string) {
	t.Helper()
	if n < 1 || n > len(platforms) {
		t.Fatalf("PushIndex: n = %d, want 1 to %d", n, len(platforms))
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i := range n {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatalf("making a random image: %v", err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatalf("hashing a random image: %v", err)
		}
		p := platforms[i]
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &p},
		})
		platformDigests = append(platformDigests, d.String())
	}
	ref = r.Ref(repo, tag)
	tagRef, err := name.NewTag(ref)
	if err != nil {
		t.Fatalf("parsing %s: %v", ref, err)
	}
	if err := remote.WriteIndex(tagRef, idx); err != nil {
		t.Fatalf("pushing index %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatalf("hashing index %s: %v", ref, err)
	}
	return ref, d.String(), platformDigests
}

func (r *Registry) push(t testing.TB, ref string, img v1.Image) string {
	t.Helper()
	tagRef, err := name.NewTag(ref)
	if err != nil {
		t.Fatalf("parsing %s: %v", ref, err)
	}
	if err := remote.Write(tagRef, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("hashing %s: %v", ref, err)
	}
	return d.String()
}

// logfWriter adapts a Logf function to the io.Writer log.Logger wants.
type logfWriter func(format string, args ...any)

func (f logfWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
