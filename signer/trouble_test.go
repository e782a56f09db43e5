package signer_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// faults a registry can show, each answered by the test registry.
var faults = map[string]func(w http.ResponseWriter, r *http.Request) bool{
	"500": func(w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "boom", http.StatusInternalServerError)
		return true
	},
	"429 with Retry-After": func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return true
	},
	"connection dropped": func(w http.ResponseWriter, _ *http.Request) bool {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
		return true
	},
	"slower than the deadline": func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		http.Error(w, "late", http.StatusGatewayTimeout)
		return true
	},
}

// TestRegistryTroubleAndLastKnownGood: while the registry fails, a digest
// verified within cacheTTL is a cache hit from the store; past cacheTTL but
// within maxStale it is admitted from the store, marked stale; beyond
// maxStale, or with last-known-good off, it is refused naming the registry.
func TestRegistryTroubleAndLastKnownGood(t *testing.T) {
	f := newFixture(t)
	trust := compile(t, f.trustConfig(t))
	db := storetest.Open(t, store.SQLite)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func(at time.Time) signer.Option { return signer.WithClock(func() time.Time { return at }) }
	ttl := func(c *config.Verification) { c.CacheTTL = config.Duration{Duration: 10 * time.Minute} }
	lkg := verification(func(c *config.Verification) { ttl(c); c.MaxStale = config.Duration{Duration: time.Hour} })

	_, ref := f.signedAndTested(t, "team/api", "1.0")
	first := signer.New(lkg, trust, signer.WithLastKnownGood(db), clock(now))
	if r := first.Verify(t.Context(), signer.Request{Images: []string{ref}, Trust: []string{"company"}})[0]; !r.Verified {
		t.Fatalf("not verified while the registry is up: %q", r.Errors)
	}
	if err := first.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			f.reg.SetFault(fault)
			defer f.reg.SetFault(nil)
			verify := func(cfg config.Verification, at time.Time) *signer.Result {
				// A new verifier each time: an empty cache, as after a restart.
				v := signer.New(cfg, trust, signer.WithLastKnownGood(db), clock(at))
				ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
				defer cancel()
				return v.Verify(ctx, signer.Request{Images: []string{ref}, Trust: []string{"company"}})[0]
			}

			r := verify(lkg, now.Add(5*time.Minute))
			if !r.Verified || r.Stale || !r.Cached {
				t.Errorf("within cacheTTL: verified=%v stale=%v cached=%v errors %q; want a cache hit from the store", r.Verified, r.Stale, r.Cached, r.Errors)
			}

			r = verify(lkg, now.Add(30*time.Minute))
			if !r.Verified || !r.Stale || !r.VerifiedAt.Equal(now) {
				t.Errorf("within maxStale: verified=%v stale=%v at %v errors %q; want a stale admit from %v", r.Verified, r.Stale, r.VerifiedAt, r.Errors, now)
			}

			r = verify(lkg, now.Add(2*time.Hour))
			wantError(t, r, "beyond maxStale 1h0m0s")
			wantError(t, r, "registry "+f.reg.Host)
			if !r.Unavailable {
				t.Error("a registry failure was not marked unavailable")
			}

			r = verify(verification(ttl), now.Add(30*time.Minute))
			wantError(t, r, "registry "+f.reg.Host)
			if r.Stale {
				t.Error("admitted stale with last-known-good off")
			}
		})
	}
}

// TestRegistryRetriesInsideTheDeadline: a 503 that clears is retried and
// the image verifies; the retries are counted requests.
func TestRegistryRetriesInsideTheDeadline(t *testing.T) {
	f := newFixture(t)
	v := signer.New(verification(nil), compile(t, f.trustConfig(t)))
	_, ref := f.signedAndTested(t, "team/api", "1.0")
	var failures atomic.Int32
	failures.Store(2)
	f.reg.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if failures.Add(-1) < 0 {
			return false
		}
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return true
	})
	f.reg.ResetCount()
	r := verifyOne(t, v, ref)
	if !r.Verified {
		t.Fatalf("not verified after transient 503s: %q", r.Errors)
	}
	if n := failures.Load(); n >= 0 {
		t.Errorf("%d injected failures were never hit", n+1)
	}
}
