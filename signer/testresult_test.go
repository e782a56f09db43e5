package signer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// parseFixture runs parse on testdata/evidence/file.
func parseFixture(t *testing.T, parse func(*os.File) (*TestResult, error), file string) (*TestResult, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "evidence", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parse(f)
}

func junit(f *os.File) (*TestResult, error)  { return TestResultFromJUnit(f) }
func goTest(f *os.File) (*TestResult, error) { return TestResultFromGoTestJSON(f) }

func TestTestResultFromReports(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		parse                  func(*os.File) (*TestResult, error)
		file                   string
		result                 string
		passed, warned, failed []string
	}{
		"JUnit: every test passed": {
			parse: junit, file: "junit-pass.xml", result: TestsPassed,
			passed: []string{"com.example.api.OrderTest.createsOrder", "com.example.api.OrderTest.rejectsEmptyCart", "com.example.api.PaymentTest.charges"},
		},
		"JUnit: a failure and an error fail, a skip warns": {
			parse: junit, file: "junit-fail.xml", result: TestsFailed,
			passed: []string{"tests.test_cart.test_add"},
			warned: []string{"tests.test_db.test_migrate"},
			failed: []string{"tests.test_cart.test_total", "tests.test_db.test_connect"},
		},
		"JUnit: a bare testsuite, names without classname, a skip alone warns": {
			parse: junit, file: "junit-bare-suite.xml", result: TestsWarned,
			passed: []string{"checkout/pays by card"},
			warned: []string{"checkout/pays by invoice"},
		},
		"JUnit: nested suites, a flaky pass warns": {
			parse: junit, file: "junit-nested.xml", result: TestsWarned,
			passed: []string{"e2e/login/with password", "e2e/logout"},
			warned: []string{"e2e/login/with sso"},
		},
		"JUnit: a test reported twice keeps its worst outcome": {
			parse: junit, file: "junit-duplicate.xml", result: TestsFailed,
			failed: []string{"MathTest.adds"},
		},
		"go test: every test and subtest passed; a package without tests adds nothing": {
			parse: goTest, file: "gotest-pass.json", result: TestsPassed,
			passed: []string{"example.com/gt/ok.TestA", "example.com/gt/ok.TestB", "example.com/gt/ok.TestB/one", "example.com/gt/ok.TestB/two"},
		},
		"go test: a skip alone warns": {
			parse: goTest, file: "gotest-skip.json", result: TestsWarned,
			passed: []string{"example.com/gt/mixed.TestPass"},
			warned: []string{"example.com/gt/mixed.TestSkip"},
		},
		"go test: failures, a panic, a build failure and a failing TestMain": {
			parse: goTest, file: "gotest-mixed.json", result: TestsFailed,
			passed: []string{"example.com/gt/mainfail.TestOK", "example.com/gt/mixed.TestPass", "example.com/gt/mixed.TestSub/good",
				"example.com/gt/ok.TestA", "example.com/gt/ok.TestB", "example.com/gt/ok.TestB/one", "example.com/gt/ok.TestB/two",
				"example.com/gt/panics.TestOK"},
			warned: []string{"example.com/gt/mixed.TestSkip"},
			failed: []string{"example.com/gt/broken [build failed]", "example.com/gt/mainfail [failed]",
				"example.com/gt/mixed.TestFail", "example.com/gt/mixed.TestSub", "example.com/gt/mixed.TestSub/bad",
				"example.com/gt/panics.TestPanic"},
		},
		"go test: a build failure alone is FAILED, naming the package": {
			parse: goTest, file: "gotest-build-failure.json", result: TestsFailed,
			failed: []string{"example.com/gt/broken [build failed]"},
		},
		"go test: a test cut off by the timeout failed": {
			parse: goTest, file: "gotest-timeout.json", result: TestsFailed,
			failed: []string{"example.com/gt/hang.TestHang"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr, err := parseFixture(t, tc.parse, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Result != tc.result {
				t.Errorf("result %s, want %s", tr.Result, tc.result)
			}
			for _, l := range []struct {
				what      string
				got, want []string
			}{{"passed", tr.PassedTests, tc.passed}, {"warned", tr.WarnedTests, tc.warned}, {"failed", tr.FailedTests, tc.failed}} {
				if !slices.Equal(l.got, l.want) {
					t.Errorf("%s tests:\n got %q\nwant %q", l.what, l.got, l.want)
				}
			}
			if err := tr.Validate(); err != nil {
				t.Errorf("the built predicate does not validate: %v", err)
			}
			if tr.Configuration == nil {
				t.Errorf("configuration is nil; the spec requires the field")
			}
		})
	}
}

