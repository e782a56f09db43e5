package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// demoStory is the story the demo tells, and what its steps learn as it
// goes: the digest the first Pod was pinned to, the digest the tag names
// after it moved, the approval request a denial names.
type demoStory struct {
	images *demoImages
	people demoPeople

	pinned     string
	moved      string
	approvalID string
}

// steps is the whole story, in order.
func (s *demoStory) steps() []demoStep {
	return slices.Concat(s.signedRollout(), s.tagMoves(), s.refusals(), s.elsewhere(), s.approvals())
}

// webDeployment is shop/web at the given scale, images by version tag.
func (s *demoStory) webDeployment(replicas int32) *appsv1.Deployment {
	return demoDeployment("shop", "web", replicas, s.images.Ref("shop/web:1.4.2"), s.images.Ref("shop/envoy:1.31.0"))
}

// webPod is a Pod of web's ReplicaSet as its controller writes it: the
// template's images, by tag.
func (s *demoStory) webPod() *corev1.Pod {
	return demoPod("shop", "web-7d9c5-", s.images.Ref("shop/web:1.4.2"), s.images.Ref("shop/envoy:1.31.0"))
}

func (s *demoStory) signedRollout() []demoStep {
	web := s.webDeployment(2)
	first := createDeployment("CI creates Deployment shop/web: web:1.4.2 and envoy:1.31.0, signed by the release key, tests PASSED", ciUser, web)
	first.Section = "A signed rollout whose tests passed, and what inherits from it (namespace shop, enforced):"
	return []demoStep{
		first,
		{Title: "dana, an auditor, reads that decision's audit record through the audit API: the digests it admitted",
			Do: func(ctx context.Context, out io.Writer) error {
				_, err := s.people.auditRecords(ctx, out, "dana", url.Values{"namespace": {"shop"}, "kind": {"Deployment"}, "name": {"web"}})
				return err
			}},
		{Title: "the deployment controller creates its ReplicaSet (inherits the rollout's decision and digests)", Operation: "CREATE", User: deployCtrlUser,
			Kind: "ReplicaSet", Group: "apps", Namespace: "shop", Name: "web-7d9c5", Object: demoReplicaSet("shop", "web-7d9c5", "7d9c5", web), Owner: "Deployment/web"},
		createPod("the ReplicaSet controller creates a Pod: /mutate pins it to the digests recorded for the rollout", rsCtrlUser, "ReplicaSet/web-7d9c5", s.webPod()).
			then(func(out io.Writer, o demoOutcome) error {
				s.pinned = pinnedDigest(o, "/spec/containers/0/image")
				if s.pinned == "" {
					return errors.New("the ReplicaSet's Pod was not pinned to a digest")
				}
				return nil
			}),
		createPod("alice creates a Pod claiming that ReplicaSet as owner (judged as a bare Pod)", "alice", "ReplicaSet/web-7d9c5",
			demoPod("shop", "web-7d9c5-", s.images.Ref("shop/web:latest"))),
	}
}

func (s *demoStory) tagMoves() []demoStep {
	tag := "shop/web:1.4.2"
	return []demoStep{
		{Section: "The tag moves; the ReplicaSet keeps the digests its rollout was admitted with:",
			Title: "someone pushes a rebuild over " + tag + " (unsigned, untested)",
			Do: func(ctx context.Context, out io.Writer) error {
				var err error
				if s.moved, err = s.images.moveTag(ctx, tag); err != nil {
					return err
				}
				fmt.Fprintf(out, "    → %s now names %s (the rollout was admitted with %s)\n", s.images.Ref(tag), s.moved, s.images.Digest(tag))
				return nil
			}},
		{Title: "kubectl scale deployment/web --replicas=5 (not a rollout: allowed at once, nothing recorded)", Operation: "UPDATE", User: "alice",
			Kind: "Deployment", Group: "apps", Namespace: "shop", Name: "web", Object: s.webDeployment(5), OldObject: s.webDeployment(2)},
		createPod("the ReplicaSet controller creates another Pod for the scale", rsCtrlUser, "ReplicaSet/web-7d9c5", s.webPod()).
			then(func(out io.Writer, o demoOutcome) error {
				got := pinnedDigest(o, "/spec/containers/0/image")
				if got == s.pinned && got != s.moved {
					fmt.Fprintf(out, "    → still pinned to %s, the digest recorded at admission, not %s that the tag names now\n", got, s.moved)
					return nil
				}
				fmt.Fprintf(out, "    → pinned to %q; the first Pod was pinned to %s and the tag now names %s\n", got, s.pinned, s.moved)
				return nil
			}),
	}
}

