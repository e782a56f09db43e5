package approval

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/workload"
)

// Resolver resolves image references, as written, to their digests
// ("sha256:…"), using the pull secrets of namespace. The signer provides
// one; /validate resolves through the same.
type Resolver interface {
	Resolve(ctx context.Context, namespace string, refs []string) (map[string]string, error)
}

// Manifest is a rollout asked about ahead of time: one workload object as
// JSON, and the namespace to use when the object names none.
type Manifest struct {
	Namespace string          `json:"namespace,omitempty"`
	Object    json.RawMessage `json:"object"`
}

// groups are the API groups of the workload kinds, as /validate accepts
// them: a CRD that happens to be called Deployment is not a Deployment.
var groups = map[string]string{
	"Pod": "", "ReplicationController": "",
	"Deployment": "apps", "ReplicaSet": "apps", "StatefulSet": "apps", "DaemonSet": "apps",
	"Job": "batch", "CronJob": "batch",
}

// Decode reads a manifest's object as /validate reads the AdmissionRequest
// object, filling the namespace from m when the object names none.
func (m Manifest) Decode() (*workload.Object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if len(m.Object) == 0 {
		return nil, invalid("the request has no object: send {\"object\": {…the workload…}}")
	}
	if err := json.Unmarshal(m.Object, &head); err != nil {
		return nil, invalid("reading the object: %v", err)
	}
	group, _, _ := strings.Cut(head.APIVersion, "/")
	if !strings.Contains(head.APIVersion, "/") {
		group = ""
	}
	if want, ok := groups[head.Kind]; !ok || want != group {
		return nil, invalid("%s %s is not a workload shipgate judges: want a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod or ReplicationController", head.APIVersion, head.Kind)
	}
	switch ns := head.Metadata.Namespace; {
	case ns == "" && m.Namespace == "":
		return nil, invalid("%s names no namespace: set metadata.namespace or give one", head.Kind)
	case ns != "" && m.Namespace != "" && ns != m.Namespace:
		return nil, invalid("%s is in namespace %q, not %q", head.Kind, ns, m.Namespace)
	}
	obj, err := workload.Decode(head.Kind, m.Object)
	if err != nil {
		return nil, invalid("reading the %s: %v", head.Kind, err)
	}
	if obj.Namespace == "" {
		obj.Namespace = m.Namespace
	}
	return obj, nil
}

// Fingerprint is the rollout's fingerprint as /validate computes it, with
// each image resolved to its digest through the Resolver (no digests
// without one), and the images with those digests.
func (s *Service) Fingerprint(ctx context.Context, obj *workload.Object) (string, []Image, error) {
	canonical, err := workload.CanonicalTemplate(obj)
	if err != nil {
		return "", nil, invalid("reading the pod template: %v", err)
	}
	var digests map[string]string
	if s.opts.resolver != nil {
		refs := slices.Compact(slices.Sorted(slices.Values(obj.Images())))
		if digests, err = s.opts.resolver.Resolve(ctx, obj.Namespace, refs); err != nil {
			return "", nil, fmt.Errorf("resolving the images of %s %s/%s: %w", obj.Kind, obj.Namespace, obj.DisplayName(), err)
		}
	}
	images := make([]Image, len(obj.Containers))
	for i, c := range obj.Containers {
		images[i] = Image{Container: c.Name, Ref: c.Image, Digest: digests[c.Image]}
	}
	return workload.Fingerprint(obj, canonical, digests), images, nil
}

// RequestAhead makes (or finds) the approval request for a rollout before
// it is applied: the same fingerprint /validate will compute, the
// namespace's requirements (WithRules), by as the requester. It returns
// the request — pending, or already approved for this exact rollout — and
// whether it was created now. A namespace that asks for no approval is
// refused with ErrNoRule; policies' require_approval are known only at
// admission, so such a rollout's request is made when it is applied.
func (s *Service) RequestAhead(ctx context.Context, m Manifest, by auth.User) (*Request, bool, error) {
	obj, err := m.Decode()
	if err != nil {
		return nil, false, err
	}
	reqs, err := s.rules(ctx, obj.Namespace)
	if err != nil {
		return nil, false, err
	}
	fp, images, err := s.Fingerprint(ctx, obj)
	if err != nil {
		return nil, false, err
	}
	out, err := s.Require(ctx, Query{
		Namespace: obj.Namespace, Kind: obj.Kind, Name: obj.DisplayName(), Fingerprint: fp,
		Images: images, Requester: by, Requirements: reqs,
	})
	if err != nil {
		return nil, false, err
	}
	id := out.RequestID
	if out.Satisfied {
		id = out.Approvals[0]
	}
	r, err := s.Get(ctx, id)
	return r, out.Created, err
}

// rules are the requirements of namespace's rollouts.
func (s *Service) rules(ctx context.Context, namespace string) ([]Requirement, error) {
	if s.opts.rules == nil {
		return nil, refusal(ErrNoRule, "this gateway takes no approval requests ahead of time")
	}
	reqs, err := s.opts.rules(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("finding the approval rule of namespace %s: %w", namespace, err)
	}
	if len(reqs) == 0 {
		return nil, refusal(ErrNoRule, "namespace %s asks for no approval in its binding; a policy's require_approval makes its request when the rollout is applied", namespace)
	}
	return reqs, nil
}
