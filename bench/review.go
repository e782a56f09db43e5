package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// uidPlaceholder is the request uid in a prepared review; its last twelve
// hex digits are replaced by a counter for each request sent, so every
// request the API server would send has its own uid.
const uidPlaceholder = "b3c0a1e2-5d4f-4c3b-9a21-000000000000"

// request is one prepared AdmissionReview.
type request struct {
	// webhook is "mutate" or "validate": the shipgate path. The OPA peer
	// answers both at its one decision path, as in OPA's tutorial.
	webhook string
	// what names the request in errors: "validate CREATE Pod shop/web-1".
	what   string
	body   []byte
	uidOff int // offset of the counter digits in body
}

// withUID is body with the uid counter set to n, written into buf.
func (r *request) withUID(buf []byte, n uint64) []byte {
	buf = append(buf[:0], r.body...)
	var b [8]byte
	for i := range 6 {
		b[i] = byte(n >> (8 * (5 - i)))
	}
	hex.Encode(buf[r.uidOff:r.uidOff+12], b[:6])
	return buf
}

// uidString is the uid withUID writes for n.
func (r *request) uidString(n uint64) string {
	var b [6]byte
	for i := range 6 {
		b[i] = byte(n >> (8 * (5 - i)))
	}
	return uidPlaceholder[:24] + hex.EncodeToString(b[:])
}

// dryRun is r with the request's dryRun set. The field follows the uid
// in the review, so the uid's offset stays.
func (r request) dryRun() request {
	out := r
	out.body = bytes.Replace(r.body, []byte(`"dryRun":false`), []byte(`"dryRun":true`), 1)
	out.what = r.what + " (dry run)"
	if bytes.Equal(out.body, r.body) || bytes.Index(out.body, []byte(uidPlaceholder)) != r.uidOff-24 {
		panic("review: cannot set dryRun")
	}
	return out
}

type gvk struct{ group, version, kind, resource string }

var (
	deploymentKind = gvk{"apps", "v1", "Deployment", "deployments"}
	replicaSetKind = gvk{"apps", "v1", "ReplicaSet", "replicasets"}
	podKind        = gvk{"", "v1", "Pod", "pods"}
)

// review builds the AdmissionReview the API server sends for op on obj
// (old for an UPDATE), as user.
func review(webhook string, k gvk, op admissionv1.Operation, name string, obj, old any, user string, groups []string) request {
	no := false
	var opts runtime.RawExtension
	switch op {
	case admissionv1.Create:
		opts.Raw = mustJSON(metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}, FieldManager: "kubectl-client-side-apply"})
	case admissionv1.Update:
		opts.Raw = mustJSON(metav1.UpdateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "UpdateOptions"}, FieldManager: "kubectl-client-side-apply"})
	}
	gk := metav1.GroupVersionKind{Group: k.group, Version: k.version, Kind: k.kind}
	gr := metav1.GroupVersionResource{Group: k.group, Version: k.version, Resource: k.resource}
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:  uidPlaceholder,
			Kind: gk, Resource: gr, RequestKind: &gk, RequestResource: &gr,
			Name: name, Namespace: namespace, Operation: op,
			UserInfo: authnv1.UserInfo{Username: user, UID: string(uidOf("User", "", user)), Groups: groups},
			Object:   runtime.RawExtension{Raw: mustJSON(obj)},
			DryRun:   &no,
			Options:  opts,
		},
	}
	if old != nil {
		ar.Request.OldObject = runtime.RawExtension{Raw: mustJSON(old)}
	}
	body, err := json.Marshal(ar)
	if err != nil {
		panic(err)
	}
	off := bytes.Index(body, []byte(uidPlaceholder))
	if off < 0 || bytes.Count(body, []byte(uidPlaceholder)) != 1 {
		panic("review: uid placeholder not found once")
	}
	return request{
		webhook: webhook,
		what:    fmt.Sprintf("%s %s %s %s/%s", webhook, op, k.kind, namespace, name),
		body:    body,
		uidOff:  off + 24,
	}
}

// controllerGroups are the groups of a controller's service account.
var controllerGroups = []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}

// deployerGroups are the CI deployer's groups.
var deployerGroups = []string{"system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"}