func (s *demoStory) refusals() []demoStep {
	ref := s.images.Ref
	unsigned := createDeployment("CI creates Deployment shop/cart with cart:3.0.0, tests PASSED but never signed", ciUser,
		demoDeployment("shop", "cart", 2, ref("shop/cart:3.0.0")))
	unsigned.Section = "What the gate refuses (namespace shop, enforced):"
	pinnedLatest := demoDeployment("shop", "api", 2, ref("shop/api:latest")+"@sha256:0f5e2c48b1b35eb1e0a9d3e1c4b3d9d4f0e6c1a2b3c4d5e6f708192a3b4c5d6e")
	dryRun := createDeployment("the same, as kubectl apply --dry-run=server", ciUser, pinnedLatest)
	dryRun.DryRun = true
	return []demoStep{
		unsigned,
		createDeployment("CI creates Deployment shop/checkout with checkout:2.7.1, signed, but its tests FAILED", ciUser,
			demoDeployment("shop", "checkout", 2, ref("shop/checkout:2.7.1"))),
		createDeployment("CI creates Deployment shop/search with search:1.0.0, signed with a key the trust policy does not name", ciUser,
			demoDeployment("shop", "search", 1, ref("shop/search:1.0.0"))),
		createDeployment("CI creates Deployment shop/cache with redis:latest", ciUser,
			demoDeployment("shop", "cache", 1, "redis:latest")),
		createDeployment("CI creates Deployment shop/tracker from ghcr.io, a registry no trust policy names (and the Rego policy)", ciUser,
			demoDeployment("shop", "tracker", 1, "ghcr.io/acme/tracker:2.1.0")),
		createDeployment("CI creates Deployment shop/api with a digest behind the tag latest", ciUser, pinnedLatest),
		dryRun,
	}
}

func (s *demoStory) elsewhere() []demoStep {
	tool := createDeployment("alice deploys an untagged image in dev-alice (warn mode)", "alice",
		demoDeployment("dev-alice", "tool", 1, "nginx"))
	tool.Section = "Other namespaces, other requests:"
	return []demoStep{
		tool,
		{Title: "a node agent with a latest image in kube-system (excluded)", Operation: "CREATE", User: "cluster-admin",
			Kind: "DaemonSet", Group: "apps", Namespace: "kube-system", Name: "node-agent", Object: &appsv1.DaemonSet{
				TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
				ObjectMeta: metav1.ObjectMeta{Name: "node-agent", Namespace: "kube-system"},
				Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{Containers: demoContainers("agent:latest")},
				}},
			}},
		{Title: "a body that is not an AdmissionReview", Raw: `{"kind":"Deployment"}`},
	}
}

// pendingApproval finds the approval request a denial names.
var pendingApproval = regexp.MustCompile(`approval request (\w+) is pending`)

func (s *demoStory) approvals() []demoStep {
	api := demoDeployment("prod-payments", "api", 3, s.images.Ref("payments/api:2.0.0"))
	apply := func(title string) demoStep { return createDeployment(title, "carol", api) }
	first := apply("carol applies Deployment prod-payments/api (payments/api:2.0.0, signed, tests PASSED)").
		then(func(_ io.Writer, o demoOutcome) error {
			m := pendingApproval.FindStringSubmatch(o.Response.Result.Message)
			if o.Response.Allowed || m == nil {
				return errors.New("the production rollout did not wait for approval")
			}
			s.approvalID = m[1]
			return nil
		})
	first.Section = "A production rollout waits for two approvers (namespace prod-payments, env=prod):"
	vote := func(title, who, comment string) demoStep {
		return demoStep{Title: title, Do: func(ctx context.Context, out io.Writer) error {
			return s.people.approve(ctx, out, who, s.approvalID, comment)
		}}
	}
	return []demoStep{
		first,
		vote("carol, a release manager herself, tries to approve her own rollout", "carol", "looks good to me"),
		vote("alice approves through the approval API", "alice", "reviewed the migration"),
		apply("carol applies it again: one approver is not enough"),
		vote("bob approves", "bob", "checked the canary plan"),
		apply("carol applies it again: the same rollout, now approved"),
	}
}

// then sets what runs after the step's admission.
func (st demoStep) then(f func(io.Writer, demoOutcome) error) demoStep {
	st.Then = f
	return st
}

// pinnedDigest is the digest the /mutate patch pinned the image at path
// to, "" when it did not.
func pinnedDigest(o demoOutcome, path string) string {
	for _, p := range o.Patch {
		if v, ok := p.Value.(string); ok && p.Path == path {
			if _, d, ok := strings.Cut(v, "@"); ok {
				return d
			}
		}
	}
	return ""
}
