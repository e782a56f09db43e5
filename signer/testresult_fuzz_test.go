package signer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// addEvidenceSeeds adds every testdata/evidence file whose name starts
// with prefix to f's seed corpus.
func addEvidenceSeeds(f *testing.F, prefix string) {
	files, err := filepath.Glob(filepath.Join("testdata", "evidence", prefix+"*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no %s* seeds in testdata/evidence (%v)", prefix, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzTestResultFromJUnit feeds arbitrary documents to the JUnit parser
// behind `shipgate evidence tests`: it must never panic, and what it does
// not refuse must be a predicate ParseTestResult accepts.
func FuzzTestResultFromJUnit(f *testing.F) {
	addEvidenceSeeds(f, "junit-")
	f.Add([]byte(`<testsuite name="s"><testsuite name="t"><testcase name="a"><skipped/></testcase></testsuite><testcase name="b"/></testsuite>`))
	f.Add([]byte(`<testsuites><testsuite><testcase classname="C" name="x"><failure/></testcase><testcase classname="C" name="x"/></testsuite></testsuites>`))
	f.Fuzz(func(t *testing.T, report []byte) {
		tr, err := TestResultFromJUnit(bytes.NewReader(report))
		if err != nil {
			if tr != nil {
				t.Fatalf("a predicate with the error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "reading JUnit XML: ") {
				t.Fatalf("error %q does not say what was being read", err)
			}
			return
		}
		// Each test comes from a <testcase> element, whose name is in
		// the bytes as written (XML names cannot be escaped).
		checkPredicate(t, tr, bytes.Count(report, []byte("testcase")))
	})
}

// FuzzTestResultFromGoTestJSON feeds arbitrary streams to the `go test
// -json` parser: it must never panic; what it does not refuse must be a
// predicate ParseTestResult accepts; and no test or package the stream
// says failed may come out passed.
func FuzzTestResultFromGoTestJSON(f *testing.F) {
	addEvidenceSeeds(f, "gotest-")
	f.Add([]byte(`{"Action":"run","Package":"p","Test":"TestA"}` + "\n" + `{"Action":"fail","Package":"p"}`))
	f.Add([]byte(`{"Action":"skip","Test":"TestA"}` + "\n\n" + `{"Action":"fail","Package":"p","FailedBuild":"p"}` + "\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		tr, err := TestResultFromGoTestJSON(bytes.NewReader(stream))
		if err != nil {
			if tr != nil {
				t.Fatalf("a predicate with the error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "reading go test -json: ") {
				t.Fatalf("error %q does not say what was being read", err)
			}
			return
		}
		lines := bytes.Count(stream, []byte("\n")) + 1
		// A package failure may add one more name per line at most.
		checkPredicate(t, tr, 2*lines)

		// An independent reading of the stream: every failure it states
		// is in the predicate.
		for line := range bytes.SplitSeq(stream, []byte("\n")) {
			var e goTestEvent
			if json.Unmarshal(line, &e) != nil || e.Action != "fail" {
				continue
			}
			if tr.Result != TestsFailed {
				t.Fatalf("the stream has a fail event (%s) yet the result is %s", line, tr.Result)
			}
			if e.Test == "" {
				continue
			}
			name := e.Test
			if e.Package != "" {
				name = e.Package + "." + e.Test
			}
			if !slices.Contains(tr.FailedTests, name) {
				t.Fatalf("%s failed but is not among the failed tests %q", name, tr.FailedTests)
			}
		}
	})
}

// checkPredicate asserts what every parsed report must be: a valid
// predicate with at least one and at most most tests, whose lists are
// sorted, hold no name twice and share none, whose result follows from
// them, and which survives being signed and read back.
func checkPredicate(t *testing.T, tr *TestResult, most int) {
	t.Helper()
	if tr == nil {
		t.Fatal("no error and no predicate")
	}
	if err := tr.Validate(); err != nil {
		t.Fatalf("an invalid predicate: %v", err)
	}
	seen := map[string]bool{}
	for _, list := range [][]string{tr.PassedTests, tr.WarnedTests, tr.FailedTests} {
		if !slices.IsSorted(list) {
			t.Fatalf("list not sorted: %q", list)
		}
		for _, name := range list {
			if seen[name] {
				t.Fatalf("test %q listed twice", name)
			}
			seen[name] = true
		}
	}
	total := len(tr.PassedTests) + len(tr.WarnedTests) + len(tr.FailedTests)
	if total == 0 || total > most {
		t.Fatalf("%d tests, want 1 to %d", total, most)
	}
	want := TestsPassed
	switch {
	case len(tr.FailedTests) > 0:
		want = TestsFailed
	case len(tr.WarnedTests) > 0:
		want = TestsWarned
	}
	if tr.Result != want {
		t.Fatalf("result %s with %d passed, %d warned, %d failed", tr.Result, len(tr.PassedTests), len(tr.WarnedTests), len(tr.FailedTests))
	}
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatalf("encoding the predicate: %v", err)
	}
	back, err := ParseTestResult(b)
	if err != nil {
		t.Fatalf("the predicate does not read back: %v", err)
	}
	if back.Result != tr.Result || len(back.PassedTests)+len(back.WarnedTests)+len(back.FailedTests) != total {
		t.Fatalf("read back as %+v, was %+v", back, tr)
	}
}
