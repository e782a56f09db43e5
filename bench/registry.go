package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/shipgate/shipgate/signer"
)

// testRegistry is go-containerregistry's registry (with the OCI 1.1
// referrers API) on a loopback port, behind a handler that counts every
// request. go-containerregistry and cosign speak plain HTTP to 127.0.0.1,
// so references to it need no insecure flags.
type testRegistry struct {
	host     string // 127.0.0.1:PORT
	server   *http.Server
	requests atomic.Int64
	heads    atomic.Int64 // HEAD requests for manifests: tag resolutions
	mu       sync.Mutex
	kinds    map[string]int64 // "GET manifest by tag" → count
}

func startRegistry() (*testRegistry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the registry: %w", err)
	}
	h := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	r := &testRegistry{host: ln.Addr().String(), kinds: map[string]int64{}}
	r.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		if req.Method == http.MethodHead && strings.Contains(req.URL.Path, "/manifests/") {
			r.heads.Add(1)
		}
		k := requestKind(req)
		r.mu.Lock()
		r.kinds[k]++
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	})}
	go r.server.Serve(ln)
	return r, nil
}

func (r *testRegistry) close() { r.server.Close() }

// requestKind names what a registry request asks for: "HEAD manifest by
// tag", "GET blob", "GET referrers", ….
func requestKind(req *http.Request) string {
	p := req.URL.Path
	switch {
	case strings.Contains(p, "/manifests/"):
		ref := p[strings.LastIndex(p, "/")+1:]
		if strings.HasPrefix(ref, "sha256:") {
			return req.Method + " manifest by digest"
		}
		if strings.HasPrefix(ref, "sha256-") {
			return req.Method + " manifest of a .sig/.att tag"
		}
		return req.Method + " manifest by tag"
	case strings.Contains(p, "/blobs/"):
		return req.Method + " blob"
	case strings.Contains(p, "/referrers/"):
		return req.Method + " referrers"
	case p == "/v2/" || p == "/v2":
		return req.Method + " /v2/ (version check)"
	}
	return req.Method + " " + p
}

// kindCounts is a copy of the counts by kind.
func (r *testRegistry) kindCounts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.kinds))
	for k, v := range r.kinds {
		out[k] = v
	}
	return out
}

// counts is what the registry served since start.
func (r *testRegistry) counts() (requests, heads int64) {
	return r.requests.Load(), r.heads.Load()
}

// signers are the two keys of the trust policy: the release key signs
// images, the CI key attests their test results.
type signers struct {
	release, ci signature.SignerVerifier
}

func newSigners() (*signers, error) {
	mk := func() (signature.SignerVerifier, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	}
	release, err := mk()
	if err != nil {
		return nil, fmt.Errorf("making the release key: %w", err)
	}
	ci, err := mk()
	if err != nil {
		return nil, fmt.Errorf("making the CI key: %w", err)
	}
	return &signers{release: release, ci: ci}, nil
}

// publicPEM is sv's public key as PEM, as cosign writes cosign.pub.
func publicPEM(sv signature.SignerVerifier) (string, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return "", err
	}
	b, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// passedPredicate is the test-result predicate CI attests.
var passedPredicate = func() []byte {
	b, err := json.Marshal(signer.TestResult{Result: signer.TestsPassed, Configuration: []signer.ResourceDescriptor{},
		PassedTests: []string{"TestCheckout", "TestRefund", "TestInventory"}})
	if err != nil {
		panic(err)
	}
	return b
}()

// baseImage is the image every pushed image derives from: one small random
// layer, shared, so pushing many images costs a manifest each.
var baseImage = sync.OnceValues(func() (v1.Image, error) { return random.Image(1024, 1) })

// push pushes an image as repo:tag, distinct from every other by an
// annotation, signs it with the release key and attests a passed test
// result with the CI key, all in Go as CI would with cosign. It returns
// the reference by tag and the digest.
func (r *testRegistry) push(ctx context.Context, s *signers, repo, tag string) (ref, digest string, err error) {
	base, err := baseImage()
	if err != nil {
		return "", "", err
	}
	img := mutate.Annotations(base, map[string]string{"dev.shipgate.bench/image": repo + ":" + tag}).(v1.Image)
	ref = r.host + "/" + repo + ":" + tag
	t, err := name.NewTag(ref)
	if err != nil {
		return "", "", err
	}
	if err := remote.Write(t, img, remote.WithContext(ctx)); err != nil {
		return "", "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", "", err
	}
	if _, err := signer.Sign(ctx, t, s.release); err != nil {
		return "", "", err
	}
	if _, err := signer.Attest(ctx, t, signer.TestResultPredicateType, passedPredicate, s.ci); err != nil {
		return "", "", err
	}
	return ref, d.String(), nil
}

// pushed is one image in the registry.
type pushed struct{ ref, digest string }

// pushMany pushes repo:tag(i) for i in [0, n) with workers in parallel.
func (r *testRegistry) pushMany(ctx context.Context, s *signers, repo string, n, workers int, tag func(int) string) ([]pushed, error) {
	out := make([]pushed, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range n {
		g.Go(func() error {
			ref, d, err := r.push(ctx, s, repo, tag(i))
			out[i] = pushed{ref, d}
			return err
		})
	}
	return out, g.Wait()
}
