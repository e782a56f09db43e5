package policy

import (
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/cover"
)

func TestPolicyCoverage(t *testing.T) {
	t.Parallel()
	// One test, of deny only. Covered: the head and body of the deny that
	// fires (3-4) and the test (5-6 of the test file). Not covered: the
	// other deny (7-8), which rule indexing leaves out for input {"a":
	// true}; the warn (11-12) and the function (15-16), which no test
	// evaluates. So 2 of fx.rego's 8 lines, 4 of 10 in all.
	b := bundleOf(map[string]string{
		"fx.rego":      "package shipgate.fx\n\ndeny contains \"a\" if {\n\tinput.a\n}\n\ndeny contains \"b\" if {\n\tinput.b\n}\n\nwarn contains \"never\" if {\n\tinput.a == false\n}\n\nhelper(x) := y if {\n\ty := x + 1\n}\n",
		"fx_test.rego": "package shipgate.fx_test\n\nimport data.shipgate.fx\n\ntest_a if {\n\tfx.deny == {\"a\"} with input as {\"a\": true}\n}\n",
	})
	results, rep, err := RunTestsWithCoverage(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !results[0].Pass() {
		t.Fatalf("results %v", results)
	}
	fx := rep.Files["fx.rego"]
	if fx == nil {
		t.Fatalf("no report for fx.rego: %v", rep.Files)
	}
	got := fmt.Sprintf("covered %v, not covered %v: %d lines covered, %d not, %.2f%%; total %d covered, %d not, %.2f%%",
		LineSpans(fx.Covered), LineSpans(fx.NotCovered), fx.CoveredLines, fx.NotCoveredLines, fx.Coverage,
		rep.CoveredLines, rep.NotCoveredLines, rep.Coverage)
	want := "covered [3-4], not covered [7-8 11-12 15-16]: 2 lines covered, 6 not, 25.00%; total 4 covered, 6 not, 40.00%"
	if got != want {
		t.Errorf("coverage:\n got  %s\n want %s", got, want)
	}

	merged := MergeCoverage(rep, cover.Report{Files: map[string]*cover.FileReport{"other.rego": {CoveredLines: 6}}})
	if merged.CoveredLines != 10 || merged.NotCoveredLines != 6 || merged.Coverage != 62.5 || len(merged.Files) != 3 {
		t.Errorf("merged: %d covered, %d not, %v%%, %d files; want 10 and 6, 62.5%%, 3 files", merged.CoveredLines, merged.NotCoveredLines, merged.Coverage, len(merged.Files))
	}
	if m := MergeCoverage(); m.Coverage != 0 || m.Files == nil {
		t.Errorf("an empty merge: %+v", m)
	}
}

func TestPolicyCoverageLineSpans(t *testing.T) {
	t.Parallel()
	r := func(a, b int) cover.Range {
		return cover.Range{Start: cover.Position{Row: a}, End: cover.Position{Row: b}}
	}
	got := LineSpans([]cover.Range{r(12, 14), r(3, 3), r(13, 15), r(7, 7), r(8, 8)})
	if fmt.Sprint(got) != "[3 7-8 12-15]" {
		t.Errorf("spans %v, want [3 7-8 12-15]", got)
	}
}
