package signer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// TestStoreIsTheCacheSecondTier: a verdict the memory cache has let go,
// or that a restarted verifier never had, is read back from the store
// without a registry request, until cacheTTL after it was made. Failures,
// dry runs and another trust revision are not served from it.
func TestStoreIsTheCacheSecondTier(t *testing.T) {
	f := newFixture(t)
	trust := compile(t, f.trustConfig(t))
	db := storetest.Open(t, store.SQLite)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	small := verification(func(c *config.Verification) { c.CacheSize = 2 })
	newVerifier := func(at time.Time, tr *signer.Trust) *signer.Verifier {
		return signer.New(small, tr, signer.WithLastKnownGood(db), signer.WithClock(func() time.Time { return at }))
	}
	var refs []string
	for _, repo := range []string{"team/a", "team/b", "team/c"} {
		_, ref := f.signedAndTested(t, repo, "1.0")
		refs = append(refs, ref)
	}
	unsigned, _ := f.image(t, "team/unsigned", "1.0")

	// requests is how many registry requests verifying ref made.
	requests := func(v *signer.Verifier, ref string, dryRun bool) (*signer.Result, int64) {
		t.Helper()
		f.reg.ResetCount()
		ctx, cancel := contextWithTimeout(t, 10*time.Second)
		defer cancel()
		r := v.Verify(ctx, signer.Request{Images: []string{ref}, Trust: []string{"company"}, DryRun: dryRun})[0]
		return r, f.reg.Requests()
	}
	flush := func(v *signer.Verifier) {
		t.Helper()
		if err := v.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	v := newVerifier(now, trust)
	for _, ref := range refs {
		if r, n := requests(v, ref, false); !r.Verified || n == 0 {
			t.Fatalf("%s: verified=%v with %d registry requests; want verified at the registry: %q", ref, r.Verified, n, r.Errors)
		}
	}
	if r, _ := requests(v, unsigned, false); r.Verified {
		t.Fatal("an unsigned image verified")
	}
	flush(v)

	if got := [3]int64{v.Lookups(signer.FromMemory), v.Lookups(signer.FromStore), v.Lookups(signer.FromRegistry)}; got != [3]int64{0, 0, 4} {
		t.Errorf("lookups from memory, store, registry = %v, want [0 0 4]", got)
	}
	// refs[0] is out of the two-entry memory cache.
	if r, n := requests(v, refs[0], false); !r.Verified || !r.Cached || n != 0 || !r.VerifiedAt.Equal(now) {
		t.Errorf("evicted from memory: verified=%v cached=%v at %v with %d registry requests; want the kept verdict of %v, no request", r.Verified, r.Cached, r.VerifiedAt, n, now)
	}
	requests(v, refs[0], false) // now in memory again
	if got := [3]int64{v.Lookups(signer.FromMemory), v.Lookups(signer.FromStore), v.Lookups(signer.FromRegistry)}; got != [3]int64{1, 1, 4} {
		t.Errorf("lookups from memory, store, registry = %v, want [1 1 4]", got)
	}
	// A restart: an empty memory cache, the same store.
	later := newVerifier(now.Add(59*time.Minute), trust)
	for _, ref := range refs {
		if r, n := requests(later, ref, false); !r.Verified || !r.Cached || n != 0 {
			t.Errorf("%s after a restart: verified=%v cached=%v with %d registry requests; want it from the store", ref, r.Verified, r.Cached, n)
		}
	}
	if r, n := requests(later, unsigned, false); r.Verified || n == 0 {
		t.Errorf("a failed verification after a restart: verified=%v with %d registry requests; want it verified again, and failing", r.Verified, n)
	}

	// cacheTTL (one hour) after it was made, a verdict is made again, and
	// the new one is kept.
	expired := newVerifier(now.Add(61*time.Minute), trust)
	if r, n := requests(expired, refs[1], false); !r.Verified || r.Cached || n == 0 || !r.VerifiedAt.Equal(now.Add(61*time.Minute)) {
		t.Errorf("past cacheTTL: verified=%v cached=%v at %v with %d registry requests; want a new verification", r.Verified, r.Cached, r.VerifiedAt, n)
	}
	flush(expired)
	if r, n := requests(newVerifier(now.Add(90*time.Minute), trust), refs[1], false); !r.Cached || n != 0 || !r.VerifiedAt.Equal(now.Add(61*time.Minute)) {
		t.Errorf("the new verdict: cached=%v at %v with %d registry requests; want it from the store", r.Cached, r.VerifiedAt, n)
	}

	// Another revision of the trust policy does not read this one's.
	cfg := f.trustConfig(t)
	cfg.Trust[0].Signatures.Authorities[0].Name = "release-2"
	if r, n := requests(newVerifier(now.Add(time.Minute), compile(t, cfg)), refs[2], false); !r.Verified || r.Cached || n == 0 {
		t.Errorf("under another trust revision: verified=%v cached=%v with %d registry requests; want it verified again", r.Verified, r.Cached, n)
	}

	// Writing prunes what nothing can read any more: older than cacheTTL
	// (maxStale is off here). The first write after a start prunes.
	pruner := newVerifier(now.Add(3*time.Hour), trust)
	_, newer := f.signedAndTested(t, "team/e", "1.0")
	if r, _ := requests(pruner, newer, false); !r.Verified {
		t.Fatalf("not verified: %q", r.Errors)
	}
	flush(pruner)
	var left int
	if err := db.SQL().QueryRowContext(t.Context(), "SELECT count(*) FROM verifications WHERE verified_at < ?", now.Add(2*time.Hour).UnixNano()).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d verifications older than cacheTTL left after a write (%v), want 0", left, err)
	}
	if err := db.SQL().QueryRowContext(t.Context(), "SELECT count(*) FROM verifications").Scan(&left); err != nil || left != 1 {
		t.Errorf("%d verifications kept after pruning (%v), want the new one", left, err)
	}

	// A dry run keeps nothing.
	_, fresh := f.signedAndTested(t, "team/d", "1.0")
	dry := newVerifier(now, trust)
	if r, n := requests(dry, fresh, true); !r.Verified || n == 0 {
		t.Fatalf("dry run: verified=%v with %d registry requests", r.Verified, n)
	}
	flush(dry)
	if r, n := requests(newVerifier(now, trust), fresh, false); r.Cached || n == 0 {
		t.Errorf("after a dry run: cached=%v with %d registry requests; want nothing kept", r.Cached, n)
	}
}

