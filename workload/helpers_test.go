package workload

import (
	"os"

	corev1 "k8s.io/api/core/v1"
	"path/filepath"
	"strings"
	"testing"
)

// testdata reads a file of testdata/.
func testdata(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeFile decodes testdata/file as kind.
func decodeFile(t testing.TB, kind, file string) *Object {
	t.Helper()
	return decodeBytes(t, kind, testdata(t, file))
}

// decodeBytes decodes raw as kind, failing the test on error.
func decodeBytes(t testing.TB, kind string, raw []byte) *Object {
	t.Helper()
	o, err := Decode(kind, raw)
	if err != nil {
		t.Fatalf("Decode(%s): %v", kind, err)
	}
	return o
}

// edit returns raw with the first occurrence of from replaced by to, and
// fails the test when from does not occur: an edit that silently does
// nothing would make a test pass for the wrong reason.
func edit(t testing.TB, raw []byte, from, to string) []byte {
	t.Helper()
	s := string(raw)
	if !strings.Contains(s, from) {
		t.Fatalf("edit: %q not found", from)
	}
	return []byte(strings.Replace(s, from, to, 1))
}

// podTemplate is o's decoded pod template, failing the test if it does not
// decode.
func podTemplate(t testing.TB, o *Object) *corev1.PodTemplateSpec {
	t.Helper()
	tmpl, err := o.PodTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}
