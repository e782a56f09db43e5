package policy

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTree writes files (slash paths relative to dir) into dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"production.rego":          "package shipgate.production\n\ndeny contains data.k8s.registries.msg if true\n",
		"production_test.rego":     "package shipgate.production_test\n\ntest_nothing if true\n",
		"legacy/tutorial.rego":     "# shipgate.dev/rego-version: v0\n" + tutorialPolicy,
		"data.json":                `{"owner": "platform"}`,
		"k8s/registries/data.yaml": "msg: from yaml\nallowed:\n  - registry.example.com\n",
		"README.md":                "not policy",
		".hidden/x.rego":           "package ignored\n",
	})
	// A mounted ConfigMap: real files under ..<timestamp>, linked from the top.
	writeTree(t, dir, map[string]string{"cm/..2026_11_27/extra.rego": "package shipgate.extra\n"})
	if err := os.Symlink("..2026_11_27", filepath.Join(dir, "cm", "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "extra.rego"), filepath.Join(dir, "cm", "extra.rego")); err != nil {
		t.Fatal(err)
	}

	b, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range b.Modules {
		names = append(names, strings.TrimPrefix(name, filepath.ToSlash(dir)+"/"))
	}
	wantNames := map[string]bool{"production.rego": true, "production_test.rego": true, "legacy/tutorial.rego": true, "cm/extra.rego": true}
	if len(names) != len(wantNames) {
		t.Errorf("modules = %v, want %v", names, wantNames)
	}
	for _, n := range names {
		if !wantNames[n] {
			t.Errorf("unexpected module %s", n)
		}
	}
	wantData := map[string]any{
		"owner": "platform",
		"k8s":   map[string]any{"registries": map[string]any{"msg": "from yaml", "allowed": []any{"registry.example.com"}}},
	}
	if !reflect.DeepEqual(b.Data, wantData) {
		t.Errorf("data = %#v, want %#v", b.Data, wantData)
	}

	e := mustEngine(t, b, nil)
	res, err := e.Evaluate(t.Context(), "", []string{"production", "kubernetes.admission", "extra"}, podReview("x", "nginx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deny) != 2 || res.Deny[0].Msg != "from yaml" {
		t.Errorf("deny = %q", msgs(res.Deny))
	}
	if _, err := e.Evaluate(t.Context(), "", []string{"production_test"}, podReview("x", "nginx")); err == nil {
		t.Error("a _test.rego package was compiled into the engine")
	}
}

func TestLoadDirErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		files map[string]string
		want  string
	}{
		"data set twice": {
			files: map[string]string{"data.json": `{"a": {"b": 1}}`, "a/data.yaml": "b: 2\n"},
			want:  "data.a.b is set twice",
		},
		"data not an object": {
			files: map[string]string{"data.json": `[1, 2]`},
			want:  "the document must be an object",
		},
		"data not parseable": {
			files: map[string]string{"data.yaml": "a: [\n"},
			want:  "data.yaml",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			_, err := LoadDir(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadDir error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := LoadDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadDir of a missing directory succeeded")
	}
}

func TestCompileErrorNamesLoadedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"sub/bad.rego": "package shipgate.bad\n\ndeny contains \"x\" if {\n\tnot\n}\n"})
	b, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(b, nil)
	compileErrorAt(t, err, filepath.ToSlash(filepath.Join(dir, "sub", "bad.rego")), 5, "rego_parse_error")
}