func TestTestResultFromBadReports(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		parse func(*os.File) (*TestResult, error)
		file  string
		want  []string // substrings of the error
	}{
		"JUnit: malformed XML names the line": {
			parse: junit, file: "junit-malformed.xml",
			want: []string{"reading JUnit XML", "line 4", "closed by </testsuite>"},
		},
		"JUnit: no testcase is no proof": {
			parse: junit, file: "junit-empty.xml", want: []string{"no test results"},
		},
		"JUnit: not a JUnit report": {
			parse: junit, file: "junit-wrong-root.xml", want: []string{"line 1", "root element <html>"},
		},
		"JUnit: a testcase without a name": {
			parse: junit, file: "junit-nameless.xml", want: []string{"line 3", "no name attribute"},
		},
		"go test: a line that is not JSON": {
			parse: goTest, file: "gotest-not-json.json", want: []string{"line 3", "not a test2json event", `"ok  \tp\t0.01s"`},
		},
		"go test: an event without an Action": {
			parse: goTest, file: "gotest-no-action.json", want: []string{"line 2", "no Action"},
		},
		"go test: only a package without test files": {
			parse: goTest, file: "gotest-no-tests.json", want: []string{"no test results"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr, err := parseFixture(t, tc.parse, tc.file)
			if err == nil {
				t.Fatalf("no error; got %+v", tr)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestEmptyReportsAreErrNoTests(t *testing.T) {
	t.Parallel()
	if _, err := TestResultFromGoTestJSON(strings.NewReader("")); !errors.Is(err, ErrNoTests) {
		t.Errorf("empty go test stream: %v, want ErrNoTests", err)
	}
	if _, err := TestResultFromJUnit(strings.NewReader("<testsuite name='x'></testsuite>")); !errors.Is(err, ErrNoTests) {
		t.Errorf("empty testsuite: %v, want ErrNoTests", err)
	}
	if _, err := TestResultFromJUnit(strings.NewReader("")); err == nil || errors.Is(err, ErrNoTests) {
		t.Errorf("empty file: %v, want a missing-root error", err)
	}
}

func TestParseTestResult(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		predicate string
		err       string // "" for valid
	}{
		"passed":                     {predicate: `{"result":"PASSED","configuration":[],"passedTests":["a"]}`},
		"unknown fields are ignored": {predicate: `{"result":"FAILED","failedTests":["a"],"x":1}`},
		"warned":                     {predicate: `{"result":"WARNED","warnedTests":["a"],"url":"https://ci/1"}`},
		"lower case":                 {predicate: `{"result":"passed"}`, err: `result "passed": want PASSED, WARNED or FAILED`},
		"the spec's old boolean":     {predicate: `{"result":true}`, err: "cannot unmarshal"},
		"no result":                  {predicate: `{"passedTests":["a"]}`, err: "no result"},
		"PASSED with a failed test":  {predicate: `{"result":"PASSED","failedTests":["a"]}`, err: "1 tests failed"},
		"PASSED with a warned test":  {predicate: `{"result":"PASSED","warnedTests":["a"]}`, err: "0 tests failed and 1 warned"},
		"WARNED with a failed test":  {predicate: `{"result":"WARNED","failedTests":["a","b"]}`, err: "2 tests failed"},
		"not JSON":                   {predicate: `PASSED`, err: "invalid character"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr, err := ParseTestResult([]byte(tc.predicate))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err == "" && tr.Result == "":
				t.Fatalf("no result parsed")
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}
