package signer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
)

// registry is shipgate's access to registries: one transport (counted,
// time-bounded, retrying), and one Puller per keychain so token exchanges
// and the /v2/ ping are made once per repository, not once per call.
type registry struct {
	tr       *roundTripper
	keychain authn.Keychain

	mu      sync.Mutex
	pullers map[string]*remote.Puller
}

func newRegistry(tr *roundTripper, kc authn.Keychain) *registry {
	if kc == nil {
		kc = authn.NewMultiKeychain() // anonymous
	}
	return &registry{tr: tr, keychain: kc, pullers: make(map[string]*remote.Puller)}
}

// maxPullers bounds the pullers kept for pull-secret keychains.
const maxPullers = 256

// puller returns the Puller for a keychain; key names it ("" for the
// default keychain, else the namespace and pull secrets it was built from).
func (r *registry) puller(key string, kc authn.Keychain) (*remote.Puller, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.pullers[key]; ok {
		return p, nil
	}
	if kc == nil {
		kc = r.keychain
	}
	p, err := remote.NewPuller(
		remote.WithTransport(r.tr),
		remote.WithAuthFromKeychain(kc),
		// Retries are the transport's, which knows the deadline.
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithUserAgent("shipgate"),
	)
	if err != nil {
		return nil, fmt.Errorf("setting up registry access: %w", err)
	}
	if len(r.pullers) >= maxPullers {
		clear(r.pullers)
	}
	r.pullers[key] = p
	return p, nil
}

// access is registry access for one admission: its context and keychain,
// and the key that names the keychain (Request.KeychainKey, "" for the
// verifier's own), which keeps registry calls shared between admissions to
// those made with the same credentials.
type access struct {
	ctx    context.Context
	puller *remote.Puller
	key    string
}

// flightKey is what a registry call is shared under between concurrent
// admissions: what it asks, and with which credentials.
func (a access) flightKey(what string) string {
	return what + "\x00" + a.key
}

func (a access) remote() []remote.Option {
	return []remote.Option{remote.Reuse(a.puller), remote.WithContext(a.ctx)}
}

func (a access) oci() []ociremote.Option {
	return []ociremote.Option{ociremote.WithRemoteOptions(a.remote()...)}
}

// resolve asks the registry which digest a tag names: one HEAD request.
func (a access) resolve(ref name.Reference) (string, error) {
	desc, err := a.puller.Head(a.ctx, ref)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// ErrRegistry marks a failure to talk to a registry, as opposed to a
// verdict about the image: last-known-good applies only to these.
var ErrRegistry = errors.New("registry unavailable")

// refusedError is a registry's 401 or 403. It is a fact about the
// credentials sent, not about the image: a verdict resting on it is never
// cached, nor shared with an admission that brings other credentials, and
// the next credential that matches the image, if any, is tried (see
// Alternates).
type refusedError struct {
	host string
	code int
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("registry %s refused access (%d): check the pull secrets or registry credentials", e.host, e.code)
}

// isRefused reports whether err is, or wraps, a registry's refusal.
func isRefused(err error) bool {
	var r *refusedError
	return errors.As(err, &r)
}

// registryError wraps a failed registry call: a 404 is a fact about the
// image; anything else (timeouts, refused connections, 429, 5xx) is the
// registry's trouble, marked with ErrRegistry and told in plain words.
func registryError(host string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound:
			return err
		case te.StatusCode == http.StatusTooManyRequests:
			return fmt.Errorf("%w: registry %s is rate limiting (429 Too Many Requests)", ErrRegistry, host)
		case te.StatusCode >= 500:
			return fmt.Errorf("%w: registry %s answered %d %s", ErrRegistry, host, te.StatusCode, http.StatusText(te.StatusCode))
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return &refusedError{host: host, code: te.StatusCode}
		}
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: registry %s did not answer within the admission's deadline", ErrRegistry, host)
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) {
		return fmt.Errorf("%w: registry %s could not be reached: %v", ErrRegistry, host, err)
	}
	return err
}
