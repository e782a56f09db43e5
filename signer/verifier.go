package signer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/singleflight"
	"k8s.io/utils/lru"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/workload"
)

// LastKnownGood keeps successful verifications durably (in the store), by
// the same key as the cache. It is the cache's second tier: a digest
// verified within cacheTTL is answered from it once the memory cache has
// let it go, or after a restart, or on another replica sharing the store;
// and, with maxStale, a digest verified recently can still be admitted
// while its registry is unreachable.
type LastKnownGood interface {
	GetVerification(ctx context.Context, digest, key string) (result []byte, at time.Time, ok bool, err error)
	PutVerifications(ctx context.Context, vs []store.Verification) error
	PruneVerifications(ctx context.Context, before time.Time) (int64, error)
}

// Verifier resolves and verifies image references against the trust
// policies in force. It is safe for concurrent use; SetTrust swaps the
// policies when the configuration is reloaded.
type Verifier struct {
	trust  atomic.Pointer[Trust]
	reg    *registry
	cache  *cache
	tags   *lru.Cache // normalised tag reference → last digest it resolved to
	parsed *lru.Cache // reference as written → parsedRef
	// worked remembers, by keychain key and repository, which of several
	// matching credentials the registry last accepted (see Alternates),
	// when it was not the first.
	worked *lru.Cache
	flight singleflight.Group
	cfg    config.Verification
	opts   options
	stored *keeper // nil without a store
	// lookups count digest lookups by where the verdict came from.
	lookups [numSources]atomic.Int64
}

// Source is where a verdict on a digest came from.
type Source int

const (
	FromMemory   Source = iota // the memory cache
	FromStore                  // the store, the cache's second tier
	FromRegistry               // verified at the registry (or failed there)
	numSources
)

// String is the source's metric label.
func (s Source) String() string {
	return [...]string{"memory", "store", "registry"}[s]
}

// Lookups is how many digest lookups src answered.
func (v *Verifier) Lookups(src Source) int64 { return v.lookups[src].Load() }

// Option configures a Verifier.
type Option func(*options)

type options struct {
	keychain authn.Keychain
	lkg      LastKnownGood
	now      func() time.Time
	log      *slog.Logger
}

// WithKeychain sets the registry credentials used when an admission brings
// none of its own. Default: anonymous.
func WithKeychain(k authn.Keychain) Option { return func(o *options) { o.keychain = k } }

// WithLastKnownGood sets where successful verifications are kept durably.
func WithLastKnownGood(l LastKnownGood) Option { return func(o *options) { o.lkg = l } }

