package signer

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// cosign v3 stores each signature and attestation of an image as a
// Sigstore bundle, the one layer of an OCI 1.1 artifact manifest whose
// subject is the image: found through the referrers API, or where the
// registry has none, through the sha256-<hex> referrers tag (see
// internal/cosigntest/doc.go for what cosign writes).
const (
	// bundleMediaType begins the media type of a Sigstore bundle of any
	// version: application/vnd.dev.sigstore.bundle.v0.3+json, and
	// application/vnd.dev.sigstore.bundle+json;version=0.2 before it.
	bundleMediaType = "application/vnd.dev.sigstore.bundle"
	// emptyArtifactType is the config media type of cosign's bundle
	// manifests; registries that list referrers by config media type
	// (go-containerregistry's) and the referrers tag report it as the
	// artifact type, so such a referrer has to be opened to know.
	emptyArtifactType = "application/vnd.oci.empty.v1+json"
	// predicateAnnotation is where cosign writes a bundle's predicate type
	// on its manifest; the referrers API repeats it in the listing. It is
	// unsigned: shipgate uses it only to skip bundles no rule asks for.
	predicateAnnotation = "dev.sigstore.bundle.predicateType"
	// signPredicateType is the predicate type of the in-toto statement a
	// cosign v3 signature signs: a bundle of this type is an image
	// signature, any other is an attestation.
	signPredicateType = "https://sigstore.dev/cosign/sign/v1"
)

// referrers are the Sigstore bundles attached to one digest. The listing
// is asked for only when a signature authority or an attestation rule is
// not already satisfied by cosign v2's .sig/.att tags, and each bundle is
// fetched only when its predicate type is wanted, so an image in the v2
// layout that verifies costs no extra request. Used by one verification,
// whose signature and attestation checks may ask at the same time: mu
// makes them take turns, so each request is still made once.
type referrers struct {
	mu     sync.Mutex
	acc    access
	d      name.Digest
	listed bool
	// candidates are the listed manifests that may be bundles.
	candidates []v1.Descriptor
	// read holds each candidate once fetched: nil when it turned out not
	// to be a Sigstore bundle.
	read map[v1.Hash]*sigBundle
	// err is the first failure to list or fetch: what was judged without
	// the bundles does not stand.
	err error
}

// sigBundle is one parsed Sigstore bundle and the in-toto statement its
// DSSE envelope carries (not yet verified).
type sigBundle struct {
	*bundle.Bundle
	statement statement
}

func newReferrers(acc access, d name.Digest) *referrers {
	return &referrers{acc: acc, d: d, read: make(map[v1.Hash]*sigBundle)}
}

// matching returns the bundles whose statement has the predicate type pt,
// listing and fetching on first need. After a failure it returns none and
// r.err says why.
func (r *referrers) matching(pt string) []*sigBundle {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list()
	var out []*sigBundle
	for _, desc := range r.candidates {
		if r.err != nil {
			return nil
		}
		if a := desc.Annotations[predicateAnnotation]; a != "" && a != pt {
			continue
		}
		b, ok := r.read[desc.Digest]
		if !ok {
			b, r.err = r.fetch(desc)
			r.read[desc.Digest] = b
		}
		if b != nil && b.statement.PredicateType == pt {
			out = append(out, b)
		}
	}
	if r.err != nil {
		return nil
	}
	return out
}

// list asks for the digest's referrers once: one request to the referrers
// API, and where the registry has none (404), one more for the fallback
// tag, which go-containerregistry reads by itself.
func (r *referrers) list() {
	if r.listed {
		return
	}
	r.listed = true
	idx, err := remote.Referrers(r.d, r.acc.remote()...)
	if err != nil {
		r.err = err
		return
	}
	m, err := idx.IndexManifest()
	if err != nil {
		r.err = err
		return
	}
	for _, desc := range m.Manifests {
		if desc.MediaType != types.OCIManifestSchema1 {
			continue
		}
		if at := desc.ArtifactType; at == "" || at == emptyArtifactType || strings.HasPrefix(at, bundleMediaType) {
			r.candidates = append(r.candidates, desc)
		}
	}
	if len(r.candidates) > maxSignatures {
		r.err = fmt.Errorf("%s has %d referrers that may be Sigstore bundles, more than the %d shipgate reads", r.d.DigestStr(), len(r.candidates), maxSignatures)
	}
}