// failingStore is a store whose reads and writes fail, counting them.
type failingStore struct{ gets, puts atomic.Int32 }

func (s *failingStore) GetVerification(context.Context, string, string) ([]byte, time.Time, bool, error) {
	s.gets.Add(1)
	return nil, time.Time{}, false, errors.New("store down")
}

func (s *failingStore) PutVerifications(context.Context, []store.Verification) error {
	s.puts.Add(1)
	return errors.New("store down")
}

func (s *failingStore) PruneVerifications(context.Context, time.Time) (int64, error) {
	return 0, errors.New("store down")
}

// TestStoreDownVerifiesAtTheRegistry: while the store fails, verification
// goes on at the registry, and what could not be kept waits for the next
// write.
func TestStoreDownVerifiesAtTheRegistry(t *testing.T) {
	f := newFixture(t)
	s := &failingStore{}
	v := signer.New(verification(nil), compile(t, f.trustConfig(t)), signer.WithLastKnownGood(s))
	_, ref := f.signedAndTested(t, "team/api", "1.0")
	if r := verifyOne(t, v, ref); !r.Verified || r.Cached {
		t.Fatalf("with the store down: verified=%v cached=%v %q; want verified at the registry", r.Verified, r.Cached, r.Errors)
	}
	if s.gets.Load() != 1 {
		t.Errorf("%d store reads, want 1", s.gets.Load())
	}
	if err := v.Flush(t.Context()); err == nil {
		t.Error("Flush reported no error with the store down")
	}
	if err := v.Flush(t.Context()); err == nil {
		t.Error("the verification that could not be kept was not tried again")
	}
}

// hangingStore is a store that never answers a read before its context
// ends.
type hangingStore struct{ failingStore }

func (s *hangingStore) GetVerification(ctx context.Context, _, _ string) ([]byte, time.Time, bool, error) {
	s.gets.Add(1)
	<-ctx.Done()
	return nil, time.Time{}, false, ctx.Err()
}

// TestStoreThatHangsLeavesTimeForTheRegistry: a store read that never
// answers is given up well before the admission's deadline, so the digest
// is still verified at its registry.
func TestStoreThatHangsLeavesTimeForTheRegistry(t *testing.T) {
	f := newFixture(t)
	s := &hangingStore{}
	v := signer.New(verification(nil), compile(t, f.trustConfig(t)), signer.WithLastKnownGood(s))
	_, ref := f.signedAndTested(t, "team/api", "1.0")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	r := v.Verify(ctx, signer.Request{Images: []string{ref}, Trust: []string{"company"}})[0]
	if !r.Verified || s.gets.Load() != 1 {
		t.Errorf("with the store hanging: verified=%v after %d store reads, errors %q; want verified at the registry", r.Verified, s.gets.Load(), r.Errors)
	}
}
