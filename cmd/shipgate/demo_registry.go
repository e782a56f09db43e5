package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/shipgate/shipgate/signer"
)

// demoRegistry is a real OCI registry (go-containerregistry's, speaking
// the distribution protocol) on a loopback port, and the keys the demo's
// release process and CI sign with. Everything is made in process: the
// demo needs no cosign CLI and no network.
type demoRegistry struct {
	// Host is "127.0.0.1:PORT", the registry part of the demo's images.
	Host string
	srv  *http.Server

	// release signs images; ci attests their test results. The trust
	// policy names both. stranger is a key nobody trusts.
	release, ci, stranger signature.SignerVerifier
}

// startDemoRegistry serves a registry on 127.0.0.1 and makes the keys.
// Close stops it.
func startDemoRegistry() (*demoRegistry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the demo registry: %w", err)
	}
	r := &demoRegistry{
		Host: ln.Addr().String(),
		srv: &http.Server{
			Handler:           registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))),
			ReadHeaderTimeout: 10 * time.Second,
		},
	}
	go func() { _ = r.srv.Serve(ln) }()
	for _, k := range []*signature.SignerVerifier{&r.release, &r.ci, &r.stranger} {
		if *k, err = newDemoKey(); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close stops the registry.
func (r *demoRegistry) Close() { _ = r.srv.Close() }

// newDemoKey makes an ECDSA P-256 key, what `cosign generate-key-pair`
// makes.
func newDemoKey() (signature.SignerVerifier, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("making a signing key: %w", err)
	}
	return signature.LoadECDSASignerVerifier(k, crypto.SHA256)
}

// publicPEM is the public half of sv as cosign.pub holds it.
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

// demoImage is one image the demo pushes: which key signs it (none:
// unsigned) and which tests CI reports.
type demoImage struct {
	Repo, Tag string
	Signer    signature.SignerVerifier
	Passed    []string
	Failed    []string
}

// remoteOptions keep the demo from reading the user's Docker credentials:
// the registry is anonymous, and a keychain of no keychains is anonymous
// (a keychain, not remote.WithAuth, as cosign's packages set one).
func remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithAuthFromKeychain(authn.NewMultiKeychain()), remote.WithContext(ctx)}
}

// Ref is Host/repo:tag.
func (r *demoRegistry) Ref(repo, tag string) string { return r.Host + "/" + repo + ":" + tag }

// Push pushes a random image as im.Repo:im.Tag, signs it with im.Signer
// as `cosign sign --key` would, and attests its test results with the CI
// key as `cosign attest --type https://in-toto.io/attestation/test-result/v0.1`
// would. It returns the image's digest.
func (r *demoRegistry) Push(ctx context.Context, im demoImage) (string, error) {
	ref, err := name.NewTag(r.Ref(im.Repo, im.Tag))
	if err != nil {
		return "", err
	}
	img, err := random.Image(512, 1)
	if err != nil {
		return "", fmt.Errorf("making image %s: %w", ref, err)
	}
	if err := remote.Write(ref, img, remoteOptions(ctx)...); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	if im.Signer != nil {
		if _, err := signer.Sign(ctx, ref, im.Signer, remoteOptions(ctx)...); err != nil {
			return "", err
		}
	}
	if len(im.Passed)+len(im.Failed) > 0 {
		if err := r.attest(ctx, ref, im); err != nil {
			return "", err
		}
	}
	return d.String(), nil
}

// attest signs the test-result predicate of im with the CI key.
func (r *demoRegistry) attest(ctx context.Context, ref name.Reference, im demoImage) error {
	tr := signer.TestResult{
		Result:        signer.TestsPassed,
		Configuration: []signer.ResourceDescriptor{{Name: "ci", URI: "https://ci.example.com/" + im.Repo}},
		PassedTests:   im.Passed,
		FailedTests:   im.Failed,
	}
	if len(im.Failed) > 0 {
		tr.Result = signer.TestsFailed
	}
	if err := tr.Validate(); err != nil {
		return fmt.Errorf("attesting %s: %w", ref, err)
	}
	predicate, err := json.Marshal(tr)
	if err != nil {
		return err
	}
	_, err = signer.Attest(ctx, ref, signer.TestResultPredicateType, predicate, r.ci, remoteOptions(ctx)...)
	return err
}

// demoImages are what the demo's CI built, by reference.
type demoImages struct {
	reg     *demoRegistry
	digests map[string]string // Host/repo:tag → digest
}

// Ref is the reference of a pushed image, Host/repo:tag.
func (d *demoImages) Ref(repoTag string) string { return d.reg.Host + "/" + repoTag }

// Digest is the digest repoTag was pushed with.
func (d *demoImages) Digest(repoTag string) string { return d.digests[d.Ref(repoTag)] }

// pushDemoImages pushes the images the story uses, as CI would have, and
// prints them.
func pushDemoImages(ctx context.Context, out io.Writer, reg *demoRegistry) (*demoImages, error) {
	unit := []string{"TestCart", "TestCheckout", "TestHealth"}
	images := []demoImage{
		{Repo: "shop/web", Tag: "1.4.2", Signer: reg.release, Passed: unit},
		{Repo: "shop/envoy", Tag: "1.31.0", Signer: reg.release, Passed: []string{"TestProxy"}},
		{Repo: "shop/cart", Tag: "3.0.0", Passed: unit},
		{Repo: "shop/checkout", Tag: "2.7.1", Signer: reg.release, Passed: []string{"TestHealth"},
			Failed: []string{"TestRefundRoundsHalfUp", "TestTaxForEU"}},
		{Repo: "shop/search", Tag: "1.0.0", Signer: reg.stranger, Passed: unit},
		{Repo: "payments/api", Tag: "2.0.0", Signer: reg.release, Passed: []string{"TestCharge", "TestRefund"}},
	}
	fmt.Fprintf(out, "CI pushed these images to the demo registry (%s), signed them and attested their test results\n", reg.Host)
	fmt.Fprintln(out, "(in Go, in the layout cosign sign and cosign attest write):")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	d := &demoImages{reg: reg, digests: map[string]string{}}
	for _, im := range images {
		digest, err := reg.Push(ctx, im)
		if err != nil {
			return nil, err
		}
		ref := reg.Ref(im.Repo, im.Tag)
		d.digests[ref] = digest
		tests := fmt.Sprintf("tests PASSED (%d)", len(im.Passed))
		if len(im.Failed) > 0 {
			tests = fmt.Sprintf("tests FAILED (%d of %d)", len(im.Failed), len(im.Failed)+len(im.Passed))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s, %s\n", ref, digest, reg.signedBy(im.Signer), tests)
	}
	return d, tw.Flush()
}

// signedBy says which of the demo's keys sv is.
func (r *demoRegistry) signedBy(sv signature.SignerVerifier) string {
	switch sv {
	case nil:
		return "not signed"
	case r.release:
		return "signed by the release key"
	default:
		return "signed by a key nobody trusts"
	}
}

// moveTag pushes another image over repoTag, unsigned, as a rebuild
// pushed over a release tag would, and returns its digest.
func (d *demoImages) moveTag(ctx context.Context, repoTag string) (string, error) {
	repo, tag, ok := strings.Cut(repoTag, ":")
	if !ok {
		return "", errors.New("moveTag wants repo:tag")
	}
	return d.reg.Push(ctx, demoImage{Repo: repo, Tag: tag})
}