// WithClock replaces time.Now (tests of expiry and maxAge).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets where store failures and the like are reported.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// New returns a Verifier for the verification settings cfg (defaulted, as
// config.Load leaves them) and the compiled trust policies t.
func New(cfg config.Verification, t *Trust, opts ...Option) *Verifier {
	o := options{now: time.Now, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	retries := config.DefaultRetries
	if cfg.Retries != nil {
		retries = *cfg.Retries
	}
	timeout := cmp(cfg.RegistryTimeout.Duration, config.DefaultRegistryTimeout)
	size := cfg.CacheSize
	if size <= 0 {
		size = config.DefaultCacheSize
	}
	v := &Verifier{
		reg:    newRegistry(newRoundTripper(timeout, retries), o.keychain),
		cache:  newCache(size),
		tags:   lru.New(size),
		parsed: lru.New(min(size, maxParsed)),
		worked: lru.New(maxWorked),
		cfg:    cfg,
		opts:   o,
	}
	if o.lkg != nil {
		// Nothing reads a verification older than both cacheTTL and
		// maxStale.
		v.stored = &keeper{lkg: o.lkg, log: o.log, now: o.now,
			keepFor: max(cmp(cfg.CacheTTL.Duration, config.DefaultCacheTTL), cfg.MaxStale.Duration)}
	}
	if t == nil {
		t = &Trust{policies: map[string]*trustPolicy{}}
	}
	v.trust.Store(t)
	return v
}

func cmp(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// SetTrust puts newly compiled trust policies in force. Cached results of
// a policy whose revision changed no longer match any lookup.
func (v *Verifier) SetTrust(t *Trust) { v.trust.Store(t) }

// TrustRevision is the revision of the trust policies in force.
func (v *Verifier) TrustRevision() string { return v.trust.Load().Revision() }

// RegistryRequests is how many HTTP requests were sent to registries.
func (v *Verifier) RegistryRequests() int64 { return v.reg.tr.requests.Load() }

// Request is one admission's images and what governs them.
type Request struct {
	// Images are references as written; duplicates are verified once.
	Images []string
	// Trust names the trust policies the namespace binding allows.
	Trust []string
	// Keychain carries the admission's own credentials (pull secrets);
	// KeychainKey names them for reuse across admissions. Nil: the
	// verifier's default keychain.
	Keychain    authn.Keychain
	KeychainKey string
	// DryRun: nothing is written to the cache or the store.
	DryRun bool
}

// Verify resolves and verifies each distinct reference of req, in the order
// first written. Distinct references run concurrently; concurrent
// admissions of the same digest share one verification.
func (v *Verifier) Verify(ctx context.Context, req Request) []*Result {
	var refs []string
	seen := make(map[string]bool, len(req.Images))
	for _, r := range req.Images {
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	out := make([]*Result, len(refs))
	trust := v.trust.Load()
	var once sync.Once
	var acc access
	var accErr error
	getAccess := func() (access, error) {
		once.Do(func() {
			p, err := v.reg.puller(req.KeychainKey, req.Keychain)
			acc, accErr = access{ctx: ctx, puller: p, key: req.KeychainKey}, err
		})
		return acc, accErr
	}
	// The first reference runs here: a single image (a Pod, a warm
	// lookup) costs no goroutine.
	var wg sync.WaitGroup
	for i := 1; i < len(refs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = v.verifyRef(ctx, trust, req, refs[i], getAccess)
		}()
	}
	if len(refs) > 0 {
		out[0] = v.verifyRef(ctx, trust, req, refs[0], getAccess)
	}
	wg.Wait()
	return out
}

// verifyRef is one reference: parse, match a trust policy (before any
// network call), resolve, then the cache, the shared verification, and
// last-known-good when the registry cannot be reached.
func (v *Verifier) verifyRef(ctx context.Context, trust *Trust, req Request, ref string, getAccess func() (access, error)) *Result {
	res := &Result{Ref: ref, Authorities: []Signer{}, Attestations: []Attestation{}, Errors: []string{}}
	parsed := v.parse(ref)
	if parsed.err != nil {
		res.Errors = append(res.Errors, parsed.err.Error())
		return res
	}
	img, repo := parsed.img, parsed.repo
	res.Normalized, res.Tag = img.Normalized(), img.Tag
	p := trust.match(req.Trust, img.Name())
	if p == nil {
		res.Errors = append(res.Errors, fmt.Sprintf("%v %s%s", errNoTrustPolicy, img.Name(), boundList(req.Trust)))
		return res
	}
	res.TrustPolicy = p.name
	acc, err := getAccess()
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		return res
	}
	alts, ok := req.Keychain.(Alternates)
	if !ok {
		return v.verifyWith(acc, req, img, repo, p, *res)
	}
	return v.verifyAlternates(ctx, acc, alts, req, img, repo, p, res)
}

// verifyAlternates verifies with each credential alts holds for repo in
// turn, until one is not refused: the one that last worked for this
// keychain and repository first (worked), so a stale secret named before a
// current one costs one refused request, not one per admission; then the
// others from the first. acc gives the first credential.
func (v *Verifier) verifyAlternates(ctx context.Context, acc access, alts Alternates, req Request, img workload.Image, repo name.Repository, p *trustPolicy, res *Result) *Result {
	memo := req.KeychainKey + "|" + repo.Name()
	first := 0
	remembered, known := v.worked.Get(memo)
	if known {
		if _, still := alts.Alternate(repo, remembered.(int)); still {
			first = remembered.(int)
		}
	}
	// order(i) is the i-th candidate tried: first, then 0, 1, … without it.
	order := func(i int) int {
		switch {
		case first == 0:
			return i
		case i == 0:
			return first
		case i <= first:
			return i - 1
		}
		return i
	}
	var got *Result
	tried, used := 0, 0
	for i := 0; got == nil || got.refused; i++ {
		n := order(i)
		a := acc
		if n > 0 {
			kc, more := alts.Alternate(repo, n)
			if !more {
				if tried > 1 {
					got.Errors = append(got.Errors, fmt.Sprintf("registry %s refused each of the %d credentials that match %s", repo.RegistryStr(), tried, repo.Name()))
				}
				break
			}
			key := fmt.Sprintf("%s|%d", req.KeychainKey, n)
			pl, err := v.reg.puller(key, kc)
			if err != nil { // ends the search with its error
				if got == nil {
					got = new(*res)
				}
				got.Errors = append(got.Errors, err.Error())
				return got
			}
			a = access{ctx: ctx, puller: pl, key: key}
		}
		got, used = v.verifyWith(a, req, img, repo, p, *res), n
		tried++
	}
	switch {
	case got.refused || used == 0:
		if known {
			v.worked.Remove(memo)
		}
	case used != first:
		v.worked.Add(memo, used)
	}
	return got
}

// maxWorked bounds the credentials remembered as having worked: one per
// keychain and repository where the first credential was refused, which a
// healthy cluster has few of.
const maxWorked = 1024

// verifyWith resolves img and verifies its digest with the credentials of
// acc, filling in a copy of res, the reference's facts so far.
func (v *Verifier) verifyWith(acc access, req Request, img workload.Image, repo name.Repository, p *trustPolicy, res Result) *Result {
	digest, staleTag, err := v.resolve(acc, img, repo)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		res.Unavailable = errors.Is(err, ErrRegistry)
		res.refused = isRefused(err)
		return &res
	}
	got := v.lookupRef(acc, req, img, repo.Digest(digest), p) // index coverage: index.go
	got.Ref, got.Normalized, got.Tag, got.TrustPolicy = res.Ref, res.Normalized, res.Tag, p.name
	if staleTag {
		got.Stale = true
	}
	return got
}

