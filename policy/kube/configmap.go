package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/shipgate/shipgate/policy"
)

// The label that makes a ConfigMap policy, and the annotations shipgate
// reads and writes on it.
const (
	// LabelPolicy with the value LabelPolicyValue marks a ConfigMap as
	// Rego policy: shipgate.dev/policy: rego.
	LabelPolicy      = "shipgate.dev/policy"
	LabelPolicyValue = "rego"
	// AnnotationRegoVersion "v0" parses every module of the ConfigMap as
	// Rego v0; "v1" as v1. Without it each module is read as package
	// policy reads a file: its own marker comment, else v1, else v0.
	AnnotationRegoVersion = "shipgate.dev/rego-version"
	// AnnotationStatus is written by shipgate: whether the ConfigMap
	// loaded, and its compile errors when it did not.
	AnnotationStatus = "shipgate.dev/policy-status"
)

// Selector is the label selector of policy ConfigMaps.
const Selector = LabelPolicy + "=" + LabelPolicyValue

// dataKeys are the keys read as data documents, as in a policy directory.
var dataKeys = []string{"data.json", "data.yaml", "data.yml"}

// content is what one source contributes to a policy bundle: the Rego
// modules and data files of one version of a ConfigMap, or one reading of
// the policy directory. It never changes once built.
type content struct {
	// modules are keyed by module name, the name compile errors report.
	modules map[string]policy.Module
	// data are data files, applied in order; dir holds the directory's
	// data document already merged (nil for a ConfigMap).
	data []dataFile
	dir  map[string]any
	// digest identifies the content: equal digests, equal content.
	digest string
}

// dataFile is one data document of a ConfigMap.
type dataFile struct {
	key string
	raw []byte
}

// modulePrefix is what the names of a ConfigMap's modules start with:
// "configmap/<namespace>/<name>/", then the key. Logs and errors name the
// ConfigMap with it; the status, written on the ConfigMap itself, shows the
// key alone.
func modulePrefix(namespace, name string) string {
	return "configmap/" + namespace + "/" + name + "/"
}

// digestOf identifies what shipgate reads of a ConfigMap: the Rego version
// annotation, and every data and binaryData key with its value. Labels,
// other annotations (the status among them) and the resourceVersion are
// not part of it, so writing the status is not a change of policy.
func digestOf(cm *corev1.ConfigMap) string {
	h := sha256.New()
	fmt.Fprintf(h, "version %q\n", cm.Annotations[AnnotationRegoVersion])
	for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
		fmt.Fprintf(h, "data %q %d\n%s", k, len(cm.Data[k]), cm.Data[k])
	}
	for _, k := range slices.Sorted(maps.Keys(cm.BinaryData)) {
		fmt.Fprintf(h, "binary %q %d\n%s", k, len(cm.BinaryData[k]), cm.BinaryData[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readConfigMap reads the policy of a ConfigMap: every key ending ".rego"
// is a module, data.json, data.yaml and data.yml are data documents, other
// keys are left alone (a README beside the policy). It checks what can be
// checked of one ConfigMap alone: the Rego version annotation, that each
// data document is a JSON or YAML object, that there is something to load.
// Rego is parsed later, with the rest of its policy.
//
// The error is the ConfigMap's status, so it names keys, not module names.
func readConfigMap(cm *corev1.ConfigMap) (*content, error) {
	c := &content{modules: map[string]policy.Module{}, digest: digestOf(cm)}
	version := policy.RegoAuto
	switch v, ok := cm.Annotations[AnnotationRegoVersion]; {
	case !ok:
	case strings.TrimSpace(v) == "v0":
		version = policy.RegoV0
	case strings.TrimSpace(v) == "v1":
		version = policy.RegoV1
	default:
		return nil, fmt.Errorf("annotation %s: unknown Rego version %q (v0 or v1)", AnnotationRegoVersion, v)
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(cm.BinaryData)) {
		if strings.HasSuffix(k, ".rego") || slices.Contains(dataKeys, k) {
			errs = append(errs, fmt.Errorf("%s: binaryData is not read; put policy under data", k))
		}
	}
	prefix := modulePrefix(cm.Namespace, cm.Name)
	for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
		v := cm.Data[k]
		switch {
		case strings.HasSuffix(k, ".rego"):
			c.modules[prefix+k] = policy.Module{Source: v, Version: version}
		case slices.Contains(dataKeys, k):
			// Parsed here to report a bad document on its own; parsed
			// again into each bundle, which merges into what it parsed.
			if err := policy.NewBundle().AddDataFile(k, "", []byte(v)); err != nil {
				errs = append(errs, err)
				continue
			}
			c.data = append(c.data, dataFile{key: k, raw: []byte(v)})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(c.modules) == 0 && len(c.data) == 0 {
		return nil, fmt.Errorf("no policy: no key ends in .rego and none is %s", strings.Join(dataKeys, ", "))
	}
	return c, nil
}

// directoryContent is the policy directory as a source: its modules keep
// the names LoadDir gave them (their paths), its data is already merged.
func directoryContent(b *policy.Bundle) *content {
	if b == nil {
		b = policy.NewBundle()
	}
	return &content{modules: maps.Clone(b.Modules), dir: b.Data, digest: b.Digest()}
}

// cloneData copies a JSON-like document deeply, so merging ConfigMap data
// into a bundle never changes the directory's own document.
func cloneData(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneData(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = cloneData(e)
		}
		return s
	}
	return v
}
