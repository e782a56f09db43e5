package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/policy"
)

// policyTestOptions is what `shipgate policy test` is told.
type policyTestOptions struct {
	Dirs     []string
	Verbose  bool
	Coverage bool
	// Threshold is the coverage percentage under which the run fails;
	// above 0 it implies Coverage.
	Threshold float64
	Output    string
}

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test Rego policies and evaluate them on manifests",
	}
	cmd.AddCommand(newPolicyTestCommand(runPolicyTest), newPolicyEvalCommand(runPolicyEval))
	return cmd
}

func newPolicyTestCommand(run func(context.Context, io.Writer, policyTestOptions) error) *cobra.Command {
	var o policyTestOptions
	cmd := &cobra.Command{
		Use:   "test DIR…",
		Short: "Run the Rego unit tests of policy directories, as opa test does",
		Long: `Load each directory as the gateway loads policy (Rego v1 by default, v0
where a file says "# shipgate.dev/rego-version: v0", data.json and
data.yaml files) and run its test_ rules, with "with" mocking. Built-in
errors fail a test, as they fail an admission.

--coverage reports, per file, the lines the tests evaluated and those they
did not, as "opa test --coverage" counts them (test files included): a
rule head is covered when the rule succeeded, an expression when it was
evaluated. --threshold N fails the run when the total is under N percent.

Exits 1 when a test fails or errs or coverage is under the threshold, 2
when a directory does not load.`,
		Example: `  shipgate policy test policies -v
  shipgate policy test policies --coverage --threshold 90
  shipgate policy test policies --coverage -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Output != "table" && o.Output != "json" {
				return fmt.Errorf("-o %q: want table or json", o.Output)
			}
			if o.Threshold < 0 || o.Threshold > 100 {
				return fmt.Errorf("--threshold %v: want a percentage from 0 to 100", o.Threshold)
			}
			o.Coverage = o.Coverage || o.Threshold > 0
			o.Dirs = args
			return run(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "print every test, not only failures")
	f.BoolVarP(&o.Coverage, "coverage", "c", false, "report which lines the tests covered")
	f.Float64Var(&o.Threshold, "threshold", 0, "fail when coverage is under this percentage (implies --coverage)")
	f.StringVarP(&o.Output, "output", "o", "table", "table or json")
	return cmd
}

// policyTestReport is `policy test -o json`.
type policyTestReport struct {
	Passed int               `json:"passed"`
	Failed int               `json:"failed"`
	Tests  []policyTestEntry `json:"tests"`
	// Coverage is OPA's coverage report, as `opa test --coverage` prints it.
	Coverage *cover.Report `json:"coverage,omitempty"`
	// Threshold is the percentage asked for, BelowThreshold whether the
	// coverage fell short of it.
	Threshold      float64 `json:"threshold,omitempty"`
	BelowThreshold bool    `json:"belowThreshold,omitempty"`
}

type policyTestEntry struct {
	Package  string `json:"package"`
	Name     string `json:"name"`
	Result   string `json:"result"` // pass, fail, error or skip
	Location string `json:"location,omitempty"`
	Error    string `json:"error,omitempty"`
	Output   string `json:"output,omitempty"`
	Duration string `json:"duration"`
}

func runPolicyTest(ctx context.Context, out io.Writer, o policyTestOptions) error {
	rep := policyTestReport{Tests: []policyTestEntry{}, Threshold: o.Threshold}
	var reports []cover.Report
	for _, dir := range o.Dirs {
		b, err := policy.LoadDir(dir)
		if err != nil {
			return inputError(err)
		}
		var results []*tester.Result
		if o.Coverage {
			var c cover.Report
			results, c, err = policy.RunTestsWithCoverage(ctx, b, policy.WithStrictBuiltinErrors())
			reports = append(reports, c)
		} else {
			results, err = policy.RunTests(ctx, b, policy.WithStrictBuiltinErrors())
		}
		if err != nil {
			return inputError(err)
		}
		for _, r := range results {
			e := testEntry(r)
			switch e.Result {
			case "pass":
				rep.Passed++
			case "fail", "error":
				rep.Failed++
			}
			rep.Tests = append(rep.Tests, e)
		}
	}
	if o.Coverage {
		c := policy.MergeCoverage(reports...)
		rep.Coverage = &c
		rep.BelowThreshold = c.Coverage < o.Threshold
	}

	if o.Output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printTestResults(out, rep, o.Verbose)
		if rep.Coverage != nil {
			printCoverage(out, *rep.Coverage)
		}
		if rep.BelowThreshold {
			fmt.Fprintf(out, "coverage %.2f%% is under the threshold of %.2f%%\n", rep.Coverage.Coverage, o.Threshold)
		}
	}
	if rep.Failed > 0 || rep.BelowThreshold {
		return exitCode(1)
	}
	return nil
}

// testEntry is one test result as reported.
func testEntry(r *tester.Result) policyTestEntry {
	e := policyTestEntry{Package: r.Package, Name: r.Name, Duration: r.Duration.String(), Output: string(r.Output)}
	if r.Location != nil {
		e.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
	}
	switch {
	case r.Pass():
		e.Result = "pass"
	case r.Skip:
		e.Result = "skip"
	case r.Error != nil:
		e.Result, e.Error = "error", r.Error.Error()
	default:
		e.Result = "fail"
	}
	return e
}

func printTestResults(out io.Writer, rep policyTestReport, verbose bool) {
	for _, e := range rep.Tests {
		where := ""
		if e.Location != "" {
			where = " (" + e.Location + ")"
		}
		switch e.Result {
		case "pass":
			if verbose {
				fmt.Fprintf(out, "PASS %s.%s (%s)\n", e.Package, e.Name, e.Duration)
			}
		case "skip":
			if verbose {
				fmt.Fprintf(out, "SKIP %s.%s\n", e.Package, e.Name)
			}
		case "error":
			fmt.Fprintf(out, "ERROR %s.%s%s: %s\n", e.Package, e.Name, where, e.Error)
		default:
			fmt.Fprintf(out, "FAIL %s.%s%s\n", e.Package, e.Name, where)
		}
	}
	fmt.Fprintf(out, "policy: %d passed, %d failed\n", rep.Passed, rep.Failed)
}