// Alternates is a keychain that may hold several credentials for one
// image, as a pod's pull secrets may (two secrets for one registry, one of
// them stale): the kubelet tries each in turn until the registry accepts
// one, and so does Verify when the registry refuses the credentials
// Resolve gave (401 or 403).
type Alternates interface {
	authn.Keychain
	// Alternate returns the keychain that gives target its n-th matching
	// credential, counting from 0 (what Resolve gives); false when target
	// has no n-th.
	Alternate(target authn.Resource, n int) (authn.Keychain, bool)
}

func boundList(names []string) string {
	if len(names) == 0 {
		return " (the namespace binding names no trust policy)"
	}
	return " (trust policies bound here: " + strings.Join(names, ", ") + ")"
}

// resolve returns the digest img names: as written, or by asking the
// registry what the tag points at now (concurrent admissions share one
// request). When the registry cannot be reached and last-known-good is on,
// the digest the tag last resolved to here is used, marked stale.
func (v *Verifier) resolve(acc access, img workload.Image, repo name.Repository) (string, bool, error) {
	if img.Digest != "" {
		return img.Digest, false, nil
	}
	tag := repo.Tag(img.Tag)
	key := tag.Name()
	d, err, _ := v.flight.Do(acc.flightKey("tag|"+key), func() (any, error) { return acc.resolve(tag) })
	if err == nil {
		v.tags.Add(key, d.(string))
		return d.(string), false, nil
	}
	err = registryError(repo.RegistryStr(), err)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return "", false, fmt.Errorf("resolving %s: tag %s not found in %s", img.Ref, img.Tag, repo.Name())
	}
	if errors.Is(err, ErrRegistry) && v.cfg.MaxStale.Duration > 0 {
		if last, ok := v.tags.Get(key); ok {
			return last.(string), true, nil
		}
	}
	return "", false, fmt.Errorf("resolving %s: %w", img.Ref, err)
}

