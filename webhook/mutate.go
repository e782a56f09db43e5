package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/workload"
)

// Mutator is the /mutate handler. Its one job is to pin Pod images to
// digests: an inherited Pod to the digests recorded when its rollout was
// admitted (never a fresh tag lookup), any other Pod to the digests its
// tags resolve to now, and only digests that verified. It never denies on
// its own account and writes nothing, and it is idempotent (a pinned
// reference is left alone), so the API server may call it again
// (reinvocationPolicy: IfNeeded).
type Mutator struct {
	config func() *config.GatewayConfig
	opts   options
}

var _ Handler = (*Mutator)(nil)

// NewMutator returns the /mutate handler.
func NewMutator(cfg func() *config.GatewayConfig, opts ...Option) *Mutator {
	return &Mutator{config: cfg, opts: newOptions(opts)}
}

// Handle answers allowed, with a patch when there is something to pin;
// anything that goes wrong becomes a warning, since /validate makes the
// decision and fails closed on its own.
func (m *Mutator) Handle(ctx context.Context, req *Request) (resp Response) {
	id := m.opts.ids()
	defer func() {
		if p := recover(); p != nil {
			m.opts.log.Error("mutate panicked", "decision", id, "uid", req.UID, "panic", fmt.Sprint(p))
			resp = Allowed().WithWarnings("shipgate: images were not pinned: internal error").
				WithAnnotation("decision-id", id)
		}
	}()
	resp = Allowed().WithAnnotation("decision-id", id)
	patch, warnings := m.pin(ctx, req)
	if len(patch) > 0 {
		resp = resp.WithPatch(patch)
	}
	if len(warnings) > 0 {
		resp = resp.WithWarnings(warnings...)
	}
	return resp
}

// patchOp is one JSON patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

// pin works out the patch for req, if any.
func (m *Mutator) pin(ctx context.Context, req *Request) ([]byte, []string) {
	cfg := m.config()
	kind := workloadKind(req)
	switch {
	case slices.Contains(cfg.ExcludedNamespaces, req.Namespace), kind == "",
		req.SubResource != "" && req.SubResource != "ephemeralcontainers",
		req.Operation != "CREATE" && req.Operation != "UPDATE":
		return nil, nil
	case kind != "Pod" && !cfg.Verification.PinTemplates:
		return nil, nil
	}
	obj, err := workload.Decode(kind, req.Object.Raw, workload.Prevalidated())
	if err != nil {
		return nil, nil // /validate refuses it with the reason
	}
	var old *workload.Object
	if req.Operation == "UPDATE" && len(req.OldObject.Raw) > 0 {
		old, _ = workload.DecodeTemplate(kind, req.OldObject.Raw, workload.Prevalidated())
	}
	cls, err := workload.Classify(ctx, workload.Request{Operation: string(req.Operation), SubResource: req.SubResource, Username: req.UserInfo.Username}, obj, old, m.opts.owners, controllers(cfg))
	if err != nil {
		return nil, []string{"shipgate: images were not pinned: checking the owner: " + err.Error()}
	}
	var digests map[string]string
	var warnings []string
	switch cls.Class {
	case workload.Inherited:
		digests, warnings = m.inherited(ctx, req, cls)
	case workload.Rollout:
		digests = m.resolve(ctx, req, cfg, obj)
	}
	return imagePatch(obj, digests, req.SubResource == "ephemeralcontainers"), warnings
}

// inherited returns the digests recorded for the owner of an inherited
// object.
func (m *Mutator) inherited(ctx context.Context, req *Request, cls workload.Classification) (map[string]string, []string) {
	if m.opts.pins == nil || cls.Owner == nil {
		return nil, nil
	}
	pin, ok, err := m.opts.pins.GetPin(ctx, req.Namespace, cls.Owner.Kind, cls.Owner.Name)
	switch {
	case err != nil:
		return nil, []string{fmt.Sprintf("shipgate: images were not pinned: reading the digests of %s %s: %v", cls.Owner.Kind, cls.Owner.Name, err)}
	case !ok:
		return nil, nil
	}
	return pin.Digests, nil
}

// resolve verifies the images of a rollout Pod and returns the digests of
// those that verified.
func (m *Mutator) resolve(ctx context.Context, req *Request, cfg *config.GatewayConfig, obj *workload.Object) map[string]string {
	if m.opts.verifier == nil {
		return nil
	}
	labels, err := m.opts.namespaces.Labels(ctx, req.Namespace)
	if err != nil {
		return nil
	}
	b := cfg.Resolve(req.Namespace, labels).Binding
	ephemeral := req.SubResource == "ephemeralcontainers"
	var refs []string
	for _, c := range obj.Containers {
		if ephemeral != (c.Type == workload.Ephemeral) {
			continue // the subresource adds ephemeral containers; nothing else changes
		}
		if img, err := workload.ParseImage(c.Image); err == nil && img.Digest == "" && !img.IsLatest() {
			refs = append(refs, c.Image)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	out := map[string]string{}
	kc, key := m.opts.keychain(ctx, &Decision{Namespace: req.Namespace}, obj)
	for _, r := range m.opts.verifier.Verify(ctx, signer.Request{Images: refs, Trust: b.Trust, DryRun: req.IsDryRun(), Keychain: kc, KeychainKey: key}) {
		if r.Verified && r.Digest != "" {
			out[r.Ref] = r.Digest
		}
	}
	return out
}

// imagePatch replaces each image that has a digest in digests and carries
// none yet with its pinned form. Ephemeral containers are added through
// their own subresource: they are patched in that request (ephemeral
// true) and only there.
func imagePatch(obj *workload.Object, digests map[string]string, ephemeral bool) []byte {
	if len(digests) == 0 {
		return nil
	}
	var ops []patchOp
	pointers := obj.ImagePointers()
	for i, c := range obj.Containers {
		d := digests[c.Image]
		if d == "" || (c.Type == workload.Ephemeral) != ephemeral {
			continue
		}
		if pinned := signer.PinnedRef(c.Image, d); pinned != c.Image {
			ops = append(ops, patchOp{Op: "replace", Path: pointers[i], Value: pinned})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	b, _ := json.Marshal(ops)
	return b
}
