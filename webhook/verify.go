package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/workload"
)

// ImageVerifier is what /validate and /mutate need of the signer.
type ImageVerifier interface {
	Verify(ctx context.Context, req signer.Request) []*signer.Result
}

var _ ImageVerifier = (*signer.Verifier)(nil)

// WithVerifier sets the signer that resolves and verifies images. Without
// it, images are judged by the floor rules and policy alone.
func WithVerifier(s ImageVerifier) Option {
	return func(o *options) { o.verifier = s }
}

// PullSecrets gives the registry keychain of a pod: its imagePullSecrets
// and its service account's (signer.PullSecrets reads them through the
// API server).
type PullSecrets interface {
	For(ctx context.Context, namespace, serviceAccount string, secrets []string) (authn.Keychain, string, error)
}

// WithPullSecrets makes registry calls use each pod's pull secrets.
// Without it they use the verifier's own credentials.
func WithPullSecrets(p PullSecrets) Option {
	return func(o *options) { o.pullSecrets = p }
}

// keychain is the registry keychain for obj's pod template, or none. A
// failure to read the secrets is a note: verification goes on with the
// gateway's own credentials and fails closed if they are not enough.
func (o options) keychain(ctx context.Context, d *Decision, obj *workload.Object) (authn.Keychain, string) {
	if o.pullSecrets == nil || obj == nil {
		return nil, ""
	}
	tmpl, err := obj.PodTemplate()
	if err != nil {
		return nil, ""
	}
	var names []string
	for _, s := range tmpl.Spec.ImagePullSecrets {
		names = append(names, s.Name)
	}
	kc, key, err := o.pullSecrets.For(ctx, d.Namespace, tmpl.Spec.ServiceAccountName, names)
	if err != nil {
		d.Notes = append(d.Notes, "pull secrets not used: "+err.Error())
		return nil, ""
	}
	return kc, key
}

// verified is the signer's results for one admission, by reference.
type verified map[string]*signer.Result

// verifyImages verifies every judged image that passed the floor rules and
// turns each failure into a reason: an image that matches no trust policy,
// is unsigned, signed by no trusted authority, lacks passing test evidence,
// or whose registry cannot be reached. A last-known-good admission is a
// warning. Resolved digests fill the decision's containers.
func (v *Validator) verifyImages(ctx context.Context, d *Decision, req *Request, obj *workload.Object, judged []workload.Container, images parsedImages, b config.Binding) verified {
	s := v.opts.verifier
	if s == nil {
		return nil
	}
	var refs []string
	for _, c := range judged {
		if p := images.get(c.Image); p.err == nil && !p.img.IsLatest() && !slices.Contains(refs, c.Image) {
			refs = append(refs, c.Image)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	out := make(verified, len(refs))
	kc, key := v.opts.keychain(ctx, d, obj)
	for _, r := range s.Verify(ctx, signer.Request{Images: refs, Trust: b.Trust, DryRun: d.DryRun, Keychain: kc, KeychainKey: key}) {
		out[r.Ref] = r
	}
	for i := range d.Containers {
		if r := out[d.Containers[i].Image]; r != nil && r.Verified {
			d.Containers[i].Digest = r.Digest
		}
	}
	for _, ref := range refs {
		r := out[ref]
		if r == nil {
			continue
		}
		if r.Verified {
			if r.Stale {
				d.Warnings = append(d.Warnings, fmt.Sprintf("shipgate: %s: image %s (%s) admitted on its last-known-good verification from %s: its registry cannot be reached now",
					d.object(), quote(ref), r.Digest, r.VerifiedAt.UTC().Format("2006-01-02T15:04:05Z")))
				d.Notes = append(d.Notes, "last-known-good: "+ref+" "+r.Digest)
			}
			continue
		}
		d.Reasons = append(d.Reasons, Reason{Code: verifyCode(r), Message: imageLabel(judged, ref) + ": " + strings.Join(r.Errors, "; ")})
	}
	return out
}

// verifyCode names the kind of failure.
func verifyCode(r *signer.Result) string {
	switch {
	case r.TrustPolicy == "":
		return "untrusted-registry"
	case r.Unavailable:
		return "registry-unavailable"
	default:
		return "unverified-image"
	}
}

// imageLabel is `image "reg/app:1.0" (containers app, sidecar)`.
func imageLabel(cs []workload.Container, ref string) string {
	var names []string
	for _, c := range cs {
		if c.Image == ref {
			names = append(names, c.Name)
		}
	}
	word := "container"
	if len(names) > 1 {
		word = "containers"
	}
	return fmt.Sprintf("image %s (%s %s)", quote(ref), word, strings.Join(names, ", "))
}

// digests maps each verified reference to its digest, for the fingerprint
// and the rollout record.
func (vs verified) digests() map[string]string {
	out := make(map[string]string, len(vs))
	for ref, r := range vs {
		if r.Verified && r.Digest != "" {
			out[ref] = r.Digest
		}
	}
	return out
}
