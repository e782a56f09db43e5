package signedtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/signer"
)

// Blocking stands in for a registry that does not answer: each Verify
// says it has started, then waits for Release (or its deadline) and
// verifies every image. Tests of overload and shutdown hold admissions in
// flight with it.
type Blocking struct {
	entered chan struct{}
	release chan struct{}
}

// NewBlocking returns a verifier that holds every call until Release.
func NewBlocking() *Blocking {
	return &Blocking{entered: make(chan struct{}, 64), release: make(chan struct{})}
}

// Verify waits, then reports every image verified.
func (b *Blocking) Verify(ctx context.Context, req signer.Request) []*signer.Result {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	out := make([]*signer.Result, len(req.Images))
	for i, ref := range req.Images {
		out[i] = &signer.Result{Ref: ref, TrustPolicy: "test", Verified: true, Digest: "sha256:" + strings.Repeat("ab", 32)}
	}
	return out
}

// Release lets every held and later call through.
func (b *Blocking) Release() { close(b.release) }

// WaitEntered waits for n calls to start; the bound only keeps a broken
// build from hanging.
func (b *Blocking) WaitEntered(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-b.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d admissions reached the verifier", i, n)
		}
	}
}
