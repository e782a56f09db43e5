package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// pinning is a gateway with a signer and a store, both webhooks, and a
// registry of signed images.
type pinning struct {
	imgs     *signedtest.Images
	db       *store.DB
	pins     signer.Pins
	validate *Validator
	mutate   *Mutator
}

func newPinning(t *testing.T) *pinning {
	t.Helper()
	return newPinningOn(t, storetest.Open(t, store.SQLite))
}

// newPinningOn is newPinning on db, with extra options for both handlers.
func newPinningOn(t *testing.T, db *store.DB, extra ...Option) *pinning {
	t.Helper()
	imgs := signedtest.New(t)
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce, trust: [test]}\n"+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signer.CompileTrust(cfg, func(s *config.Source) ([]byte, error) { return []byte(s.Data), nil })
	if err != nil {
		t.Fatal(err)
	}
	pins := signer.StorePins(db)
	opts := append([]Option{
		WithVerifier(signer.New(cfg.Verification, trust)), WithPins(pins),
		WithOwners(cluster), WithIDs(sequence()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}, extra...)
	get := func() *config.GatewayConfig { return cfg }
	return &pinning{imgs: imgs, db: db, pins: pins, validate: NewValidator(get, opts...), mutate: NewMutator(get, opts...)}
}

// review is an AdmissionReview of a workload in namespace shop.
func review(t *testing.T, uid, kind, group, user, object string, dryRun bool) *Request {
	t.Helper()
	raw := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":%q,
		"kind":{"group":%q,"version":"v1","kind":%q},"resource":{"group":%q,"version":"v1","resource":"x"},
		"namespace":"shop","operation":"CREATE","userInfo":{"username":%q},"dryRun":%v,"object":%s}}`,
		uid, group, kind, group, user, dryRun, object)
	req, err := DecodeReview([]byte(raw))
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return req
}

func deploymentJSON(name, image string) string {
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":"shop","uid":"a1b2c3d4-0000-4000-8000-000000000001"},
		"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q},{"name":"sidecar","image":%q}]}}}}`, name, image, image)
}

const (
	deployerUser = "system:serviceaccount:ci:deployer"
	rsController = "system:serviceaccount:kube-system:replicaset-controller"
	dpController = "system:serviceaccount:kube-system:deployment-controller"
)

