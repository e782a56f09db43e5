package manifest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestReadPathsWalksADirectory(t *testing.T) {
	t.Parallel()
	objs, err := ReadPaths([]string{"testdata/dir"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"testdata/dir/a.yaml:3 Namespace /shop",
		"testdata/dir/a.yaml:10 Deployment shop/web",
		"testdata/dir/sub/b.json:2 Pod /",
		"testdata/dir/sub/b.json:3 Job /j",
	}
	if len(objs) != len(want) {
		t.Fatalf("read %d objects, want %d: %+v", len(objs), len(want), objs)
	}
	for i, o := range objs {
		if got := o.Where() + " " + o.Kind + " " + o.Namespace + "/" + o.Name; got != want[i] {
			t.Errorf("object %d = %q, want %q", i, got, want[i])
		}
	}
	if objs[0].Labels["env"] != "prod" {
		t.Errorf("Namespace labels = %v, want env=prod", objs[0].Labels)
	}
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Image string } `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(objs[1].JSON, &d); err != nil || d.Spec.Template.Spec.Containers[0].Image != "web:1.0" {
		t.Errorf("Deployment JSON %s does not carry its image (%v)", objs[1].JSON, err)
	}
}

func TestParseErrorsCarryFileAndLine(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		doc  string
		want string
	}{
		"broken YAML":              {"apiVersion: v1\nkind: Pod\nmetadata: {name: [x}\n", "m.yaml:3: "},
		"a scalar document":        {"just text\n", "m.yaml:1: a manifest document must be a mapping"},
		"no kind":                  {"apiVersion: v1\nmetadata: {name: x}\n", "m.yaml:1: object has no apiVersion or kind"},
		"second document has none": {"apiVersion: v1\nkind: Pod\n---\nmetadata: {}\n", "m.yaml:4: object has no apiVersion or kind"},
		"a list item without kind": {"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  metadata: {}\n", "m.yaml:4: object has no apiVersion or kind"},
		"non-string keys":          {"apiVersion: v1\nkind: Pod\nmetadata:\n  {1: x}\n", "m.yaml:1: converting to JSON"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("m.yaml", []byte(tc.doc))
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *manifest.Error", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with %q", err, tc.want)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	t.Parallel()
	_, err := ReadPaths([]string{"testdata/nope.yaml"})
	if err == nil || err.Error() != "testdata/nope.yaml: no such file or directory" {
		t.Errorf("error %v, want the file and the reason", err)
	}
}

// FuzzParse: arbitrary documents never panic, and every object read comes
// with a line and JSON that parses.
func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Pod}]\n---\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Parse("f.yaml", data)
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Line < 1 || !json.Valid(o.JSON) {
				t.Fatalf("object at line %d with JSON %q", o.Line, o.JSON)
			}
		}
	})
}
