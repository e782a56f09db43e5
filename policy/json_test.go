package policy

import (
	"bytes"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestParseJSON(t *testing.T) {
	t.Parallel()
	same := []string{
		`{}`, `[]`, `null`, `true`, `"x"`, `0`, `-12`, `1.5e300`, `123456789012345678901234567890`,
		`{"a":{"b":[1,"two",null,false,{"c":[]}]},"d":"e"}`,
		`{"esc":"tab\tquote\"back\\slash\u00e9\ud83d\ude00","uni":"ü"}`,
		`{"name":"a","x":{"name":"a"},"y":["name","name"]}`,
		` { "spaced" : [ 1 , 2 ] } `,
	}
	for _, in := range same {
		want, err := ast.ValueFromReader(bytes.NewReader([]byte(in)))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got, err := parseJSON([]byte(in))
		if err != nil {
			t.Errorf("parseJSON(%s): %v", in, err)
			continue
		}
		if got.Compare(want) != 0 {
			t.Errorf("parseJSON(%s) = %v, want %v", in, got, want)
		}
	}
	refused := map[string]string{
		"duplicate name":  `{"a":1,"a":2}`,
		"trailing data":   `{} {}`,
		"truncated":       `{"a":`,
		"invalid UTF-8":   "\"\xff\"",
		"not JSON at all": `{a:1}`,
		"empty":           ``,
	}
	for name, in := range refused {
		if v, err := parseJSON([]byte(in)); err == nil {
			t.Errorf("%s: parseJSON(%q) = %v, want an error", name, in, v)
		}
	}
}

// FuzzParseJSON checks parseJSON against OPA's own decoder: whatever it
// accepts, OPA reads as the same value.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x\n"],"b":{"c":null}}`, `[true,false]`, `"\u0041"`, `-0.0e-1`,
		`{"request":{"uid":"u","oldObject":{"a":[1]},"object":{"b":2}},"kind":"AdmissionReview"}`, `{"request":null}`, `{"request":{"oldObject":null}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseJSON(data)
		if err != nil {
			return
		}
		want, err := ast.ValueFromReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("parseJSON accepted %q, OPA refuses it: %v", data, err)
		}
		if got.Compare(want) != 0 {
			t.Fatalf("parseJSON(%q) = %v, OPA reads %v", data, got, want)
		}
		// Leaving out request.oldObject changes nothing else.
		trimmed, err := parseWithout(data, oldObjectPath)
		if err != nil {
			t.Fatalf("parseJSON accepted %q, parseWithout refuses it: %v", data, err)
		}
		want = withoutOldObject(want)
		if trimmed.Compare(want) != 0 {
			t.Fatalf("parseWithout(%q) = %v, want %v", data, trimmed, want)
		}
	})
}

// withoutOldObject is v with request.oldObject removed, when v is an
// object whose request is an object: what parseWithout(…, oldObjectPath)
// should read.
func withoutOldObject(v ast.Value) ast.Value {
	obj, ok := v.(ast.Object)
	if !ok {
		return v
	}
	rt := obj.Get(ast.StringTerm("request"))
	if rt == nil {
		return v
	}
	req, ok := rt.Value.(ast.Object)
	if !ok {
		return v
	}
	var members [][2]*ast.Term
	req.Foreach(func(k, v *ast.Term) {
		if k.Value.Compare(ast.String("oldObject")) != 0 {
			members = append(members, [2]*ast.Term{k, v})
		}
	})
	obj = obj.Copy()
	obj.Insert(ast.StringTerm("request"), ast.ObjectTerm(members...))
	return obj
}