// TestPinningFollowsTheRollout: an admitted Deployment records its
// digests; its ReplicaSet copies them; its Pods are pinned to them even
// after the tag has moved to another image; a bare Pod is pinned to what
// its tag names now; a dry run records nothing; an untrusted image is
// refused.
func TestPinningFollowsTheRollout(t *testing.T) {
	p := newPinning(t)
	ref, first := p.imgs.Push(t, "shop/web", "1.0", signer.TestsPassed)

	d := p.validate.Decide(t.Context(), review(t, "u1", "Deployment", "apps", deployerUser, deploymentJSON("web", ref), false))
	if !d.Allowed || d.Class != "rollout" {
		t.Fatalf("the signed Deployment: allowed=%v class=%s reasons %v", d.Allowed, d.Class, d.Reasons)
	}
	if d.Containers[0].Digest != first || d.Containers[1].Digest != first {
		t.Errorf("decision digests %+v, want %s", d.Containers, first)
	}
	pin, ok, err := p.db.GetPin(t.Context(), "shop", "Deployment", "web")
	if err != nil || !ok || pin.Digests[ref] != first || pin.Fingerprint != d.Fingerprint {
		t.Fatalf("Deployment pin %+v %v %v, want %s under fingerprint %s", pin, ok, err, first, d.Fingerprint)
	}

	// The ReplicaSet, created by the deployment controller.
	rs := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-7d9c5b8f4","namespace":"shop",
		"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"a1b2c3d4-0000-4000-8000-000000000001","controller":true}]},
		"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q},{"name":"sidecar","image":%q}]}}}}`, ref, ref)
	if d := p.validate.Decide(t.Context(), review(t, "u2", "ReplicaSet", "apps", dpController, rs, false)); !d.Allowed || d.Class != "inherited" {
		t.Fatalf("the ReplicaSet: allowed=%v class=%s %v", d.Allowed, d.Class, d.Reasons)
	}

	// The tag moves to another image, signed and tested too.
	_, second := p.imgs.Push(t, "shop/web", "1.0", signer.TestsPassed)
	if second == first {
		t.Fatal("the tag did not move")
	}

	pod := func(owner string) string {
		return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-7d9c5b8f4-","namespace":"shop"%s},
			"spec":{"containers":[{"name":"web","image":%q},{"name":"sidecar","image":%q}]}}`, owner, ref, ref)
	}
	owned := pod(`,"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d9c5b8f4","uid":"a1b2c3d4-0000-4000-8000-000000000002","controller":true}]`)
	resp := p.mutate.Handle(t.Context(), review(t, "u3", "Pod", "", rsController, owned, false))
	wantPatch(t, resp, ref+"@"+first)

	// Mutate is idempotent: a pinned Pod is left alone.
	pinned := strings.ReplaceAll(owned, ref, ref+"@"+first)
	if resp := p.mutate.Handle(t.Context(), review(t, "u3", "Pod", "", rsController, pinned, false)); resp.Patch != nil {
		t.Errorf("a pinned Pod was patched again: %s", resp.Patch)
	}
	if d := p.validate.Decide(t.Context(), review(t, "u3", "Pod", "", rsController, pinned, false)); !d.Allowed || d.Class != "inherited" || d.Fingerprint != pin.Fingerprint {
		t.Errorf("the inherited Pod: allowed=%v class=%s fingerprint %s, want inherited on %s", d.Allowed, d.Class, d.Fingerprint, pin.Fingerprint)
	}
	if err := p.pins.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, n, _, err := p.db.GetRollout(t.Context(), pin.Fingerprint); err != nil || n != 2 {
		t.Errorf("the rollout counts %d inherited objects (%v), want 2 (the ReplicaSet and one Pod)", n, err)
	}

	// A bare Pod made by the deployer resolves the tag afresh.
	bare := p.mutate.Handle(t.Context(), review(t, "u4", "Pod", "", deployerUser, pod(""), false))
	wantPatch(t, bare, ref+"@"+second)

	// A dry run decides the same and records nothing.
	if d := p.validate.Decide(t.Context(), review(t, "u5", "Deployment", "apps", deployerUser, deploymentJSON("dry", ref), true)); !d.Allowed {
		t.Errorf("dry run refused: %v", d.Reasons)
	}
	if _, ok, _ := p.db.GetPin(t.Context(), "shop", "Deployment", "dry"); ok {
		t.Error("a dry run left a pin")
	}

	// An image from a registry no trust policy names.
	d = p.validate.Decide(t.Context(), review(t, "u6", "Deployment", "apps", deployerUser, deploymentJSON("x", "registry.example.com/shop/web:1.0"), false))
	if d.Allowed || !strings.Contains(d.Message(), "no trust policy matches registry.example.com/shop/web") {
		t.Errorf("an untrusted registry: allowed=%v %q", d.Allowed, d.Message())
	}
	// An image whose tests failed.
	failing, _ := p.imgs.Push(t, "shop/web", "1.1", signer.TestsFailed)
	d = p.validate.Decide(t.Context(), review(t, "u7", "Deployment", "apps", deployerUser, deploymentJSON("y", failing), false))
	if d.Allowed || !strings.Contains(d.Message(), "tests did not pass: result FAILED; failed: TestServes") {
		t.Errorf("a failing image: allowed=%v %q", d.Allowed, d.Message())
	}
	if resp := p.mutate.Handle(t.Context(), review(t, "u8", "Pod", "", deployerUser, strings.ReplaceAll(pod(""), ref, failing), false)); resp.Patch != nil {
		t.Errorf("a digest that did not verify was pinned: %s", resp.Patch)
	}
}

func wantPatch(t *testing.T, resp Response, image string) {
	t.Helper()
	var ops []patchOp
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatalf("patch %s: %v", resp.Patch, err)
	}
	want := []patchOp{
		{Op: "replace", Path: "/spec/containers/0/image", Value: image},
		{Op: "replace", Path: "/spec/containers/1/image", Value: image},
	}
	if len(ops) != len(want) || ops[0] != want[0] || ops[1] != want[1] {
		t.Errorf("patch %+v, want %+v", ops, want)
	}
}

// TestLastKnownGoodIsAWarningAndANote: with the registry down, a digest
// verified within maxStale is admitted with a warning kubectl prints and a
// note in the audit record.
func TestLastKnownGoodIsAWarningAndANote(t *testing.T) {
	imgs := signedtest.New(t)
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce, trust: [test]}\nverification: {maxStale: 1h}\n"+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signer.CompileTrust(cfg, func(s *config.Source) ([]byte, error) { return []byte(s.Data), nil })
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, store.SQLite)
	ref, digest := imgs.Push(t, "shop/web", "1.0", signer.TestsPassed)
	pinned := ref + "@" + digest
	validator := func() *Validator {
		return NewValidator(func() *config.GatewayConfig { return cfg },
			WithVerifier(signer.New(cfg.Verification, trust, signer.WithLastKnownGood(db))), WithIDs(sequence()),
			WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	}
	if d := validator().Decide(t.Context(), review(t, "u1", "Deployment", "apps", deployerUser, deploymentJSON("web", pinned), false)); !d.Allowed {
		t.Fatalf("refused while the registry is up: %v", d.Reasons)
	}
	imgs.Registry.SetFault(func(w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	req := review(t, "u2", "Deployment", "apps", deployerUser, deploymentJSON("web2", pinned), false)
	d := validator().Decide(t.Context(), req)
	if !d.Allowed || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "admitted on its last-known-good verification") {
		t.Fatalf("registry down: allowed=%v warnings %q reasons %v", d.Allowed, d.Warnings, d.Reasons)
	}
	if rec := AuditRecord(d, req); !strings.Contains(string(rec.Details), `"notes":["last-known-good: `+pinned+" "+digest) {
		t.Errorf("the audit record's details %s lack the last-known-good note", rec.Details)
	}
}

