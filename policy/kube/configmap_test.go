package kube

import (
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/shipgate/shipgate/policy"
)

func TestReadConfigMap(t *testing.T) {
	t.Parallel()
	const rego = "package shipgate.namespaces[\"team-a\"]\n\ndeny contains \"x\"\n"
	tests := map[string]struct {
		data        map[string]string
		binary      map[string][]byte
		annotations []string
		wantModules []string
		wantVersion policy.RegoVersion
		wantData    []string
		wantErr     string
	}{
		"each .rego key is a module named after the ConfigMap and the key": {
			data:        map[string]string{"a.rego": rego, "b.rego": rego, "README.md": "not policy"},
			wantModules: []string{"configmap/team-a/p/a.rego", "configmap/team-a/p/b.rego"},
		},
		"data.json, data.yaml and data.yml are data": {
			data:        map[string]string{"data.json": `{"a": 1}`, "data.yaml": "b: 2\n", "data.yml": "c: 3\n", "other.json": "{}"},
			wantModules: []string{},
			wantData:    []string{"data.json", "data.yaml", "data.yml"},
		},
		"the annotation v0 makes every module v0": {
			data:        map[string]string{"a.rego": rego},
			annotations: []string{AnnotationRegoVersion, "v0"},
			wantModules: []string{"configmap/team-a/p/a.rego"},
			wantVersion: policy.RegoV0,
		},
		"the annotation v1 pins v1": {
			data:        map[string]string{"a.rego": rego},
			annotations: []string{AnnotationRegoVersion, " v1 "},
			wantModules: []string{"configmap/team-a/p/a.rego"},
			wantVersion: policy.RegoV1,
		},
		"an unknown Rego version is refused": {
			data:        map[string]string{"a.rego": rego},
			annotations: []string{AnnotationRegoVersion, "v2"},
			wantErr:     `annotation shipgate.dev/rego-version: unknown Rego version "v2" (v0 or v1)`,
		},
		"data that is not an object is refused, by key": {
			data:    map[string]string{"a.rego": rego, "data.json": `[1, 2]`},
			wantErr: "reading data file data.json: the document must be an object",
		},
		"data that does not parse is refused, by key": {
			data:    map[string]string{"data.yaml": "a: [1,\n"},
			wantErr: "reading data file data.yaml",
		},
		"Rego in binaryData is refused rather than ignored": {
			data:    map[string]string{"a.rego": rego},
			binary:  map[string][]byte{"b.rego": []byte(rego)},
			wantErr: "b.rego: binaryData is not read",
		},
		"a ConfigMap with nothing to load says so": {
			data:    map[string]string{"README.md": "policy coming soon"},
			wantErr: "no policy: no key ends in .rego",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cm := configMap("team-a", "p", tc.data, tc.annotations...)
			cm.BinaryData = tc.binary
			c, err := readConfigMap(cm)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(c.modules)); !slices.Equal(got, tc.wantModules) && len(got)+len(tc.wantModules) > 0 {
				t.Errorf("modules = %q, want %q", got, tc.wantModules)
			}
			for name, m := range c.modules {
				if m.Version != tc.wantVersion {
					t.Errorf("module %s is %v, want %v", name, m.Version, tc.wantVersion)
				}
			}
			var keys []string
			for _, f := range c.data {
				keys = append(keys, f.key)
			}
			if !slices.Equal(keys, tc.wantData) {
				t.Errorf("data = %q, want %q", keys, tc.wantData)
			}
			if c.digest != digestOf(cm) {
				t.Errorf("digest %s is not the ConfigMap's %s", c.digest, digestOf(cm))
			}
		})
	}
}

// TestDigestIgnoresStatus: writing the status, or any label or other
// annotation, is not a change of policy; the content and the Rego version
// are.
func TestDigestIgnoresStatus(t *testing.T) {
	t.Parallel()
	base := configMap("team-a", "p", map[string]string{"a.rego": "package x"})
	d := digestOf(base)

	same := base.DeepCopy()
	same.Annotations[AnnotationStatus] = "loaded: namespace revision 0123456789ab"
	same.Labels["team"] = "a"
	same.ResourceVersion = "42"
	if digestOf(same) != d {
		t.Error("the status, a label or the resourceVersion changed the digest")
	}
	for name, change := range map[string]func(c *corev1.ConfigMap){
		"a module's text": func(c *corev1.ConfigMap) { c.Data["a.rego"] = "package y" },
		"a new key":       func(c *corev1.ConfigMap) { c.Data["b.rego"] = "package x" },
		"the version":     func(c *corev1.ConfigMap) { c.Annotations[AnnotationRegoVersion] = "v0" },
		"binaryData":      func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"x": {1}} },
	} {
		c := base.DeepCopy()
		change(c)
		if digestOf(c) == d {
			t.Errorf("changing %s left the digest as it was", name)
		}
	}
}
