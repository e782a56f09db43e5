package signer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	signatureoptions "github.com/sigstore/sigstore/pkg/signature/options"
)

// Attest signs predicate, of predicateType (a URI), as an in-toto
// statement about the image ref names, and attaches it to the image in the
// registry. It does what `cosign attest --key … --type predicateType
// --tlog-upload=false` does, with cosign's own packages: it resolves ref
// to its digest once, makes the statement (subject: the repository and
// that digest), signs it as a DSSE envelope with sv, and adds it to the
// image's sha256-<hex>.att tag beside the attestations already there (as
// cosign does without --replace). Nothing is written to a transparency
// log, so the attestation carries no trusted time.
//
// opts carry registry access (remote.WithAuthFromKeychain,
// remote.WithTransport); without them Attest uses the Docker config's
// credentials, as cosign does. ctx bounds every registry call. Attest returns
// the digest ("sha256:…") it attested.
func Attest(ctx context.Context, ref name.Reference, predicateType string, predicate []byte, sv signature.SignerVerifier, opts ...remote.Option) (string, error) {
	if _, err := url.ParseRequestURI(predicateType); err != nil {
		return "", fmt.Errorf("attesting %s: predicate type %q is not a URI", ref, predicateType)
	}
	if !json.Valid(predicate) {
		return "", fmt.Errorf("attesting %s: the predicate is not JSON", ref)
	}
	// After cosign's default (the Docker config's credentials), so the
	// caller's options win.
	ropts := append(slices.Clone(opts), remote.WithContext(ctx))
	ociOpts := []ociremote.Option{ociremote.WithMoreRemoteOptions(ropts...)}
	digest, err := ociremote.ResolveDigest(ref, ociOpts...)
	if err != nil {
		return "", fmt.Errorf("attesting %s: resolving its digest: %w", ref, err)
	}
	h, err := v1.NewHash(digest.DigestStr())
	if err != nil {
		return "", fmt.Errorf("attesting %s: %w", ref, err)
	}

	statement, err := attestation.GenerateStatement(attestation.GenerateOpts{
		Predicate: bytes.NewReader(predicate),
		Type:      predicateType,
		Digest:    h.Hex,
		Repo:      digest.Repository.String(),
	})
	if err != nil {
		return "", fmt.Errorf("attesting %s: making the in-toto statement: %w", digest, err)
	}
	payload, err := json.Marshal(statement)
	if err != nil {
		return "", fmt.Errorf("attesting %s: encoding the in-toto statement: %w", digest, err)
	}
	envelope, err := dsse.WrapSigner(sv, types.IntotoPayloadType).
		SignMessage(bytes.NewReader(payload), signatureoptions.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("attesting %s: signing: %w", digest, err)
	}

	att, err := static.NewAttestation(envelope,
		static.WithLayerMediaType(types.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": predicateType}))
	if err != nil {
		return "", fmt.Errorf("attesting %s: %w", digest, err)
	}
	// Attaching needs nothing from the image itself, only its digest.
	se := ociremote.SignedUnknown(digest, ociOpts...)
	signed, err := mutate.AttachAttestationToEntity(se, att,
		mutate.WithDupeDetector(cremote.NewDupeDetector(sv)),
		mutate.WithRecordCreationTimestamp(false))
	if err != nil {
		return "", fmt.Errorf("attesting %s: attaching: %w", digest, err)
	}
	if err := ociremote.WriteAttestations(digest.Repository, signed, ociOpts...); err != nil {
		return "", fmt.Errorf("attesting %s: writing the attestation: %w", digest, err)
	}
	return digest.DigestStr(), nil
}

// LoadPrivateKey reads an encrypted cosign private key (as
// `cosign generate-key-pair` writes it) from path, decrypted with
// password.
func LoadPrivateKey(path string, password []byte) (signature.SignerVerifier, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading cosign key: %w", err)
	}
	sv, err := cosign.LoadPrivateKey(pem, password, nil)
	if err != nil {
		return nil, fmt.Errorf("loading cosign key %s: %w", path, err)
	}
	return sv, nil
}
