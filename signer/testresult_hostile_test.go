package signer

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestJUnitNamesAreBounded: a test without a classname is named after its
// suites, so a long suite name repeated over many test cases made
// gigabytes of names from half a megabyte of XML. Such a report is refused
// once its names pass maxJUnitNames, having allocated little more.
// Not parallel: it measures the bytes allocated while it runs.
func TestJUnitNamesAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<testsuite name="` + strings.Repeat("s", 100_000) + `">`)
	for i := range 20_000 {
		fmt.Fprintf(&b, `<testcase name="%d"/>`, i)
	}
	b.WriteString(`</testsuite>`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tr, err := TestResultFromJUnit(strings.NewReader(b.String()))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "test names add up to more than 64 MiB") {
		t.Fatalf("TestResultFromJUnit = %v, %v; want the names refused", tr, err)
	}
	if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 256 {
		t.Errorf("refusing a %d KiB report allocated %d MiB", b.Len()>>10, mb)
	}

	// Nested suites name their tests outer/inner/name, and closing a
	// suite takes its name off again.
	tr, err = TestResultFromJUnit(strings.NewReader(`<testsuites><testsuite name="a"><testsuite name=""><testsuite name="b">` +
		`<testcase name="x"/></testsuite><testcase name="y"/></testsuite></testsuite><testsuite><testcase name="z"/></testsuite></testsuites>`))
	if err != nil || strings.Join(tr.PassedTests, " ") != "a/b/x a/y z" {
		t.Errorf("nested names = %v, %v; want a/b/x a/y z", tr, err)
	}
}

// TestGoTestJSONManyFailedPackages: 30,000 packages failing with no test
// of their own beside 30,000 tests that never ended. Asking for each
// package whether it had a test left open made this quadratic (88 s);
// each package is now listed once as failed.
func TestGoTestJSONManyFailedPackages(t *testing.T) {
	t.Parallel()
	const n = 30_000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"Test%d\"}\n", i)
	}
	for i := range n {
		fmt.Fprintf(&b, "{\"Action\":\"fail\",\"Package\":\"q%d\"}\n", i)
	}
	b.WriteString("{\"Action\":\"fail\",\"Package\":\"p\"}\n")
	tr, err := TestResultFromGoTestJSON(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	// Every open test failed, every q package failed on its own, and p is
	// not listed as a package failure: its open tests say why it failed.
	if tr.Result != TestsFailed || len(tr.FailedTests) != 2*n || len(tr.PassedTests)+len(tr.WarnedTests) != 0 {
		t.Fatalf("result %s, %d failed, want %d", tr.Result, len(tr.FailedTests), 2*n)
	}
	for _, name := range tr.FailedTests {
		if name == "p [failed]" {
			t.Fatal("p is listed as a package failure although tests of it never ended")
		}
	}
}
