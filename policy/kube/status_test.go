package kube

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStatusString(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		s    Status
		want string
	}{
		"cluster policy loaded": {
			s:    Status{Loaded: true, Cluster: true, Revision: "0123456789ab"},
			want: "loaded: cluster revision 0123456789ab",
		},
		"namespace policy loaded": {
			s:    Status{Loaded: true, Revision: "ba9876543210"},
			want: "loaded: namespace revision ba9876543210",
		},
		"an error, nothing in force": {
			s:    Status{Errors: []string{"a.rego:3: rego_parse_error: unexpected eof token"}},
			want: "error: a.rego:3: rego_parse_error: unexpected eof token; not in force",
		},
		"errors, the last version that loaded in force": {
			s:    Status{Errors: []string{"a.rego:1: x", "b.rego:2: y"}, InForce: true},
			want: "error: a.rego:1: x; b.rego:2: y; the version that loaded last stays in force",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.s.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestStatusStringBounded: a flood of errors is cut, on a character
// boundary, and still says whether anything is in force.
func TestStatusStringBounded(t *testing.T) {
	t.Parallel()
	var errs []string
	for range 1000 {
		errs = append(errs, "a.rego:1: rego_parse_error: unexpected «token»")
	}
	got := Status{Errors: errs, InForce: true}.String()
	if len(got) > maxStatus || !utf8.ValidString(got) {
		t.Errorf("status is %d bytes (max %d), valid UTF-8 %v", len(got), maxStatus, utf8.ValidString(got))
	}
	if !strings.HasSuffix(got, " …; the version that loaded last stays in force") {
		t.Errorf("status ends %q", got[len(got)-80:])
	}
}

// TestStatusPatch: a merge patch of the one annotation, with the
// resourceVersion it was computed for as its precondition.
func TestStatusPatch(t *testing.T) {
	t.Parallel()
	b, err := statusPatch("loaded: namespace revision 0123456789ab", "42")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metadata":{"annotations":{"shipgate.dev/policy-status":"loaded: namespace revision 0123456789ab"},"resourceVersion":"42"}}`
	if string(b) != want {
		t.Errorf("patch = %s, want %s", b, want)
	}
}
