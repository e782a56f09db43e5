package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// coverageDir holds a policy whose one test covers 2 of its 6 countable
// lines: the head (3) and body (4) of the rule that fires. The other deny
// rule (7-8) is left out by rule indexing and the warn rule (11-12) never
// succeeds: a head counts only when its rule succeeded. The test file's
// 2 lines are covered, so the total is 4 of 8.
const coverageDir = "testdata/policy/coverage"

func TestPolicyTestCoverage(t *testing.T) {
	t.Parallel()
	out, err := runCommand(t, "policy", "test", coverageDir, "--coverage")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	policyWantInOrder(t, out, []string{
		"policy: 1 passed, 0 failed",
		"FILE", "COVERED", "NOT COVERED", "COVERAGE", "LINES NOT COVERED",
		"testdata/policy/coverage/fixture.rego", "2", "4", "33.33%", "7-8, 11-12",
		"testdata/policy/coverage/fixture_test.rego", "2", "0", "100.00%", "-",
		"total", "4", "4", "50.00%",
	})

	out, err = runCommand(t, "policy", "test", coverageDir, "--coverage", "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep policyTestReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if rep.Passed != 1 || rep.Failed != 0 || len(rep.Tests) != 1 || rep.Tests[0].Name != "test_a" || rep.Tests[0].Result != "pass" {
		t.Errorf("tests %+v", rep)
	}
	c := rep.Coverage
	if c == nil {
		t.Fatalf("no coverage in %s", out)
	}
	f := c.Files["testdata/policy/coverage/fixture.rego"]
	if c.Coverage != 50 || c.CoveredLines != 4 || c.NotCoveredLines != 4 || f == nil || f.CoveredLines != 2 || f.NotCoveredLines != 4 {
		t.Errorf("coverage %.4f%% (%d/%d), fixture.rego %+v; want 50%% (4/4) and 2/4", c.Coverage, c.CoveredLines, c.NotCoveredLines, f)
	}
	if f != nil && !strings.Contains(out, `"index_excluded"`) {
		t.Errorf("the rule indexing left out is not marked index_excluded:\n%s", out)
	}
}

func TestPolicyTestThreshold(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		exit int
		out  string
	}{
		"under the threshold fails": {
			args: []string{"--threshold", "60"},
			exit: 1,
			out:  "coverage 50.00% is under the threshold of 60.00%",
		},
		"at the threshold passes": {
			args: []string{"--threshold", "50"},
			out:  "50.00%",
		},
		"--threshold implies --coverage": {
			args: []string{"--threshold", "10"},
			out:  "LINES NOT COVERED",
		},
		"json says it is below": {
			args: []string{"--threshold", "75.5", "-o", "json"},
			exit: 1,
			out:  `"belowThreshold": true`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := runCommand(t, append([]string{"policy", "test", coverageDir}, tc.args...)...)
			if got := exitOf(err); got != tc.exit {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tc.exit, out)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("output lacks %q:\n%s", tc.out, out)
			}
		})
	}
	if _, err := runCommand(t, "policy", "test", coverageDir, "--threshold", "101"); err == nil || !strings.Contains(err.Error(), "from 0 to 100") {
		t.Errorf("--threshold 101: %v", err)
	}
}

// TestPolicyTestExamplePolicies runs `policy test policies` as make
// policy-test does.
func TestPolicyTestExamplePolicies(t *testing.T) {
	t.Parallel()
	out, err := runCommand(t, "policy", "test", "../../policies", "-v")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "PASS data.shipgate.production_test.") || !strings.Contains(out, " 0 failed") {
		t.Errorf("output:\n%s", out)
	}
}
