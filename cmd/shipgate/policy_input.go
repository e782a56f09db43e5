package main

import (
	"context"
	"slices"
	"time"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/policy"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/webhook"
	"github.com/shipgate/shipgate/workload"
	"github.com/shipgate/shipgate/workload/manifest"
)

// evalTarget is one workload object of a manifest with the policy input
// /validate builds for it (webhook/policy.go, evaluatePolicy) and the
// binding of its namespace.
type evalTarget struct {
	Source    string
	Object    string // "Deployment prod/api"
	Namespace string
	Binding   config.Binding
	// Skipped says why policy does not run for the object at admission
	// (an excluded namespace); Input is nil then.
	Skipped string
	Input   *policy.Input
	// Verified is whether images were verified (--verify): without, the
	// facts have no signer results.
	Verified bool
}

// evalEnv is what building inputs needs beyond the object.
type evalEnv struct {
	cfg       *config.GatewayConfig
	labels    config.StaticNamespaces
	namespace string           // of objects that name none
	verifier  *signer.Verifier // nil: images are not verified
}

// evalTargetOf builds the target for the i-th manifest object, or nil when
// /validate would not judge it (not a workload kind). It follows
// Validator.decide for a CREATE of a top-level object: offline there are
// no owners to look up, so every workload is a rollout, judged bare.
func evalTargetOf(ctx context.Context, env evalEnv, i int, o *manifest.Object) (*evalTarget, error) {
	req, err := offlineRequest(i, o, env.namespace)
	if err != nil {
		return nil, err
	}
	kind := evalKind(req)
	if kind == "" {
		return nil, nil
	}
	t := &evalTarget{Source: o.Where(), Namespace: req.Namespace, Object: kind + " " + req.Namespace + "/" + req.Name}
	if slices.Contains(env.cfg.ExcludedNamespaces, req.Namespace) {
		t.Skipped = "namespace " + req.Namespace + " is excluded: shipgate does not judge it"
		if obj, err := workload.Decode(kind, req.Object.Raw); err == nil {
			t.Object = kind + " " + req.Namespace + "/" + obj.DisplayName()
		}
		return t, nil
	}
	labels, err := env.labels.Labels(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	t.Binding = env.cfg.Resolve(req.Namespace, labels).Binding

	obj, err := workload.Decode(kind, req.Object.Raw, workload.Prevalidated())
	if err != nil {
		return nil, &manifest.Error{File: o.File, Line: o.Line, Err: err}
	}
	t.Object = kind + " " + req.Namespace + "/" + obj.DisplayName()
	cls, err := workload.Classify(ctx, workload.Request{Operation: string(req.Operation), Username: req.UserInfo.Username},
		obj, nil, nil, workload.Controllers(env.cfg.Webhook.Controllers))
	if err != nil {
		return nil, &manifest.Error{File: o.File, Line: o.Line, Err: err}
	}

	images := map[string]parsedRef{}
	var refs []string
	for _, c := range obj.Containers {
		if _, seen := images[c.Image]; seen {
			continue
		}
		img, err := workload.ParseImage(c.Image)
		images[c.Image] = parsedRef{img, err}
		if err == nil && !img.IsLatest() { // the floor refuses latest before any registry call
			refs = append(refs, c.Image)
		}
	}
	verified := map[string]*signer.Result{}
	if env.verifier != nil && len(refs) > 0 {
		for _, r := range env.verifier.Verify(ctx, signer.Request{Images: refs, Trust: t.Binding.Trust, DryRun: true}) {
			verified[r.Ref] = r
		}
		t.Verified = true
	}
	digests := map[string]string{}
	for ref, r := range verified {
		if r.Verified && r.Digest != "" {
			digests[ref] = r.Digest
		}
	}
	var fingerprint string
	if canonical, err := workload.CanonicalTemplate(obj); err == nil {
		fingerprint = workload.Fingerprint(obj, canonical, digests)
	}

	t.Input = &policy.Input{Review: req.Raw, Shipgate: policy.Facts{
		Namespace: policy.NamespaceFacts{Name: req.Namespace, Labels: labels},
		Workload: policy.WorkloadFacts{
			Kind: kind, Name: obj.DisplayName(), Class: cls.Class.String(),
			Fingerprint:   fingerprint,
			ImagesChanged: req.Operation != "UPDATE" || cls.Class == workload.Rollout,
		},
		Images: evalImageFacts(obj, images, verified),
	}}
	return t, nil
}

// evalKind is the request's kind when /validate judges it: a workload kind
// in its own API group (a CRD called Deployment is not a Deployment).
func evalKind(req *webhook.Request) string {
	k := req.Kind
	switch k.Kind {
	case "Pod", "ReplicationController":
		if k.Group == "" {
			return k.Kind
		}
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet":
		if k.Group == "apps" {
			return k.Kind
		}
	case "Job", "CronJob":
		if k.Group == "batch" {
			return k.Kind
		}
	}
	return ""
}

// parsedRef is an image reference parsed, or why it does not parse.
type parsedRef struct {
	img workload.Image
	err error
}

// evalImageFacts are the distinct images of obj, the containers running
// each and what the signer found, as webhook's imageFacts builds them.
func evalImageFacts(obj *workload.Object, images map[string]parsedRef, verified map[string]*signer.Result) []policy.ImageFacts {
	var out []policy.ImageFacts
	index := map[string]int{}
	for _, c := range obj.Containers {
		i, ok := index[c.Image]
		if !ok {
			f := policy.ImageFacts{Ref: c.Image, Authorities: []string{}, Attestations: []policy.AttestationFacts{}, Errors: []string{}}
			if p := images[c.Image]; p.err == nil {
				f.Normalized, f.Tag, f.Digest = p.img.Normalized(), p.img.Tag, p.img.Digest
			} else {
				f.Errors = append(f.Errors, p.err.Error())
			}
			if r := verified[c.Image]; r != nil {
				evalSignerFacts(&f, r)
			}
			out = append(out, f)
			i = len(out) - 1
			index[c.Image] = i
		}
		out[i].Containers = append(out[i].Containers, c.Name)
	}
	return out
}

// evalSignerFacts copies what the signer established into an image's
// facts, as webhook's signerFacts does.
func evalSignerFacts(f *policy.ImageFacts, r *signer.Result) {
	if r.Digest != "" {
		f.Digest = r.Digest
	}
	f.SignedDigest, f.TrustPolicy, f.Verified, f.Stale = r.SignedDigest, r.TrustPolicy, r.Verified, r.Stale
	f.Authorities = r.AuthorityNames()
	for _, a := range r.Authorities {
		f.Signers = append(f.Signers, policy.SignerFacts{Name: a.Name, KeyID: a.KeyID, Subject: a.Subject, Issuer: a.Issuer})
	}
	for _, a := range r.Attestations {
		af := policy.AttestationFacts{PredicateType: a.PredicateType, Authority: a.Signer.Name, Predicate: a.Predicate}
		if a.TrustedTime != nil {
			af.SignedAt = a.TrustedTime.UTC().Format(time.RFC3339)
		}
		f.Attestations = append(f.Attestations, af)
	}
	f.Errors = append(f.Errors, r.Errors...)
}

// evalVerifier verifies images here, as `shipgate verify` does offline:
// keys from files or inline data, registry credentials from
// verification.dockerConfig.
func evalVerifier(cfg *config.GatewayConfig) (*signer.Verifier, error) {
	trust, err := signer.CompileTrust(cfg, readLocalSource)
	if err != nil {
		return nil, err
	}
	opts := []signer.Option{signer.WithLogger(discardLogger())}
	if p := cfg.Verification.DockerConfig; p != "" {
		opts = append(opts, signer.WithKeychain(signer.DockerConfigKeychain(p)))
	}
	return signer.New(cfg.Verification, trust, opts...), nil
}