// fetch reads one referrer: its manifest, then its one layer when that is
// a Sigstore bundle, both size-capped before they are downloaded. It
// returns nil, nil for a referrer that is not a bundle.
func (r *referrers) fetch(desc v1.Descriptor) (*sigBundle, error) {
	ref := r.d.Context().Digest(desc.Digest.String())
	if desc.Size > maxSignatureLayer {
		return nil, fmt.Errorf("referrer %s has a manifest of %d bytes, more than the %d allowed", ref, desc.Size, maxSignatureLayer)
	}
	got, err := r.acc.puller.Get(r.acc.ctx, ref)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(got.Manifest))
	if err != nil {
		return nil, fmt.Errorf("reading referrer %s: %w", ref, err)
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), bundleMediaType) {
		return nil, nil
	}
	l := m.Layers[0]
	if l.Size > maxSignatureLayer {
		return nil, fmt.Errorf("%s has a bundle layer of %d bytes, more than the %d allowed", ref, l.Size, maxSignatureLayer)
	}
	layer, err := r.acc.puller.Layer(r.acc.ctx, r.d.Context().Digest(l.Digest.String()))
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// Reading to the end checks the blob against its digest.
	raw, err := io.ReadAll(io.LimitReader(rc, maxSignatureLayer+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxSignatureLayer {
		return nil, fmt.Errorf("%s has a bundle layer of more than the %d bytes allowed", ref, maxSignatureLayer)
	}
	b := &sigBundle{Bundle: &bundle.Bundle{}}
	if err := b.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("reading the Sigstore bundle in %s: %w", ref, err)
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		// A message signature signs a payload shipgate does not have; cosign
		// signs images and attests with DSSE statements.
		return nil, nil
	}
	if err := json.Unmarshal(env.GetPayload(), &b.statement); err != nil {
		return nil, fmt.Errorf("reading the in-toto statement in %s: %w", ref, err)
	}
	return b, nil
}

// verifyBundle checks one attestation bundle of the rule's predicate type
// with each of the rule's authorities and judges what it says, as verify
// does an attestation from the .att tag.
func (r *attestationRule) verifyBundle(b *sigBundle, h v1.Hash, now time.Time) (att Attestation, ok bool, problems []string) {
	for _, a := range r.authorities {
		c, err := a.checkBundle(b, h)
		if err != nil {
			problems = append(problems, a.name+": "+plainError(err))
			continue
		}
		out := Attestation{PredicateType: b.statement.PredicateType, Signer: c.signer, TrustedTime: c.trustedTime, Predicate: b.statement.Predicate}
		if err := r.judge(out, now); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		return out, true, nil
	}
	return Attestation{}, false, problems
}

