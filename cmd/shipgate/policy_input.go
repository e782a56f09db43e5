package main

import (
	"context"
	"slices"

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

	var refs []string
	for _, c := range obj.Containers {
		// The floor refuses latest before any registry call.
		if img, err := workload.ParseImage(c.Image); err == nil && !img.IsLatest() && !slices.Contains(refs, c.Image) {
			refs = append(refs, c.Image)
		}
	}
	var results []*signer.Result
	if env.verifier != nil && len(refs) > 0 {
		results = env.verifier.Verify(ctx, signer.Request{Images: refs, Trust: t.Binding.Trust, DryRun: true})
		t.Verified = true
	}
	digests := map[string]string{}
	for _, r := range results {
		if r.Verified && r.Digest != "" {
			digests[r.Ref] = r.Digest
		}
	}
	d := &webhook.Decision{Kind: kind, Name: obj.DisplayName(), Class: cls.Class.String()}
	if canonical, err := workload.CanonicalTemplate(obj); err == nil {
		d.Fingerprint = workload.Fingerprint(obj, canonical, digests)
	}
	t.Input = webhook.PolicyInput(req, d, obj, labels, results)
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
