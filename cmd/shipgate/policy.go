package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/policy"
)

// policyTestOptions is what `shipgate policy test` is told.
type policyTestOptions struct {
	Dirs    []string
	Verbose bool
}

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test Rego policies",
	}
	cmd.AddCommand(newPolicyTestCommand(runPolicyTest))
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
errors fail a test, as they fail an admission. Exits 1 when a test fails
or errs, 2 when a directory does not load.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dirs = args
			return run(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "print every test, not only failures")
	return cmd
}

func runPolicyTest(ctx context.Context, out io.Writer, o policyTestOptions) error {
	passed, failed := 0, 0
	for _, dir := range o.Dirs {
		b, err := policy.LoadDir(dir)
		if err != nil {
			return inputError(err)
		}
		results, err := policy.RunTests(ctx, b, policy.WithStrictBuiltinErrors())
		if err != nil {
			return inputError(err)
		}
		for _, r := range results {
			switch {
			case r.Pass():
				passed++
				if o.Verbose {
					fmt.Fprintf(out, "PASS %s.%s (%s)\n", r.Package, r.Name, r.Duration)
				}
			case r.Skip:
				if o.Verbose {
					fmt.Fprintf(out, "SKIP %s.%s\n", r.Package, r.Name)
				}
			default:
				failed++
				where := ""
				if r.Location != nil {
					where = fmt.Sprintf(" (%s:%d)", r.Location.File, r.Location.Row)
				}
				if r.Error != nil {
					fmt.Fprintf(out, "ERROR %s.%s%s: %v\n", r.Package, r.Name, where, r.Error)
				} else {
					fmt.Fprintf(out, "FAIL %s.%s%s\n", r.Package, r.Name, where)
				}
			}
		}
	}
	fmt.Fprintf(out, "policy: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return exitCode(1)
	}
	return nil
}