// checkBundle verifies a bundle, bound to the digest h, with authority a:
// offline, with sigstore-go, against trusted material holding only the
// authority's own key or roots, Rekor key and timestamp authorities. The
// proofs of time the bundle carries are required when a has the material
// to check them, as check does for the .sig layout.
func (a *authority) checkBundle(b *sigBundle, h v1.Hash) (checked, error) {
	entries, err := b.TlogEntries()
	if err != nil {
		return checked{}, fmt.Errorf("reading the transparency log entries: %w", err)
	}
	stamps, err := b.Timestamps()
	if err != nil {
		return checked{}, fmt.Errorf("reading the RFC 3161 timestamps: %w", err)
	}
	logged, stamped := len(entries) > 0 && a.rekor != nil, len(stamps) > 0 && a.tsaLeaf != nil
	if !logged && a.requireTlog {
		return checked{}, errors.New("the signature has no transparency log entry, which this authority requires")
	}
	// As cosign's verificationOptions: the log's integrated time is the
	// time of the signature unless a TSA stamped it (Rekor v2 has none).
	var opts []verify.VerifierOption
	if logged {
		opts = append(opts, verify.WithTransparencyLog(1))
		if !stamped {
			opts = append(opts, verify.WithIntegratedTimestamps(1))
		}
	}
	if stamped {
		opts = append(opts, verify.WithSignedTimestamps(1))
	}
	var policy []verify.PolicyOption
	if a.verifier != nil {
		policy = append(policy, verify.WithKey())
		if len(opts) == 0 {
			opts = append(opts, verify.WithNoObserverTimestamps())
		}
	} else {
		id, err := a.certificateIdentity()
		if err != nil {
			return checked{}, err
		}
		policy = append(policy, verify.WithCertificateIdentity(id))
		if len(opts) == 0 {
			// No proof of time: the certificate must be valid now.
			opts = append(opts, verify.WithCurrentTime())
		}
	}
	tm := newAuthorityMaterial(a)
	v, err := verify.NewVerifier(tm, opts...)
	if err != nil {
		return checked{}, err
	}
	sum, err := hex.DecodeString(h.Hex)
	if err != nil {
		return checked{}, err
	}
	got, err := v.Verify(b.Bundle, verify.NewPolicy(verify.WithArtifactDigest(h.Algorithm, sum), policy...))
	if err != nil {
		return checked{}, bundleError(err, tm.ca)
	}
	out := checked{signer: Signer{Name: a.name, KeyID: a.keyID}}
	if a.verifier == nil {
		if vc, err := b.VerificationContent(); err == nil && vc.Certificate() != nil {
			cert := vc.Certificate()
			out.signer.Subject = strings.Join(cryptoutils.GetSubjectAlternateNames(cert), ",")
			out.signer.Issuer = (&cosign.CertExtensions{Cert: cert}).GetIssuer()
		}
	}
	// Trusted time: the earliest of the log's and the TSA's, both verified.
	for _, ts := range got.VerifiedTimestamps {
		if ts.Type != "Tlog" && ts.Type != "TimestampAuthority" {
			continue
		}
		if t := ts.Timestamp.UTC(); out.trustedTime == nil || t.Before(*out.trustedTime) {
			out.trustedTime = &t
		}
	}
	return out, nil
}

// certificateIdentity is a keyless authority's identity for sigstore-go.
func (a *authority) certificateIdentity() (verify.CertificateIdentity, error) {
	san, err := verify.NewSANMatcher(a.identity.Subject, a.identity.SubjectRegExp)
	if err != nil {
		return verify.CertificateIdentity{}, err
	}
	issuerRegExp := ""
	if a.identity.Issuer == "" {
		issuerRegExp = ".*" // as cosign: no issuer configured matches any
	}
	issuer, err := verify.NewIssuerMatcher(a.identity.Issuer, issuerRegExp)
	if err != nil {
		return verify.CertificateIdentity{}, err
	}
	return verify.NewCertificateIdentity(san, issuer, certificate.Extensions{})
}