// lookup is the verification of one digest under one policy: from the
// cache, or shared with concurrent admissions of the same digest, or from
// last-known-good when the registry cannot be reached.
func (v *Verifier) lookup(acc access, req Request, d name.Digest, p *trustPolicy) *Result {
	key := keyOf(d.DigestStr(), p, "")
	now := v.opts.now()
	if r, ok := v.cache.get(key, d.DigestStr(), p, now); ok {
		v.lookups[FromMemory].Add(1)
		return r
	}
	skey := storeKey(d.DigestStr(), p)
	ch := v.flight.DoChan(acc.flightKey(skey), func() (any, error) {
		// The shared work outlives any one caller's cancellation but not
		// the first caller's deadline.
		ctx := context.WithoutCancel(acc.ctx)
		if dl, ok := acc.ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl)
			defer cancel()
		}
		if res, expires := v.fromStore(ctx, d.DigestStr(), skey, now); res != nil {
			// Cached in memory even for a dry run: nothing is written.
			v.cache.put(key, res, expires)
			return flightResult{res: res, kept: true, source: FromStore}, nil
		}
		res := verifyDigest(access{ctx: ctx, puller: acc.puller, key: acc.key}, d, p, v.opts.now())
		// Kept before the flight ends, so an admission arriving between
		// its end and its callers' return finds it rather than starting
		// the same verification again.
		kept := !req.DryRun && !res.Unavailable && !res.refused
		if kept {
			v.keep(key, skey, res, now)
		}
		return flightResult{res: res, kept: kept, source: FromRegistry}, nil
	})
	var res *Result
	kept := false
	select {
	case r := <-ch:
		out := r.Val.(flightResult)
		res, kept = out.res.clone(), out.kept
		v.lookups[out.source].Add(1)
	case <-acc.ctx.Done():
		v.lookups[FromRegistry].Add(1)
		res = &Result{Digest: d.DigestStr(), TrustPolicy: p.name, Unavailable: true, Authorities: []Signer{}, Attestations: []Attestation{},
			Errors: []string{fmt.Sprintf("verifying %s: %v: registry %s did not answer within the admission's deadline", d.DigestStr(), ErrRegistry, d.RegistryStr())}}
	}
	if res.Unavailable {
		return v.lastKnownGood(acc.ctx, skey, res)
	}
	if !req.DryRun && !kept && !res.refused { // the flight was a dry run's
		v.keep(key, skey, res, now)
	}
	return res
}

// flightResult is a shared verification and whether it was kept (cached,
// and remembered as last-known-good), which a dry run's is not.
type flightResult struct {
	res    *Result
	kept   bool
	source Source
}

// keep caches res (long for a verdict, short for a failure) and remembers
// a verdict as last-known-good.
func (v *Verifier) keep(key cacheKey, skey string, res *Result, now time.Time) {
	ttl := v.cfg.FailureTTL.Duration
	if res.Verified {
		ttl = v.cfg.CacheTTL.Duration
	}
	v.cache.put(key, res, now.Add(cmp(ttl, config.DefaultFailureTTL)))
	if res.Verified {
		v.remember(skey, res)
	}
}

// storeKey is how a verification of digest under p is named in
// last-known-good and among the verifications in flight: digest, policy
// name and revision.
func storeKey(digest string, p *trustPolicy) string {
	return digest + "|" + p.name + "|" + p.revision
}

// remember queues a successful verification to be kept in the store (see
// keeper). A verdict that cannot be encoded is logged, not fatal: the
// verification itself stands.
func (v *Verifier) remember(key string, res *Result) {
	if v.stored == nil {
		return
	}
	b, err := json.Marshal(res)
	if err != nil {
		v.opts.log.Warn("keeping a verification in the store", "digest", res.Digest, "error", err)
		return
	}
	v.stored.add(store.Verification{Digest: res.Digest, Key: key, Result: b, At: res.VerifiedAt})
}

// lastKnownGood answers for a digest whose registry cannot be reached: the
// stored verification if it is within maxStale, else the failure.
func (v *Verifier) lastKnownGood(ctx context.Context, key string, failed *Result) *Result {
	max := v.cfg.MaxStale.Duration
	if max <= 0 || v.opts.lkg == nil {
		return failed
	}
	b, at, ok, err := v.opts.lkg.GetVerification(context.WithoutCancel(ctx), failed.Digest, key)
	if err != nil {
		failed.Errors = append(failed.Errors, "reading last-known-good: "+err.Error())
		return failed
	}
	if !ok {
		return failed
	}
	age := v.opts.now().Sub(at)
	if age > max {
		failed.Errors = append(failed.Errors, fmt.Sprintf("last verified %s ago, beyond maxStale %s", age.Round(time.Second), max))
		return failed
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil || !res.Verified {
		return failed
	}
	res.Stale, res.VerifiedAt = true, at
	return &res
}
