package workload

import (
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrUnsupportedKind is returned for a kind that carries no pod template
// shipgate knows how to read.
var ErrUnsupportedKind = errors.New("unsupported kind")

// ErrNoObject is returned when there is no object to decode: the body is
// empty or JSON null, as the object of a DELETE request is. Classify such a
// request (it is ignored) without decoding it.
var ErrNoObject = errors.New("no object")

// Supported reports whether Decode reads kind: Pod, Deployment, ReplicaSet,
// StatefulSet, DaemonSet, Job, CronJob or ReplicationController.
func Supported(kind string) bool {
	switch kind {
	case "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet",
		"Job", "CronJob", "ReplicationController":
		return true
	}
	return false
}

// meta is the part of metadata shipgate reads. Leaving out managedFields,
// timestamps and the rest saves their decoding; encoding/json skips them.
type meta struct {
	Name            string                  `json:"name"`
	GenerateName    string                  `json:"generateName"`
	Namespace       string                  `json:"namespace"`
	UID             types.UID               `json:"uid"`
	Labels          map[string]string       `json:"labels"`
	Annotations     map[string]string       `json:"annotations"`
	OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
}

// The documents below are the few fields of each kind family that Decode
// needs; status and everything outside the pod template are skipped.
type (
	podDoc struct {
		Kind     string         `json:"kind"`
		Metadata meta           `json:"metadata"`
		Spec     corev1.PodSpec `json:"spec"`
	}
	// templateDoc reads Deployment, ReplicaSet, StatefulSet, DaemonSet and
	// Job: spec.template.
	templateDoc struct {
		Kind     string `json:"kind"`
		Metadata meta   `json:"metadata"`
		Spec     struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	// controllerDoc reads a ReplicationController, whose template may be
	// absent.
	controllerDoc struct {
		Kind     string `json:"kind"`
		Metadata meta   `json:"metadata"`
		Spec     struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	// cronJobDoc reads spec.jobTemplate.spec.template.
	cronJobDoc struct {
		Kind     string `json:"kind"`
		Metadata meta   `json:"metadata"`
		Spec     struct {
			JobTemplate struct {
				Spec struct {
					Template corev1.PodTemplateSpec `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
)

// Decode reads the object JSON of an AdmissionRequest whose kind.kind is
// kind. It decodes only identity, ownerReferences and the pod template into
// the typed k8s.io/api structs. An unknown kind wraps ErrUnsupportedKind; an
// empty or null body wraps ErrNoObject; a body whose own "kind" differs from
// kind is an error.
func Decode(kind string, raw []byte) (*Object, error) {
	if !Supported(kind) {
		return nil, fmt.Errorf("decoding %s: %w", kind, ErrUnsupportedKind)
	}
	if isNull(raw) {
		return nil, fmt.Errorf("decoding %s: %w", kind, ErrNoObject)
	}
	var (
		docKind string
		md      meta
		tmpl    corev1.PodTemplateSpec
		err     error
	)
	switch kind {
	case "Pod":
		var d podDoc
		err = json.Unmarshal(raw, &d)
		docKind, md = d.Kind, d.Metadata
		tmpl.Labels, tmpl.Annotations, tmpl.Spec = md.Labels, md.Annotations, d.Spec
	case "CronJob":
		var d cronJobDoc
		err = json.Unmarshal(raw, &d)
		docKind, md, tmpl = d.Kind, d.Metadata, d.Spec.JobTemplate.Spec.Template
	case "ReplicationController":
		var d controllerDoc
		err = json.Unmarshal(raw, &d)
		docKind, md = d.Kind, d.Metadata
		if d.Spec.Template != nil {
			tmpl = *d.Spec.Template
		}
	default:
		var d templateDoc
		err = json.Unmarshal(raw, &d)
		docKind, md, tmpl = d.Kind, d.Metadata, d.Spec.Template
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kind, err)
	}
	if docKind != "" && docKind != kind {
		return nil, fmt.Errorf("decoding %s: object is a %q", kind, docKind)
	}
	return &Object{
		Kind:            kind,
		Namespace:       md.Namespace,
		Name:            md.Name,
		GenerateName:    md.GenerateName,
		UID:             md.UID,
		Labels:          md.Labels,
		Annotations:     md.Annotations,
		OwnerReferences: md.OwnerReferences,
		Template:        tmpl,
		Containers:      containersOf(&tmpl.Spec),
	}, nil
}

// isNull reports whether raw holds no JSON value but null.
func isNull(raw []byte) bool {
	i := 0
	for i < len(raw) && isSpace(raw[i]) {
		i++
	}
	j := len(raw)
	for j > i && isSpace(raw[j-1]) {
		j--
	}
	return j == i || string(raw[i:j]) == "null"
}

// isSpace is JSON's definition of white space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}
