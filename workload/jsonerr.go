package workload

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// readableJSONError turns a decoder error into one line a person can act
// on: where in the object (a JSON pointer, under prefix when the decoded
// bytes were a part of it) and what was wrong, without the Go types behind
// it.
func readableJSONError(err error, prefix string) error {
	var se *json.SemanticError
	if errors.As(err, &se) {
		where := shortPointer(prefix + string(se.JSONPointer))
		if where == "" {
			where = "/"
		}
		what := jsonKindWord(se.JSONKind)
		want := ""
		if se.GoType != nil {
			want = " as " + goKindWord(se.GoType)
		}
		if se.Err != nil {
			return fmt.Errorf("at %s: cannot read %s%s: %v", where, what, want, se.Err)
		}
		return fmt.Errorf("at %s: cannot read %s%s", where, what, want)
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		if syn.JSONPointer != "" || prefix != "" {
			return fmt.Errorf("at %s (byte %d): %v", shortPointer(prefix+string(syn.JSONPointer)), syn.ByteOffset, syn.Err)
		}
		return fmt.Errorf("at byte %d: %v", syn.ByteOffset, syn.Err)
	}
	return err
}

// maxPointer is the longest JSON pointer an error quotes whole: a value
// nested 10,000 deep made an error of 20 KB, which went on into the
// refusal, the audit record and the log.
const maxPointer = 160

// shortPointer is p, or its start and end around "…" when it is longer
// than maxPointer.
func shortPointer(p string) string {
	if len(p) <= maxPointer {
		return p
	}
	return strings.ToValidUTF8(p[:maxPointer-40], "") + "…" + strings.ToValidUTF8(p[len(p)-40:], "")
}

// goKindWord names a Go type by the JSON it expects.
func goKindWord(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

// jsonKindWord names a JSON kind in words.
func jsonKindWord(k jsontext.Kind) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "the value"
}
