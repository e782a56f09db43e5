package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestPolicies runs the Rego tests of the example policies in policies/, as
// `shipgate policy test policies/` will: any failed or erroring test fails.
func TestPolicies(t *testing.T) {
	t.Parallel()
	b, err := LoadDir("../policies")
	if err != nil {
		t.Fatal(err)
	}
	results, err := RunTests(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 10 {
		t.Fatalf("%d Rego tests ran; the example policies have more", len(results))
	}
	for _, r := range results {
		t.Run(r.Package+"."+r.Name, func(t *testing.T) {
			if !r.Pass() {
				t.Errorf("%s: %s", r.Location, describe(r.Fail, r.Error, r.Output))
			}
		})
	}
	// The same bundle compiles into an engine (tests left out).
	mustEngine(t, b, nil)
}

func describe(fail bool, err error, output []byte) string {
	var s strings.Builder
	switch {
	case err != nil:
		fmt.Fprintf(&s, "error: %v", err)
	case fail:
		s.WriteString("failed")
	default:
		s.WriteString("skipped")
	}
	if len(output) > 0 {
		fmt.Fprintf(&s, "\n%s", output)
	}
	return s.String()
}

func TestRunTestsReportsFailures(t *testing.T) {
	t.Parallel()
	b := bundleOf(map[string]string{
		"p.rego":      "package shipgate.p\n\ndeny contains \"x\" if input.bad\n",
		"p_test.rego": "package shipgate.p_test\n\nimport data.shipgate.p\n\ntest_passes if { p.deny == {\"x\"} with input as {\"bad\": true} }\n\ntest_fails if { count(p.deny) == 1 with input as {} }\n\ntest_errors if { xs := []; 1 / count(xs) > 0 }\n",
	})
	results, err := RunTests(t.Context(), b, WithStrictBuiltinErrors())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range results {
		switch {
		case r.Error != nil:
			got[r.Name] = "error"
		case r.Fail:
			got[r.Name] = "fail"
		default:
			got[r.Name] = "pass"
		}
	}
	want := map[string]string{"test_passes": "pass", "test_fails": "fail", "test_errors": "error"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %s, want %s (all: %v)", name, got[name], w, got)
		}
	}
	// A module that does not compile is an error with file:line.
	_, err = RunTests(t.Context(), bundleOf(map[string]string{"q_test.rego": "package q\n\ntest_x if {\n\ty\n}\n"}))
	compileErrorAt(t, err, "q_test.rego", 4, "var y is unsafe")
}
