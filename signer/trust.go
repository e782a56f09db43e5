package signer

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"unique"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/tuf"

	"github.com/shipgate/shipgate/config"
)

// ReadSource returns the bytes a config Source names (inline data, a file,
// a Kubernetes Secret). The server supplies it.
type ReadSource func(*config.Source) ([]byte, error)

// Trust is the compiled trust section of a configuration: every key and
// certificate read and parsed, every pattern ready to match. It is
// immutable; a configuration reload compiles a new one.
type Trust struct {
	policies map[string]*trustPolicy
	order    []*trustPolicy
}

// trustPolicy is one compiled trust policy.
type trustPolicy struct {
	name       string
	patterns   []string
	threshold  int
	sigs       []*authority
	atts       []*attestationRule
	coverIndex bool
	// revision changes whenever anything that decides this policy's
	// verdicts does: patterns, authorities, their key material. Cached
	// results carry it, so a reload that removes an authority voids them.
	revision string
	// id is name and revision interned: what the cache keys by.
	id unique.Handle[string]
}

// attestationRule is one required predicate type with its authorities.
type attestationRule struct {
	predicateType string
	authorities   []*authority
	maxAge        config.Duration
}

// authority is one signer, ready for cosign's CheckOpts.
type authority struct {
	name string
	// A key authority.
	verifier signature.Verifier
	keyID    string
	// A keyless authority.
	roots         *x509.CertPool
	intermediates *x509.CertPool
	identity      cosign.Identity
	// Trusted time.
	rekor       *cosign.TrustedTransparencyLogPubKeys
	requireTlog bool
	tsaLeaf     *x509.Certificate
	tsaInter    []*x509.Certificate
	tsaRoots    []*x509.Certificate
}

// CompileTrust reads and parses every trust policy of cfg. An error names
// the policy and authority whose material could not be used.
func CompileTrust(cfg *config.GatewayConfig, read ReadSource) (*Trust, error) {
	t := &Trust{policies: make(map[string]*trustPolicy, len(cfg.Trust))}
	for i := range cfg.Trust {
		tp := &cfg.Trust[i]
		p, err := compilePolicy(tp, read)
		if err != nil {
			return nil, fmt.Errorf("compiling trust policy %q: %w", tp.Name, err)
		}
		t.policies[p.name] = p
		t.order = append(t.order, p)
	}
	return t, nil
}

func compilePolicy(tp *config.TrustPolicy, read ReadSource) (*trustPolicy, error) {
	h := sha256.New()
	spec, err := json.Marshal(tp)
	if err != nil {
		return nil, err
	}
	h.Write(spec)
	// record hashes the bytes of each source as well as its name, so a
	// rotated key in the same file changes the revision.
	record := func(b []byte) { h.Write([]byte{0}); h.Write(b) }
	p := &trustPolicy{
		name:       tp.Name,
		patterns:   tp.Images,
		threshold:  tp.Signatures.Threshold,
		coverIndex: tp.CoversPlatforms(),
	}
	for i := range tp.Signatures.Authorities {
		a, err := compileAuthority(&tp.Signatures.Authorities[i], read, record)
		if err != nil {
			return nil, err
		}
		p.sigs = append(p.sigs, a)
	}
	for i := range tp.Attestations {
		r := &tp.Attestations[i]
		rule := &attestationRule{predicateType: r.PredicateType, maxAge: r.MaxAge}
		for j := range r.Authorities {
			a, err := compileAuthority(&r.Authorities[j], read, record)
			if err != nil {
				return nil, fmt.Errorf("attestation %s: %w", r.PredicateType, err)
			}
			rule.authorities = append(rule.authorities, a)
		}
		p.atts = append(p.atts, rule)
	}
	p.revision = hex.EncodeToString(h.Sum(nil))[:16]
	p.id = unique.Make(p.name + "\x00" + p.revision)
	return p, nil
}

