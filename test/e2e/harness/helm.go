package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the version of the control plane the suite builds, given
// to helm template as the cluster's.
const KubeVersion = "v1.37.2"

// Release and Namespace are what the chart is rendered as in the suite.
const (
	Release   = "shipgate"
	Namespace = "shipgate-system"
)

// Manifest is a rendered chart: its text and its objects in order.
type Manifest struct {
	YAML    string
	Objects []*unstructured.Unstructured
}

// RenderChart renders charts/shipgate with helm template, as release
// Release in Namespace, with the given values (marshalled to a values
// file). A chart that refuses to render is an error carrying helm's words.
func (c *Cluster) RenderChart(ctx context.Context, values map[string]any) (*Manifest, error) {
	vb, err := yaml.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("encoding chart values: %w", err)
	}
	f, err := os.CreateTemp(c.Dir, "values-*.yaml")
	if err != nil {
		return nil, fmt.Errorf("writing chart values: %w", err)
	}
	if _, err := f.Write(vb); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing chart values: %w", err)
	}
	f.Close()
	helmHome := filepath.Join(c.Dir, "helm")
	cmd := exec.CommandContext(ctx, c.Bins.Helm, "template", Release, filepath.Join(c.Root, "charts", "shipgate"),
		"--namespace", Namespace, "--kube-version", KubeVersion, "--values", f.Name())
	// helm keeps caches and config under these; none of it is wanted
	// outside the run.
	cmd.Env = append(cleanEnv(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("rendering charts/shipgate: %w: %s", err, stderr.String())
	}
	objs, err := splitManifest(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("reading the rendered chart: %w", err)
	}
	return &Manifest{YAML: stdout.String(), Objects: objs}, nil
}

// splitManifest decodes a multi-document YAML stream, skipping empty
// documents.
func splitManifest(b []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// Select returns the objects of the given kinds, in order.
func (m *Manifest) Select(kinds ...string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range m.Objects {
		for _, k := range kinds {
			if o.GetKind() == k {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

// One returns the one object of a kind, or an error naming how many there
// were.
func (m *Manifest) One(kind string) (*unstructured.Unstructured, error) {
	objs := m.Select(kind)
	if len(objs) != 1 {
		return nil, fmt.Errorf("the rendered chart has %d objects of kind %s, want 1", len(objs), kind)
	}
	return objs[0], nil
}

// ToYAML is a YAML stream of objects, for kubectl apply -f -.
func ToYAML(objs []*unstructured.Unstructured) (string, error) {
	var docs []string
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return "", fmt.Errorf("encoding %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n"), nil
}
