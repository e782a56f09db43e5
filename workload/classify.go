package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Class says what an admission request is to shipgate.
type Class int

// The classes of Classify.
const (
	// Ignore is neither a rollout nor inherited (a scale, a label change, a
	// status update, a delete): allow at once.
	Ignore Class = iota
	// Rollout is a new or changed pod template or image set, judged in full.
	Rollout
	// Inherited is an object a controller creates beneath an admitted
	// rollout; it passes on that rollout's decision and digests.
	Inherited
)

// String is the word used in logs, audit records and policy input.
func (c Class) String() string {
	switch c {
	case Ignore:
		return "ignore"
	case Rollout:
		return "rollout"
	case Inherited:
		return "inherited"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Classification is Classify's verdict and the reason for it.
type Classification struct {
	Class Class
	// Reason says why, for logs and messages: "status subresource",
	// "inherits from ReplicaSet web-7d9c5", "owner ReplicaSet web-7d9c5 not
	// found: judged as a bare object", ….
	Reason string
	// Owner is the controller owner the object inherits from; set for
	// Inherited only.
	Owner *metav1.OwnerReference
}

// OwnerLookup tells whether an owner object exists with the UID its
// reference names. Package kube implements it with client-go; a nil
// OwnerLookup means there is no cluster to ask, so nothing inherits.
type OwnerLookup interface {
	OwnerExists(ctx context.Context, namespace string, ref metav1.OwnerReference) (bool, error)
}

// Request is the part of an AdmissionRequest that Classify reads.
type Request struct {
	Operation   string // CREATE, UPDATE, DELETE or CONNECT
	SubResource string // "" for the object itself
	Username    string // userInfo.username
}

// ephemeralContainers is the one subresource that changes what a pod runs.
const ephemeralContainers = "ephemeralcontainers"

// errNoObject is returned when a request that needs an object has none.
var errNoObject = errors.New("classifying: request has no object")

// Classify decides whether a request is a rollout, inherited, or neither,
// following DESIGN.md ("Words"):
//
//   - DELETE and CONNECT are ignored; so is every subresource (status,
//     scale, binding, eviction, …) but ephemeralcontainers;
//   - a pods/ephemeralcontainers UPDATE is a rollout when it adds or changes
//     ephemeral containers, else ignored;
//   - an UPDATE that leaves the pod template and the images unchanged is
//     ignored (for a Pod, which has no template, its spec and images: a
//     Pod's labels and annotations are metadata like any other object's);
//   - anything else is inherited when its controller owner is of a kind that
//     creates it, the request comes from that controller's user in ctrls,
//     and owners confirms the owner exists; otherwise it is a rollout, the
//     reason saying why it was judged as a bare object.
//
// obj may be nil for DELETE and CONNECT; old is the AdmissionRequest's
// oldObject (nil on CREATE). A lookup error is returned as is, so the caller
// can fail closed.
func Classify(ctx context.Context, req Request, obj, old *Object, owners OwnerLookup, ctrls Controllers) (Classification, error) {
	switch req.Operation {
	case "DELETE", "CONNECT":
		return Classification{Class: Ignore, Reason: req.Operation + " is not a rollout"}, nil
	}
	if req.SubResource != "" && req.SubResource != ephemeralContainers {
		return Classification{Class: Ignore, Reason: req.SubResource + " subresource"}, nil
	}
	if obj == nil {
		return Classification{}, errNoObject
	}
	if req.SubResource == ephemeralContainers {
		if old != nil && sameEphemeral(obj, old) {
			return Classification{Class: Ignore, Reason: "ephemeral containers unchanged"}, nil
		}
		return Classification{Class: Rollout, Reason: "ephemeral containers added or changed"}, nil
	}
	if req.Operation == "UPDATE" && old != nil && unchanged(obj, old) {
		return Classification{Class: Ignore, Reason: "template and images unchanged"}, nil
	}
	return judge(ctx, req, obj, owners, ctrls)
}

// unchanged reports whether an UPDATE leaves what obj runs as it was. Two
// objects decoded from JSON compare their raw templates (see SameTemplate);
// otherwise the typed templates are compared. A template that cannot be
// decoded counts as changed.
func unchanged(obj, old *Object) bool {
	if obj.templateJSON != nil && old.templateJSON != nil {
		return bytes.Equal(obj.templateJSON, old.templateJSON)
	}
	if obj.templateOnly || old.templateOnly || !slices.Equal(obj.Containers, old.Containers) {
		return false
	}
	a, errA := obj.PodTemplate()
	b, errB := old.PodTemplate()
	if errA != nil || errB != nil {
		return false
	}
	if obj.Kind == "Pod" {
		return equality.Semantic.DeepEqual(a.Spec, b.Spec)
	}
	return equality.Semantic.DeepEqual(*a, *b)
}

// judge decides between Rollout and Inherited for a new or changed object.
func judge(ctx context.Context, req Request, obj *Object, lookup OwnerLookup, ctrls Controllers) (Classification, error) {
	_, inherits := inheritsFrom[obj.Kind]
	if !inherits {
		return Classification{Class: Rollout, Reason: changeOf(req, obj)}, nil
	}
	ref := controllerOf(obj.OwnerReferences)
	if ref == nil {
		return bare("no controller owner"), nil
	}
	owner := ref.Kind + " " + ref.Name
	if !canInheritFrom(obj.Kind, ref) {
		return bare(fmt.Sprintf("owner %s (%s) does not create a %s", owner, ref.APIVersion, obj.Kind)), nil
	}
	if !ctrls.allows(ref.Kind, req.Username) {
		return bare(fmt.Sprintf("%s by %s, not %s's controller", verb(req), who(req.Username), ref.Kind)), nil
	}
	if lookup == nil {
		return bare("no cluster to look up owner " + owner), nil
	}
	ok, err := lookup.OwnerExists(ctx, obj.Namespace, *ref)
	if err != nil {
		return Classification{}, fmt.Errorf("looking up owner %s: %w", owner, err)
	}
	if !ok {
		return bare("owner " + owner + " not found"), nil
	}
	return Classification{Class: Inherited, Reason: "inherits from " + owner, Owner: ref}, nil
}

// bare is the Rollout verdict for an object that could have inherited but
// does not, and why.
func bare(why string) Classification {
	return Classification{Class: Rollout, Reason: why + ": judged as a bare object"}
}

// changeOf is the reason a top-level workload is a rollout.
func changeOf(req Request, obj *Object) string {
	if req.Operation == "CREATE" {
		return "new " + obj.Kind
	}
	return "pod template or images changed"
}

// verb says what the requester did, for reasons.
func verb(req Request) string {
	if req.Operation == "CREATE" {
		return "created"
	}
	return "changed"
}

// who names the requester, for reasons.
func who(username string) string {
	if username == "" {
		return "an unnamed user"
	}
	return username
}

// controllerOf returns a copy of the ownerReference marked controller: true,
// or nil. The API server allows at most one.
func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if c := refs[i].Controller; c != nil && *c {
			ref := refs[i]
			return &ref
		}
	}
	return nil
}

// ofType returns the containers of type t, in order.
func ofType(cs []Container, t ContainerType) []Container {
	var out []Container
	for _, c := range cs {
		if c.Type == t {
			out = append(out, c)
		}
	}
	return out
}

// sameEphemeral reports whether old has the same ephemeral containers as
// obj. An Object from DecodeTemplate knows only its raw spec: then the
// whole specs are compared, and any difference counts as a change.
func sameEphemeral(obj, old *Object) bool {
	if old.templateOnly || obj.templateOnly {
		return obj.templateJSON != nil && bytes.Equal(obj.templateJSON, old.templateJSON)
	}
	return slices.Equal(ofType(obj.Containers, Ephemeral), ofType(old.Containers, Ephemeral))
}
