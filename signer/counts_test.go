package signer_test

import (
	"sync"
	"testing"

	"github.com/shipgate/shipgate/signer"
)

// TestRegistryRequestCounts counts, never times: concurrent admissions of
// one new digest share one verification, and a warm admission makes at
// most one registry request.
func TestRegistryRequestCounts(t *testing.T) {
	f := newFixture(t)
	v := signer.New(verification(nil), compile(t, f.trustConfig(t)))
	_, warmup := f.signedAndTested(t, "team/app", "warmup")
	_, second := f.signedAndTested(t, "team/app", "second")
	tag, third := f.signedAndTested(t, "team/app", "third")

	// The first verification in a repository also pings the registry and
	// exchanges tokens; the second shows what one verification costs.
	if r := verifyOne(t, v, warmup); !r.Verified {
		t.Fatalf("warm-up not verified: %q", r.Errors)
	}
	f.reg.ResetCount()
	if r := verifyOne(t, v, second); !r.Verified {
		t.Fatalf("not verified: %q", r.Errors)
	}
	one := f.reg.Requests()
	if one == 0 {
		t.Fatal("a fresh verification made no registry request")
	}

	f.reg.ResetCount()
	const admissions = 100
	var wg sync.WaitGroup
	results := make([]*signer.Result, admissions)
	for i := range admissions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = v.Verify(t.Context(), signer.Request{Images: []string{third}, Trust: []string{"company"}})[0]
		}()
	}
	wg.Wait()
	for i, r := range results {
		if !r.Verified {
			t.Fatalf("admission %d not verified: %q", i, r.Errors)
		}
	}
	if n := f.reg.Requests(); n != one {
		t.Errorf("%d concurrent admissions of one new digest made %d registry requests, want %d (one verification): %q", admissions, n, one, f.reg.RequestLog())
	}

	// A warm Deployment admission: four containers name one tag.
	f.reg.ResetCount()
	rs := v.Verify(t.Context(), signer.Request{Images: []string{tag, tag, tag, tag}, Trust: []string{"company"}})
	if len(rs) != 1 || !rs[0].Verified || !rs[0].Cached {
		t.Fatalf("warm tag admission: %d results, first %+v", len(rs), rs[0])
	}
	if n := f.reg.Requests(); n > 1 {
		t.Errorf("a warm admission naming one tag four times made %d registry requests, want at most 1: %q", n, f.reg.RequestLog())
	}

	// By digest, a warm admission makes none.
	f.reg.ResetCount()
	rs = v.Verify(t.Context(), signer.Request{Images: []string{third, third, third, third}, Trust: []string{"company"}})
	if !rs[0].Verified {
		t.Fatalf("not verified: %q", rs[0].Errors)
	}
	if n := f.reg.Requests(); n != 0 {
		t.Errorf("a warm admission by digest made %d registry requests, want 0: %q", n, f.reg.RequestLog())
	}

	// A dry run verifies the same but leaves nothing in the cache.
	_, fourth := f.signedAndTested(t, "team/app", "fourth")
	dry := v.Verify(t.Context(), signer.Request{Images: []string{fourth}, Trust: []string{"company"}, DryRun: true})[0]
	if !dry.Verified {
		t.Fatalf("dry run not verified: %q", dry.Errors)
	}
	if r := verifyOne(t, v, fourth); r.Cached {
		t.Error("a dry run's verification was cached")
	}
}