// bundleError puts sigstore-go's reasons in the words plainError uses for
// the .sig layout; ca holds the reason a certificate was refused, which
// sigstore-go does not pass on.
func bundleError(err error, ca *poolAuthority) error {
	msg := err.Error()
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	switch {
	case strings.Contains(msg, "failed to verify leaf certificate") && ca != nil && errors.As(ca.err, &invalid) && invalid.Reason == x509.Expired:
		return errors.New("the signing certificate was not valid at the signature's trusted time (or now, when it carries none)")
	case strings.Contains(msg, "failed to verify leaf certificate") && ca != nil && errors.As(ca.err, &unknown):
		return errors.New("the signing certificate does not chain to this authority's roots")
	case strings.Contains(msg, "failed to verify leaf certificate") && ca != nil && ca.err != nil:
		return fmt.Errorf("the signing certificate is not accepted: %w", ca.err)
	case strings.Contains(msg, "failed to verify log inclusion"):
		return errors.New("the transparency log entry does not verify against this authority's rekorKey")
	case strings.Contains(msg, "failed to verify timestamps"):
		return errors.New("the RFC 3161 timestamp does not verify against this authority's timestampAuthorities")
	case strings.Contains(msg, "digest does not match"), strings.Contains(msg, "digests do not match"),
		strings.Contains(msg, "digests does not match"):
		return errors.New("the signed statement is about another image")
	case strings.Contains(msg, "failed to verify certificate identity"):
		return errors.New("the certificate's identity (subject or issuer) is not the one this authority expects")
	case strings.Contains(msg, "expected key signature, not certificate"):
		return errors.New("the bundle is signed with a certificate, not with this authority's key")
	}
	return err
}

// authorityMaterial is sigstore-go's trusted material for one authority:
// its key, or its roots, and its Rekor key and timestamp authorities.
// Nothing from TUF or the public Sigstore.
type authorityMaterial struct {
	root.BaseTrustedMaterial
	a  *authority
	ca *poolAuthority // nil for a key authority
}

func newAuthorityMaterial(a *authority) *authorityMaterial {
	m := &authorityMaterial{a: a}
	if a.roots != nil {
		m.ca = &poolAuthority{roots: a.roots, intermediates: a.intermediates}
	}
	return m
}

func (m *authorityMaterial) PublicKeyVerifier(string) (root.TimeConstrainedVerifier, error) {
	if m.a.verifier == nil {
		return nil, errors.New("a keyless authority has no public key")
	}
	// Whatever the bundle's hint names, only this key can verify it.
	return root.NewExpiringKey(m.a.verifier, time.Time{}, time.Time{}), nil
}

func (m *authorityMaterial) FulcioCertificateAuthorities() []root.CertificateAuthority {
	if m.ca == nil {
		return nil
	}
	return []root.CertificateAuthority{m.ca}
}

func (m *authorityMaterial) RekorLogs() map[string]*root.TransparencyLog {
	logs := make(map[string]*root.TransparencyLog)
	if m.a.rekor == nil {
		return logs
	}
	for id, k := range m.a.rekor.Keys {
		raw, err := hex.DecodeString(id)
		if err != nil {
			continue
		}
		logs[id] = &root.TransparencyLog{ID: raw, PublicKey: k.PubKey, HashFunc: crypto.SHA256, SignatureHashFunc: signatureHash(k.PubKey)}
	}
	return logs
}

func (m *authorityMaterial) TimestampingAuthorities() []root.TimestampingAuthority {
	var out []root.TimestampingAuthority
	for _, r := range m.a.tsaRoots {
		out = append(out, &root.SigstoreTimestampingAuthority{Root: r, Intermediates: m.a.tsaInter, Leaf: m.a.tsaLeaf})
	}
	return out
}

// signatureHash is the hash a log key signs with, as sigstore-go's
// trusted root chooses it.
func signatureHash(pub crypto.PublicKey) crypto.Hash {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		switch k.Curve {
		case elliptic.P384():
			return crypto.SHA384
		case elliptic.P521():
			return crypto.SHA512
		}
	}
	return crypto.SHA256
}

// poolAuthority is a certificate authority over the configured roots and
// intermediates, checked as sigstore-go checks Fulcio's: a code-signing
// chain valid at the observer's time. It keeps the last refusal (one
// verification uses it, from one goroutine).
type poolAuthority struct {
	roots, intermediates *x509.CertPool
	err                  error
}

func (p *poolAuthority) Verify(cert *x509.Certificate, at time.Time) ([][]*x509.Certificate, error) {
	chains, err := cert.Verify(x509.VerifyOptions{
		CurrentTime:   at,
		Roots:         p.roots,
		Intermediates: p.intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	})
	if err != nil {
		p.err = err
	}
	return chains, err
}