// TestEphemeralContainersArePinned: kubectl debug's container (the
// pods/ephemeralcontainers subresource) is pinned to the digest that
// verified, and the Pod's other containers are left as they are.
func TestEphemeralContainersArePinned(t *testing.T) {
	p := newPinning(t)
	ref, digest := p.imgs.Push(t, "tools/debug", "1.1", signer.TestsPassed)
	pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"shop"},
		"spec":{"containers":[{"name":"web","image":"registry.example.com/web:1"}],
		"ephemeralContainers":[{"name":"debugger","image":%q}]}}`, ref)
	raw := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"e1",
		"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"subResource":"ephemeralcontainers",
		"namespace":"shop","operation":"UPDATE","userInfo":{"username":%q},"object":%s,"oldObject":%s}}`,
		deployerUser, pod, strings.Replace(pod, `,
		"ephemeralContainers":[{"name":"debugger","image":"`+ref+`"}]`, "", 1))
	req, err := DecodeReview([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	resp := p.mutate.Handle(t.Context(), req)
	var ops []patchOp
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatalf("patch %s: %v (warnings %q)", resp.Patch, err, resp.Warnings)
	}
	want := patchOp{Op: "replace", Path: "/spec/ephemeralContainers/0/image", Value: ref + "@" + digest}
	if len(ops) != 1 || ops[0] != want {
		t.Errorf("patch %+v, want only %+v", ops, want)
	}
}
