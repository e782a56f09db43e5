package signer

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// TestResultPredicateType is the in-toto test-result predicate, the
// signed proof that an image's tests passed.
const TestResultPredicateType = "https://in-toto.io/attestation/test-result/v0.1"

// The values of TestResult.Result.
const (
	TestsPassed = "PASSED"
	TestsWarned = "WARNED"
	TestsFailed = "FAILED"
)

// TestResult is the predicate of TestResultPredicateType: the outcome of
// one invocation of a test suite.
type TestResult struct {
	// Result is TestsPassed when every test passed, TestsWarned when none
	// failed but some passed with warnings (shipgate's reports count a
	// skipped test as a warning), else TestsFailed.
	Result string `json:"result"`
	// Configuration names the configuration of the run (the CI workflow,
	// the test config). The spec requires the field; it may be empty.
	Configuration []ResourceDescriptor `json:"configuration"`
	// URL links to the test run, its logs for instance.
	URL         string   `json:"url,omitempty"`
	PassedTests []string `json:"passedTests,omitempty"`
	WarnedTests []string `json:"warnedTests,omitempty"`
	FailedTests []string `json:"failedTests,omitempty"`
}

// ResourceDescriptor is in-toto's description of a resource (v1): at least
// one of URI, Digest or Content says which.
type ResourceDescriptor struct {
	Name             string            `json:"name,omitempty"`
	URI              string            `json:"uri,omitempty"`
	Digest           map[string]string `json:"digest,omitempty"`
	Content          []byte            `json:"content,omitempty"`
	DownloadLocation string            `json:"downloadLocation,omitempty"`
	MediaType        string            `json:"mediaType,omitempty"`
	Annotations      map[string]any    `json:"annotations,omitempty"`
}

// ErrNoTests is returned for a report that holds no test at all: an empty
// report proves nothing, so it is never PASSED.
var ErrNoTests = errors.New("the report holds no test results")

// ParseTestResult reads a test-result predicate and checks that its result
// is PASSED, WARNED or FAILED and agrees with its lists: a PASSED result
// lists no failed or warned test, a WARNED one no failed test. Unknown
// fields are ignored, as in-toto's parsing rules ask.
func ParseTestResult(predicate []byte) (*TestResult, error) {
	var tr TestResult
	if err := json.Unmarshal(predicate, &tr); err != nil {
		return nil, fmt.Errorf("reading test-result predicate: %w", err)
	}
	if err := tr.Validate(); err != nil {
		return nil, fmt.Errorf("reading test-result predicate: %w", err)
	}
	return &tr, nil
}

// Validate checks Result and its agreement with the lists.
func (tr *TestResult) Validate() error {
	switch tr.Result {
	case TestsPassed:
		if len(tr.FailedTests) > 0 || len(tr.WarnedTests) > 0 {
			return fmt.Errorf("result %s, yet %d tests failed and %d warned", tr.Result, len(tr.FailedTests), len(tr.WarnedTests))
		}
	case TestsWarned:
		if len(tr.FailedTests) > 0 {
			return fmt.Errorf("result %s, yet %d tests failed", tr.Result, len(tr.FailedTests))
		}
	case TestsFailed:
	case "":
		return errors.New("no result")
	default:
		return fmt.Errorf("result %q: want PASSED, WARNED or FAILED", tr.Result)
	}
	return nil
}

// testOutcome is how one test ended; a worse outcome wins when a test is
// reported more than once (-count=2, reruns, parameterised duplicates).
type testOutcome int

const (
	outcomePassed testOutcome = iota
	outcomeWarned
	outcomeFailed
)

// tally gathers test outcomes by name.
type tally map[string]testOutcome

func (t tally) add(name string, o testOutcome) {
	if prev, ok := t[name]; !ok || o > prev {
		t[name] = o
	}
}

// result builds the predicate, its lists sorted, or ErrNoTests.
func (t tally) result() (*TestResult, error) {
	if len(t) == 0 {
		return nil, ErrNoTests
	}
	tr := &TestResult{Result: TestsPassed, Configuration: []ResourceDescriptor{}}
	for name, o := range t {
		switch o {
		case outcomePassed:
			tr.PassedTests = append(tr.PassedTests, name)
		case outcomeWarned:
			tr.WarnedTests = append(tr.WarnedTests, name)
		case outcomeFailed:
			tr.FailedTests = append(tr.FailedTests, name)
		}
	}
	slices.Sort(tr.PassedTests)
	slices.Sort(tr.WarnedTests)
	slices.Sort(tr.FailedTests)
	switch {
	case len(tr.FailedTests) > 0:
		tr.Result = TestsFailed
	case len(tr.WarnedTests) > 0:
		tr.Result = TestsWarned
	}
	return tr, nil
}
