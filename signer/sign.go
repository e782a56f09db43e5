package signer

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature"
	signatureoptions "github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Sign signs the image ref names with sv and attaches the signature in
// cosign v2's layout (the image's sha256-<hex>.sig tag), as `cosign sign
// --key … --tlog-upload=false` does: a simple-signing payload naming the
// digest, signed, added beside the signatures already there. It returns
// the digest it signed. The demo and the tests use it; CI uses cosign.
func Sign(ctx context.Context, ref name.Reference, sv signature.SignerVerifier, opts ...remote.Option) (string, error) {
	ropts := append(slices.Clone(opts), remote.WithContext(ctx))
	ociOpts := []ociremote.Option{ociremote.WithMoreRemoteOptions(ropts...)}
	digest, err := ociremote.ResolveDigest(ref, ociOpts...)
	if err != nil {
		return "", fmt.Errorf("signing %s: resolving its digest: %w", ref, err)
	}
	body, err := (&payload.Cosign{Image: digest}).MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("signing %s: making the payload: %w", digest, err)
	}
	sig, err := sv.SignMessage(bytes.NewReader(body), signatureoptions.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("signing %s: %w", digest, err)
	}
	ociSig, err := static.NewSignature(body, base64.StdEncoding.EncodeToString(sig))
	if err != nil {
		return "", fmt.Errorf("signing %s: %w", digest, err)
	}
	se := ociremote.SignedUnknown(digest, ociOpts...)
	signed, err := mutate.AttachSignatureToEntity(se, ociSig, mutate.WithDupeDetector(cremote.NewDupeDetector(sv)))
	if err != nil {
		return "", fmt.Errorf("signing %s: attaching: %w", digest, err)
	}
	if err := ociremote.WriteSignatures(digest.Repository, signed, ociOpts...); err != nil {
		return "", fmt.Errorf("signing %s: writing the signature: %w", digest, err)
	}
	return digest.DigestStr(), nil
}
