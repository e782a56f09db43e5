package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/workload"
)

// Validator is the /validate handler: it makes the admission decision.
type Validator struct {
	config func() *config.GatewayConfig
	opts   options
}

var _ Handler = (*Validator)(nil)

// NewValidator returns the /validate handler. cfg returns the configuration
// in force (a hot-reloading watcher's Current).
func NewValidator(cfg func() *config.GatewayConfig, opts ...Option) *Validator {
	return &Validator{config: cfg, opts: newOptions(opts)}
}

// Handle decides the request and answers it.
func (v *Validator) Handle(ctx context.Context, req *Request) Response {
	return v.Decide(ctx, req).Response()
}

// Decide runs the pipeline: exclusion, binding, extraction,
// classification, floor rules. The first failure ends it; the mode then
// says whether reasons deny. A panic inside is recovered and, in an
// enforced namespace, refuses the request (fail closed).
func (v *Validator) Decide(ctx context.Context, req *Request) (d *Decision) {
	start := time.Now()
	d = &Decision{
		ID:        v.opts.ids(),
		UID:       string(req.UID),
		Operation: string(req.Operation),
		Kind:      req.Kind.Kind,
		Namespace: req.Namespace,
		Name:      req.Name,
		User:      req.UserInfo.Username,
		DryRun:    req.IsDryRun(),
		Mode:      config.ModeEnforce,
		Binding:   -1,
		Class:     workload.Ignore.String(),
	}
	defer func() {
		if p := recover(); p != nil {
			d.refuse(http.StatusInternalServerError, "internal-error", "internal error: %v", p)
			d.settle()
		}
		v.log(d, time.Since(start))
	}()
	dctx, cancel := v.decideContext(ctx)
	defer cancel()
	v.decide(dctx, req, d)
	d.settle()
	if d.obj != nil {
		v.recordRollout(ctx, d, d.obj)
	}
	v.record(ctx, d, req)
	return d
}

func (v *Validator) decide(ctx context.Context, req *Request, d *Decision) {
	cfg := v.config()
	if slices.Contains(cfg.ExcludedNamespaces, req.Namespace) {
		d.Excluded, d.ClassReason = true, "namespace excluded"
		return
	}
	kind := workloadKind(req)
	switch {
	case kind == "":
		d.ClassReason = "not a workload kind"
		return
	case req.Operation == "DELETE" || req.Operation == "CONNECT":
		d.ClassReason = "operation " + string(req.Operation)
		return
	case req.SubResource != "" && req.SubResource != "ephemeralcontainers":
		d.ClassReason = req.SubResource + " subresource"
		return
	}
	labels, err := v.opts.namespaces.Labels(ctx, req.Namespace)
	if err != nil {
		d.refuse(http.StatusInternalServerError, "namespace-lookup", "looking up namespace %s: %v", req.Namespace, err)
		return
	}
	d.ConfigRevision = cfg.Revision()
	res := cfg.Resolve(req.Namespace, labels)
	d.Mode, d.Binding = res.Binding.Mode, res.Index

	obj, err := workload.Decode(kind, req.Object.Raw, workload.Prevalidated())
	if err != nil {
		d.refuse(http.StatusBadRequest, "invalid-object", "%v", err)
		return
	}
	d.Name = obj.DisplayName()
	var old *workload.Object
	if req.Operation == "UPDATE" && len(req.OldObject.Raw) > 0 {
		// An oldObject that cannot be read counts as absent: the object
		// is then judged in full, never waved through.
		old, _ = workload.DecodeTemplate(kind, req.OldObject.Raw, workload.Prevalidated())
		d.old = old
	}
	cls, err := workload.Classify(ctx, workload.Request{
		Operation:   string(req.Operation),
		SubResource: req.SubResource,
		Username:    req.UserInfo.Username,
	}, obj, old, v.opts.owners, controllers(cfg))
	if err != nil {
		d.refuse(http.StatusInternalServerError, "owner-lookup", "checking the owner: %v", err)
		return
	}
	d.Class, d.ClassReason = cls.Class.String(), cls.Reason
	if cls.Class == workload.Inherited && cls.Owner != nil && req.Operation == "CREATE" {
		v.inherit(ctx, d, obj, cls.Owner.Kind, cls.Owner.Name)
	}
	if cls.Class != workload.Rollout {
		return
	}
	defer func() { d.obj = obj }()
	d.Images = obj.Images()

	judged := obj.Containers
	if req.SubResource == "ephemeralcontainers" {
		judged = ephemeralOnly(obj.Containers)
	}
	d.Containers = make([]ContainerImage, len(judged))
	for i, c := range judged {
		d.Containers[i] = ContainerImage{Name: c.Name, Type: string(c.Type), Image: c.Image}
	}
	images := make(parsedImages, len(obj.Containers))
	floor(d, judged, images)
	vs := v.verifyImages(ctx, d, req, obj, judged, images, res.Binding)
	if vs != nil {
		v.fingerprint(d, obj, vs.digests())
	}
	v.evaluatePolicy(ctx, d, req, obj, images, vs, res.Binding, labels)
	v.requireApproval(ctx, d, req, obj, res.Binding.Approval)
	if err := ctx.Err(); err != nil {
		d.refuse(http.StatusGatewayTimeout, "deadline", "deciding took longer than the API server's timeout allows: %v", err)
	}
}

// workloadKind is the request's kind when it is a workload kind in its own
// API group, "" otherwise (a CRD that happens to be called Deployment is
// not a Deployment).
func workloadKind(req *Request) string {
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

func ephemeralOnly(cs []workload.Container) []workload.Container {
	var out []workload.Container
	for _, c := range cs {
		if c.Type == workload.Ephemeral {
			out = append(out, c)
		}
	}
	return out
}

// controllers is the configured controller identities, or the defaults.
func controllers(cfg *config.GatewayConfig) workload.Controllers {
	if len(cfg.Webhook.Controllers) > 0 {
		return workload.Controllers(cfg.Webhook.Controllers)
	}
	return defaultControllers
}

var defaultControllers = workload.DefaultControllers()

// log writes the decision as one structured line, joinable with the
// kubectl message and (later) the audit record by its id.
func (v *Validator) log(d *Decision, took time.Duration) {
	level := slogLevel(d)
	if !v.opts.log.Enabled(context.Background(), level) {
		return
	}
	v.opts.log.Log(context.Background(), level, "admission decision",
		"webhook", "validate",
		"decision", d.ID,
		"uid", d.UID,
		"namespace", d.Namespace,
		"name", d.Name,
		"kind", d.Kind,
		"operation", d.Operation,
		"user", d.User,
		"mode", string(d.Mode),
		"class", d.Class,
		"verdict", d.Verdict(),
		"reasons", reasonMessages(d.Reasons),
		"dryRun", d.DryRun,
		"took", fmt.Sprint(took),
	)
}