func compileAuthority(ca *config.Authority, read ReadSource, record func([]byte)) (*authority, error) {
	a := &authority{name: ca.Name}
	load := func(what string, s *config.Source) ([]byte, error) {
		b, err := read(s)
		if err != nil {
			return nil, fmt.Errorf("authority %q: reading %s: %w", ca.Name, what, err)
		}
		record(b)
		return b, nil
	}
	switch {
	case ca.Key != nil:
		b, err := load("key", ca.Key)
		if err != nil {
			return nil, err
		}
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("authority %q: parsing public key: %w", ca.Name, err)
		}
		if a.verifier, err = signature.LoadVerifier(pub, crypto.SHA256); err != nil {
			return nil, fmt.Errorf("authority %q: loading public key: %w", ca.Name, err)
		}
		if a.keyID, err = keyID(pub); err != nil {
			return nil, fmt.Errorf("authority %q: %w", ca.Name, err)
		}
	case ca.Keyless != nil:
		k := ca.Keyless
		b, err := load("roots", k.Roots)
		if err != nil {
			return nil, err
		}
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM(b)
		if err != nil || len(certs) == 0 {
			return nil, fmt.Errorf("authority %q: parsing roots: no PEM certificates (%v)", ca.Name, err)
		}
		a.roots, a.intermediates = x509.NewCertPool(), x509.NewCertPool()
		for _, c := range certs {
			if isSelfSigned(c) {
				a.roots.AddCert(c)
			} else {
				a.intermediates.AddCert(c)
			}
		}
		a.identity = cosign.Identity{Issuer: k.Issuer, Subject: k.Subject}
		if k.SubjectRegExp != "" {
			if _, err := regexp.Compile(k.SubjectRegExp); err != nil {
				return nil, fmt.Errorf("authority %q: %w", ca.Name, err)
			}
			a.identity = cosign.Identity{Issuer: k.Issuer, SubjectRegExp: k.SubjectRegExp}
		}
	default:
		return nil, fmt.Errorf("authority %q: neither key nor keyless", ca.Name)
	}
	if src, require := ca.TlogKey(); src != nil {
		b, err := load("rekorKey", src)
		if err != nil {
			return nil, err
		}
		keys := cosign.NewTrustedTransparencyLogPubKeys()
		if err := keys.AddTransparencyLogPubKey(b, tuf.Active); err != nil {
			return nil, fmt.Errorf("authority %q: parsing rekorKey: %w", ca.Name, err)
		}
		a.rekor, a.requireTlog = &keys, require
	}
	if ca.TimestampAuthorities != nil {
		b, err := load("timestampAuthorities", ca.TimestampAuthorities)
		if err != nil {
			return nil, err
		}
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM(b)
		if err != nil || len(certs) == 0 {
			return nil, fmt.Errorf("authority %q: parsing timestampAuthorities: no PEM certificates (%v)", ca.Name, err)
		}
		a.tsaLeaf = certs[0]
		for _, c := range certs[1:] {
			if isSelfSigned(c) {
				a.tsaRoots = append(a.tsaRoots, c)
			} else {
				a.tsaInter = append(a.tsaInter, c)
			}
		}
		if len(a.tsaRoots) == 0 {
			a.tsaRoots = []*x509.Certificate{a.tsaLeaf}
		}
	}
	return a, nil
}

// Revision changes whenever any trust policy's does: its patterns,
// authorities or their key material.
func (t *Trust) Revision() string {
	h := sha256.New()
	for _, p := range t.order {
		h.Write([]byte(p.name + "\x00" + p.revision + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// keyID names a public key: "sha256:" and the hex SHA-256 of its DER
// (SubjectPublicKeyInfo) encoding.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil
}

// errNoTrustPolicy is wrapped by the error for an image no trust policy
// bound to the namespace matches.
var errNoTrustPolicy = errors.New("no trust policy matches")

// match returns the first of the named trust policies whose patterns match
// repo, a normalised repository name. An unknown name is skipped: config
// validation refuses it.
func (t *Trust) match(names []string, repo string) *trustPolicy {
	for _, n := range names {
		p := t.policies[n]
		if p == nil {
			continue
		}
		for _, pat := range p.patterns {
			if matchGlob(pat, repo) {
				return p
			}
		}
	}
	return nil
}
