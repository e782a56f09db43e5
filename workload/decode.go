package workload

import (
	"errors"
	"fmt"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

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

// The spans are, as raw JSON, the part of each kind family that says what
// it runs: a Pod's spec, a CronJob's job template's pod template, every
// other kind's spec.template (Deployment, ReplicaSet, StatefulSet,
// DaemonSet, Job, ReplicationController). The docs add the identity Decode
// reads; DecodeTemplate reads a span alone.
type (
	podSpan struct {
		Spec jsontext.Value `json:"spec"`
	}
	templateSpan struct {
		Spec struct {
			Template jsontext.Value `json:"template"`
		} `json:"spec"`
	}
	cronJobSpan struct {
		Spec struct {
			JobTemplate struct {
				Spec struct {
					Template jsontext.Value `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
	head struct {
		Kind     string `json:"kind"`
		Metadata meta   `json:"metadata"`
	}
	podDoc struct {
		head
		podSpan
	}
	templateDoc struct {
		head
		templateSpan
	}
	cronJobDoc struct {
		head
		cronJobSpan
	}
	// containerNames are the two fields of a container every admission
	// needs; the rest of the template is decoded only on demand.
	containerNames struct {
		Name  string `json:"name"`
		Image string `json:"image"`
	}
	specNames struct {
		InitContainers      []containerNames `json:"initContainers"`
		Containers          []containerNames `json:"containers"`
		EphemeralContainers []containerNames `json:"ephemeralContainers"`
	}
	templateNames struct {
		Spec specNames `json:"spec"`
	}
)

// Decode reads the object JSON of an AdmissionRequest whose kind.kind is
// kind: identity, ownerReferences, and each container's name and image. The
// full pod template is decoded later, only if PodTemplate is called; most
// admissions never need it. An unknown kind wraps ErrUnsupportedKind; an
// empty or null body wraps ErrNoObject; a body whose own "kind" differs
// from kind is an error.
//
// Decode uses github.com/go-json-experiment/json (the encoding/json/v2
// proposal): several times faster than encoding/json here, and, like the API
// server's own decoder, case-sensitive about member names; it also refuses
// duplicate members and invalid UTF-8 outright.
func Decode(kind string, raw []byte, opts ...DecodeOption) (*Object, error) {
	var o decodeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if !Supported(kind) {
		return nil, fmt.Errorf("decoding %s: %w", kind, ErrUnsupportedKind)
	}
	if isNull(raw) {
		return nil, fmt.Errorf("decoding %s: %w", kind, ErrNoObject)
	}
	var (
		docKind string
		md      meta
		tmpl    jsontext.Value
		err     error
	)
	var h head
	switch kind {
	case "Pod":
		var d podDoc
		err = json.Unmarshal(raw, &d, o.json...)
		h, tmpl = d.head, d.template()
	case "CronJob":
		var d cronJobDoc
		err = json.Unmarshal(raw, &d, o.json...)
		h, tmpl = d.head, d.template()
	default:
		var d templateDoc
		err = json.Unmarshal(raw, &d, o.json...)
		h, tmpl = d.head, d.template()
	}
	docKind, md = h.Kind, h.Metadata
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kind, readableJSONError(err, ""))
	}
	if docKind != "" && docKind != kind {
		return nil, fmt.Errorf("decoding %s: object is a %q", kind, docKind)
	}
	names, err := decodeNames(kind, tmpl, o.json)
	if err != nil {
		return nil, err
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
		Containers:      namedContainers(names),
		templateJSON:    tmpl,
		jsonOpts:        o.json,
	}, nil
}

// DecodeTemplate reads only the pod template (a Pod's spec) of an object of
// kind, as raw JSON: enough to tell whether an UPDATE changed it (Classify
// with the result as old), at a fraction of Decode's cost. The Object it
// returns has Kind set and nothing else of identity or containers.
func DecodeTemplate(kind string, raw []byte, opts ...DecodeOption) (*Object, error) {
	var o decodeOptions
	for _, opt := range opts {
		opt(&o)
	}
	var (
		tmpl jsontext.Value
		err  error
	)
	switch {
	case !Supported(kind):
		return nil, fmt.Errorf("decoding %s: %w", kind, ErrUnsupportedKind)
	case isNull(raw):
		return nil, fmt.Errorf("decoding %s: %w", kind, ErrNoObject)
	case kind == "Pod":
		var d podSpan
		err = json.Unmarshal(raw, &d, o.json...)
		tmpl = d.template()
	case kind == "CronJob":
		var d cronJobSpan
		err = json.Unmarshal(raw, &d, o.json...)
		tmpl = d.template()
	default:
		var d templateSpan
		err = json.Unmarshal(raw, &d, o.json...)
		tmpl = d.template()
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kind, readableJSONError(err, ""))
	}
	return &Object{Kind: kind, templateJSON: tmpl, templateOnly: true, jsonOpts: o.json}, nil
}

// TemplateImages lists the image of every container of the pod template,
// as written: for an Object from DecodeTemplate, whose Containers are not
// read, it reads only the containers' names and images from the template.
func (o *Object) TemplateImages() ([]string, error) {
	cs := o.Containers
	if o.templateOnly {
		names, err := decodeNames(o.Kind, o.templateJSON, o.jsonOpts)
		if err != nil {
			return nil, err
		}
		cs = namedContainers(names)
	}
	images := make([]string, len(cs))
	for i, c := range cs {
		images[i] = c.Image
	}
	return images, nil
}

// decodeNames reads each container's name and image from a pod template of
// kind (a Pod's spec), decoded with opts; an absent or null template has
// none.
func decodeNames(kind string, tmpl jsontext.Value, opts []json.Options) (*specNames, error) {
	var names specNames
	if len(tmpl) == 0 || isNull(tmpl) {
		return &names, nil
	}
	var err error
	if kind == "Pod" {
		err = json.Unmarshal(tmpl, &names, opts...)
	} else {
		var t templateNames
		err = json.Unmarshal(tmpl, &t, opts...)
		names = t.Spec
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kind, readableJSONError(err, templatePointer(kind)))
	}
	return &names, nil
}

func (s podSpan) template() jsontext.Value      { return s.Spec }
func (s templateSpan) template() jsontext.Value { return s.Spec.Template }
func (s cronJobSpan) template() jsontext.Value  { return s.Spec.JobTemplate.Spec.Template }

// DecodeOption adjusts Decode.
type DecodeOption func(*decodeOptions)

type decodeOptions struct {
	json []json.Options
}

// Prevalidated tells Decode that raw was cut out of a document a strict
// decoder has already accepted whole — one that refuses duplicate member
// names and invalid UTF-8 at every depth, as webhook.DecodeReview does for
// an AdmissionReview's object and oldObject — so those checks need not run
// a second time. They cost about a tenth of a /validate call.
func Prevalidated() DecodeOption {
	return func(o *decodeOptions) {
		o.json = append(o.json, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	}
}

// namedContainers lists the containers of s in the order of
// Object.Containers.
func namedContainers(s *specNames) []Container {
	n := len(s.InitContainers) + len(s.Containers) + len(s.EphemeralContainers)
	if n == 0 {
		return nil
	}
	out := make([]Container, 0, n)
	for _, c := range s.InitContainers {
		out = append(out, Container{Name: c.Name, Image: c.Image, Type: Init})
	}
	for _, c := range s.Containers {
		out = append(out, Container{Name: c.Name, Image: c.Image, Type: Regular})
	}
	for _, c := range s.EphemeralContainers {
		out = append(out, Container{Name: c.Name, Image: c.Image, Type: Ephemeral})
	}
	return out
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

// templatePointer is where the pod template (a Pod's spec) sits in an
// object of kind, as a JSON pointer.
func templatePointer(kind string) string {
	switch kind {
	case "Pod":
		return "/spec"
	case "CronJob":
		return "/spec/jobTemplate/spec/template"
	}
	return "/spec/template"
}
