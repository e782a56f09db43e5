package main

import (
	"context"
	"fmt"
	"io"
	"os/user"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/audit"
)

// redactOptions is what `shipgate audit redact` is told.
type redactOptions struct {
	StoreURL string
	Seq      uint64
	Reason   string
	By       string
}

func newAuditRedactCommand(run func(context.Context, io.Writer, redactOptions) error) *cobra.Command {
	var o redactOptions
	cmd := &cobra.Command{
		Use:   "redact SEQ --reason TEXT --store URL",
		Short: "Redact a record's payload (a pasted secret) without breaking the tree",
		Long: `Replace record SEQ's payload with its identity fields (event, who, what
object, decision, ids) and append a redaction record naming it, the reason
and who redacted it. The record's leaf stays, so the Merkle tree, every
checkpoint and every proof still hold, and audit verify accepts the
redaction because the redaction record names it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("SEQ %q is not a record number", args[0])
			}
			if o.Reason == "" {
				return fmt.Errorf("--reason is required: the redaction record says why")
			}
			o.Seq = seq
			return run(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().StringVar(&o.StoreURL, "store", "", "the store holding the log")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why the payload is redacted")
	cmd.Flags().StringVar(&o.By, "by", "", "who redacts (default: the local user)")
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

func runAuditRedact(ctx context.Context, out io.Writer, o redactOptions) error {
	if o.By == "" {
		if u, err := user.Current(); err == nil {
			o.By = u.Username
		}
	}
	l, closeAll, err := openLog(ctx, o.StoreURL)
	if err != nil {
		return inputError(err)
	}
	defer closeAll()
	seq, err := l.Redact(ctx, o.Seq, o.Reason, audit.User{Username: o.By})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "record %d redacted; redaction recorded as record %d\n", o.Seq, seq)
	return nil
}
