package workload

import (
	"fmt"
	"slices"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ContainerType says which list of the pod spec a container comes from. The
// values are the words shipgate uses in messages and policy input.
type ContainerType string

// The three container lists of a pod spec.
const (
	Regular   ContainerType = "container"
	Init      ContainerType = "initContainer"
	Ephemeral ContainerType = "ephemeralContainer"
)

// Container is one container of a pod template: its name, its image as
// written and the list it comes from.
type Container struct {
	Name  string
	Image string
	Type  ContainerType
}

// Object is a workload as shipgate sees it: identity, ownership and the pod
// template it runs, whatever its kind.
type Object struct {
	// Kind is the AdmissionRequest's kind.kind: "Deployment", "Pod", ….
	Kind         string
	Namespace    string
	Name         string
	GenerateName string
	UID          types.UID
	Labels       map[string]string
	Annotations  map[string]string
	// OwnerReferences are the object's own ownerReferences.
	OwnerReferences []metav1.OwnerReference
	// Containers lists init containers, then containers, then ephemeral
	// containers, each in spec order.
	Containers []Container

	// templateJSON is the pod template as received (for a Pod, its spec);
	// template is its typed form, decoded on first use by PodTemplate,
	// since most admissions never need more than Containers.
	templateJSON jsontext.Value
	template     *corev1.PodTemplateSpec
	// templateOnly marks an Object from DecodeTemplate: its Containers
	// were not read.
	templateOnly bool
	// jsonOpts are the options the template is decoded with: Decode's,
	// so a Prevalidated template is not checked again.
	jsonOpts []json.Options
}

// NewObject builds an Object from a typed pod template, for callers that
// hold Go values rather than JSON. For a Pod, t holds its labels,
// annotations and spec.
func NewObject(kind string, meta metav1.ObjectMeta, t corev1.PodTemplateSpec) *Object {
	return &Object{
		Kind:            kind,
		Namespace:       meta.Namespace,
		Name:            meta.Name,
		GenerateName:    meta.GenerateName,
		UID:             meta.UID,
		Labels:          meta.Labels,
		Annotations:     meta.Annotations,
		OwnerReferences: meta.OwnerReferences,
		Containers:      containersOf(&t.Spec),
		template:        &t,
	}
}

// PodTemplate is the pod template, decoded on first use. For a Pod it holds
// the Pod's own labels and annotations and its spec; for a CronJob it is
// spec.jobTemplate.spec.template. An Object is not safe for concurrent use
// until PodTemplate has been called once.
func (o *Object) PodTemplate() (*corev1.PodTemplateSpec, error) {
	if o.template != nil {
		return o.template, nil
	}
	t := &corev1.PodTemplateSpec{}
	if len(o.templateJSON) > 0 && string(o.templateJSON) != "null" {
		var err error
		if o.Kind == "Pod" {
			err = json.Unmarshal(o.templateJSON, &t.Spec, o.jsonOpts...)
		} else {
			err = json.Unmarshal(o.templateJSON, t, o.jsonOpts...)
		}
		if err != nil {
			return nil, fmt.Errorf("decoding %s pod template: %w", o.Kind, readableJSONError(err, templatePointer(o.Kind)))
		}
	}
	if o.Kind == "Pod" {
		t.Labels, t.Annotations = o.Labels, o.Annotations
	}
	o.template = t
	return t, nil
}

// DisplayName is the name to show people: Name, or GenerateName followed by
// "*" when the API server has not generated the name yet ("web-7d9c5-*").
func (o *Object) DisplayName() string {
	if o.Name == "" && o.GenerateName != "" {
		return o.GenerateName + "*"
	}
	return o.Name
}

// Images lists the distinct image references of all containers as written,
// in the order first seen. Four containers naming one tag give one entry, so
// the tag is resolved once. A linear search beats a map for the handful of
// containers a pod has.
func (o *Object) Images() []string {
	images := make([]string, 0, len(o.Containers))
	for _, c := range o.Containers {
		if !slices.Contains(images, c.Image) {
			images = append(images, c.Image)
		}
	}
	return images
}

// containersOf lists the containers of spec in the order of Object.Containers.
func containersOf(spec *corev1.PodSpec) []Container {
	n := len(spec.InitContainers) + len(spec.Containers) + len(spec.EphemeralContainers)
	if n == 0 {
		return nil
	}
	out := make([]Container, 0, n)
	for _, c := range spec.InitContainers {
		out = append(out, Container{Name: c.Name, Image: c.Image, Type: Init})
	}
	for _, c := range spec.Containers {
		out = append(out, Container{Name: c.Name, Image: c.Image, Type: Regular})
	}
	for _, c := range spec.EphemeralContainers {
		out = append(out, Container{Name: c.Name, Image: c.Image, Type: Ephemeral})
	}
	return out
}
