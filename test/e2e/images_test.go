package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// The images the signing scenarios push to the run's registry (tags, in
// repo:tag form; Ref makes them full references).
const (
	// webTag is signed by the release key and its tests PASSED (CI key).
	// Later someone pushes an unsigned rebuild over it.
	webTag = "team-a/web:1.0.0"
	// webLatest names the same signed, tested digest as webTag.
	webLatest = "team-a/web:latest"
	// cartTag's tests PASSED, but nobody signed it.
	cartTag = "team-a/cart:3.0.0"
	// checkoutTag is signed, but its tests FAILED.
	checkoutTag = "team-a/checkout:2.7.1"
	// reportTag is signed and tested: the CronJob's image.
	reportTag = "team-a/report:1.0.0"
	// debugUnsigned is a debugging image nobody signed; debugSigned one
	// that is signed and tested.
	debugUnsigned = "tools/debug:1.0"
	debugSigned   = "tools/debug:1.1"
	// apiTag is signed and tested: the production rollout's image.
	apiTag = "payments/api:2.0.0"
)

// The failed tests of checkoutTag's test result, which the denial lists.
var checkoutFailed = []string{"TestRefundRoundsHalfUp", "TestTaxForEU"}

// images is what CI did in the run's registry: the digests it pushed,
// signed and attested, by tag, and the keys it used.
type images struct {
	reg     *harness.Registry
	release harness.KeyPair
	ci      harness.KeyPair
	digests map[string]string
}

// Ref is the full reference of a repo:tag in the run's registry.
func (im *images) Ref(repoTag string) string { return im.reg.Ref(repoTag) }

// Digest is the digest CI pushed for repoTag.
func (im *images) Digest(repoTag string) string { return im.digests[repoTag] }

// Pinned is repoTag pinned to the digest CI pushed for it, as /mutate
// writes it: repo:tag@sha256:….
func (im *images) Pinned(repoTag string) string { return im.Ref(repoTag) + "@" + im.Digest(repoTag) }

// byDigest is repoTag's repository at a digest, the reference cosign signs.
func (im *images) byDigest(repoTag string) string {
	repo, _, _ := strings.Cut(repoTag, ":")
	return im.reg.Ref(repo) + "@" + im.Digest(repoTag)
}

// testResult is an in-toto test-result predicate.
func testResult(result string, passed, failed []string) []byte {
	b, _ := json.Marshal(map[string]any{
		"result":        result,
		"configuration": []map[string]string{{"name": "ci", "uri": "https://ci.example/shipgate-e2e/pipeline.yml"}},
		"url":           "https://ci.example/shipgate-e2e/runs/1",
		"passedTests":   passed,
		"failedTests":   failed,
	})
	return b
}

// pushAndSign is CI: it makes the release and CI key pairs with cosign,
// pushes every image with crane, signs and attests them with the cosign
// CLI (offline, no transparency log), and checks with cosign verify that
// the signed image verifies as cosign itself sees it.
func pushAndSign(ctx context.Context, cs *harness.Cosign, reg *harness.Registry, logf func(string, ...any)) (*images, error) {
	im := &images{reg: reg, digests: map[string]string{}}
	var err error
	start := time.Now()
	if im.release, err = cs.GenerateKeyPair(ctx, "release"); err != nil {
		return nil, err
	}
	if im.ci, err = cs.GenerateKeyPair(ctx, "ci"); err != nil {
		return nil, err
	}
	pushed := []string{webTag, cartTag, checkoutTag, reportTag, debugUnsigned, debugSigned, apiTag}
	for _, tag := range pushed {
		if im.digests[tag], err = reg.Push(ctx, tag); err != nil {
			return nil, err
		}
	}
	if err := reg.Tag(ctx, webTag, "latest"); err != nil {
		return nil, err
	}
	im.digests[webLatest] = im.digests[webTag]
	logf("made 2 key pairs with cosign, pushed %d images and tagged %s with crane in %s",
		len(pushed), webLatest, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	passed := testResult("PASSED", []string{"TestServes", "TestShutsDown"}, nil)
	type job struct {
		what string
		run  func() error
	}
	var jobs []job
	sign := func(tag string) {
		jobs = append(jobs, job{"signing " + tag, func() error { return cs.Sign(ctx, im.release, im.byDigest(tag)) }})
	}
	attest := func(tag string, predicate []byte) {
		jobs = append(jobs, job{"attesting " + tag, func() error {
			return cs.Attest(ctx, im.ci, harness.TestResultPredicateType, predicate, im.byDigest(tag))
		}})
	}
	for _, tag := range []string{webTag, reportTag, debugSigned, apiTag} {
		sign(tag)
		attest(tag, passed)
	}
	attest(cartTag, passed)
	sign(checkoutTag)
	attest(checkoutTag, testResult("FAILED", []string{"TestCheckout"}, checkoutFailed))
	// Two at a time: the machine has two cores, and each run is mostly
	// cosign starting up and decrypting its key.
	if err := runAll(2, len(jobs), func(i int) error {
		if err := jobs[i].run(); err != nil {
			return fmt.Errorf("%s: %w", jobs[i].what, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	logf("cosign signed and attested: %d runs in %s", len(jobs), time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if err := cs.Verify(ctx, im.release, im.byDigest(webTag)); err != nil {
		return nil, fmt.Errorf("cosign does not verify what it signed: %w", err)
	}
	if err := cs.VerifyAttestation(ctx, im.ci, harness.TestResultPredicateType, im.byDigest(webTag)); err != nil {
		return nil, fmt.Errorf("cosign does not verify what it attested: %w", err)
	}
	logf("cosign verify and verify-attestation of %s passed in %s", im.Ref(webTag), time.Since(start).Round(time.Millisecond))
	return im, nil
}

// runAll runs f(0)…f(n-1), at most width at once, and returns the first
// error.
func runAll(width, n int, f func(int) error) error {
	sem := make(chan struct{}, width)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
