package policy

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// bundleOf builds a bundle from name → source pairs, every module RegoAuto.
func bundleOf(files map[string]string) *Bundle {
	b := NewBundle()
	for name, src := range files {
		b.AddModule(name, src, RegoAuto)
	}
	return b
}

// mustEngine compiles cluster and namespace bundles or fails the test.
func mustEngine(t testing.TB, cluster *Bundle, namespaces map[string]*Bundle, opts ...Option) *Engine {
	t.Helper()
	e, err := New(cluster, namespaces, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// podReview is an AdmissionReview creating a Pod with these images in ns.
func podReview(ns string, images ...string) json.RawMessage {
	var containers []map[string]any
	for i, img := range images {
		containers = append(containers, map[string]any{"name": "c" + string(rune('0'+i)), "image": img})
	}
	review := map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       "0000-1111",
			"kind":      map[string]any{"group": "", "version": "v1", "kind": "Pod"},
			"namespace": ns,
			"operation": "CREATE",
			"object": map[string]any{
				"apiVersion": "v1", "kind": "Pod",
				"metadata": map[string]any{"name": "p", "namespace": ns},
				"spec":     map[string]any{"containers": containers},
			},
		},
	}
	raw, err := json.Marshal(review)
	if err != nil {
		panic(err)
	}
	return raw
}

// msgs returns the messages of ms as "set: msg".
func msgs(ms []Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Set+": "+m.Msg)
	}
	return out
}

// compileErrorAt asserts err is a *CompileError (possibly inside a
// NamespaceErrors) with an error at file:line whose message contains want.
func compileErrorAt(t *testing.T, err error, file string, line int, want string) {
	t.Helper()
	var ce *CompileError
	var nse NamespaceErrors
	if errors.As(err, &nse) {
		for _, e := range nse {
			if errors.As(e, &ce) && slices.ContainsFunc(ce.Errors, func(e ErrorAt) bool { return e.File == file }) {
				break
			}
		}
	} else if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *CompileError", err, err)
	}
	if ce == nil {
		t.Fatalf("error %v has no *CompileError for %s", err, file)
	}
	for _, e := range ce.Errors {
		if e.File == file && e.Line == line && strings.Contains(e.Message, want) {
			if !strings.Contains(err.Error(), e.String()) {
				t.Errorf("error text %q does not show %q", err, e)
			}
			return
		}
	}
	t.Fatalf("no error at %s:%d containing %q in %v", file, line, want, ce.Errors)
}
