package approval_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/store/storetest"
)

// deployment is a Deployment of image with one env var, as JSON.
func deployment(image, logLevel string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment",
		"metadata":{"name":"api","namespace":"prod-payments"},
		"spec":{"selector":{"matchLabels":{"app":"api"}},"template":{"metadata":{"labels":{"app":"api"}},
		"spec":{"containers":[{"name":"api","image":%q,"env":[{"name":"LOG_LEVEL","value":%q}]}]}}}}`, image, logLevel))
}

// admission is what /validate asks once it has resolved the digests: the
// fingerprint of the manifest as applied.
func admission(t *testing.T, e *env, obj json.RawMessage) approval.Query {
	t.Helper()
	o, err := approval.Manifest{Object: obj}.Decode()
	if err != nil {
		t.Fatal(err)
	}
	fp, images, err := e.svc.Fingerprint(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	q := query(fp)
	q.Images = images
	return q
}

// TestFingerprintBindsTheApproval: a request made ahead of time from the
// manifest has the fingerprint the admission computes, with the image
// digests resolved from a real registry; another digest behind the same
// tag, or another env var, is another rollout that needs its own approval.
func TestFingerprintBindsTheApproval(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	image := reg.push(t, "shop/api:1.4.2")
	e := newEnv(t, storetest.Dialects[0], approval.WithResolver(headResolver{}))
	ctx := t.Context()

	r, created, err := e.svc.RequestAhead(ctx, approval.Manifest{Object: deployment(image, "info")}, dave)
	if err != nil || !created || r.State != approval.Pending {
		t.Fatalf("RequestAhead = %+v, %v, %v", r, created, err)
	}
	if len(r.Images) != 1 || !strings.HasPrefix(r.Images[0].Digest, "sha256:") || r.Requester.Name != "dave" {
		t.Fatalf("request images %+v, requester %q", r.Images, r.Requester.Name)
	}
	again, created, err := e.svc.RequestAhead(ctx, approval.Manifest{Object: deployment(image, "info")}, dave)
	if err != nil || created || again.ID != r.ID {
		t.Fatalf("asking again: %s (created %v, %v), want %s", again.ID, created, err, r.ID)
	}
	refused(t, func() error { _, err := e.svc.Approve(ctx, r.ID, dave, approval.VoteInput{}); return err }(),
		approval.ErrSelfApproval, "dave requested approval")
	approve(t, e, r.ID, alice)
	approve(t, e, r.ID, bob)

	q := admission(t, e, deployment(image, "info"))
	if q.Fingerprint != r.Fingerprint {
		t.Fatalf("admission fingerprint %s, request's %s", q.Fingerprint, r.Fingerprint)
	}
	if out, err := e.svc.Require(ctx, q); err != nil || !out.Satisfied || out.Approvals[0] != r.ID {
		t.Fatalf("the approved manifest: %+v, %v", out, err)
	}

	// Another env var, then another digest pushed behind the same tag: each
	// is another rollout, which the approval does not cover.
	for _, change := range []struct {
		name string
		obj  func() json.RawMessage
	}{
		{"another env var", func() json.RawMessage { return deployment(image, "debug") }},
		{"another digest behind the tag", func() json.RawMessage { reg.push(t, "shop/api:1.4.2"); return deployment(image, "info") }},
	} {
		t.Run(change.name, func(t *testing.T) {
			q := admission(t, e, change.obj())
			if q.Fingerprint == r.Fingerprint {
				t.Fatal("the fingerprint did not change")
			}
			out, err := e.svc.Require(ctx, q)
			if err != nil || out.Satisfied || out.RequestID == r.ID || !out.Created {
				t.Fatalf("%s after approval: %+v, %v; want a new pending request", change.name, out, err)
			}
		})
	}
}

func TestRequestAheadRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Dialects[0])
	tests := map[string]struct {
		m    approval.Manifest
		says string
	}{
		"no object":    {approval.Manifest{}, "the request has no object"},
		"not JSON":     {approval.Manifest{Object: json.RawMessage(`{"kind":`)}, "reading the object"},
		"a ConfigMap":  {approval.Manifest{Object: json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap"}`)}, "v1 ConfigMap is not a workload"},
		"a CRD's kind": {approval.Manifest{Object: json.RawMessage(`{"apiVersion":"example.com/v1","kind":"Deployment"}`)}, "is not a workload"},
		"no namespace": {approval.Manifest{Object: json.RawMessage(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}`)}, "names no namespace"},
		"two namespaces": {approval.Manifest{Namespace: "dev", Object: deployment("registry.example.com/a:1", "x")},
			`is in namespace "prod-payments", not "dev"`},
		"containers that are not a list": {approval.Manifest{Object: json.RawMessage(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x","namespace":"a"},"spec":{"template":{"spec":{"containers":"web"}}}}`)},
			"reading the Deployment"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := e.svc.RequestAhead(t.Context(), tc.m, dave)
			refused(t, err, approval.ErrInvalid, tc.says)
		})
	}
}
