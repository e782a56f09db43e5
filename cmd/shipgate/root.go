package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// exitCode is an error that carries the process exit status and has
// already told the user why.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "shipgate",
		Short: "The admission gate for Kubernetes rollouts",
		Long: `shipgate admits a workload only when every image is pinned to something
other than latest, is signed by a trusted authority, carries signed proof
that its tests passed, passes the namespace's Rego policies and, where
asked, has been approved by enough people; and it records every decision
in a tamper-evident audit log.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCommand(runServe),
		newCheckCommand(runCheck),
		newDemoCommand(runDemo),
		newAuditCommand(),
		newPolicyCommand(),
		newApprovalsCommand(),
		newEvidenceCommand(),
		newVerifyCommand(runVerify),
	)
	return root
}
