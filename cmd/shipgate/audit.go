package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
)

// auditOptions is what the `shipgate audit` commands are told.
type auditOptions struct {
	StoreURL  string
	KeyFiles  []string
	StateFile string
	Output    string
	Filter    audit.Filter
	Since     string
	Until     string
	Limit     int
	Format    string
}

func newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Query, export and verify the audit log",
	}
	cmd.AddCommand(newAuditVerifyCommand(runAuditVerify), newAuditQueryCommand(runAuditQuery),
		newAuditExportCommand(runAuditExport), newAuditRedactCommand(runAuditRedact))
	return cmd
}

func storeFlag(cmd *cobra.Command, o *auditOptions) {
	cmd.Flags().StringVar(&o.StoreURL, "store", "", "the store holding the log: sqlite:///path/shipgate.db or postgres://…")
	_ = cmd.MarkFlagRequired("store")
}

func newAuditVerifyCommand(run func(context.Context, io.Writer, auditOptions) error) *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "verify --store URL --key FILE.pub [--state FILE]",
		Short: "Recompute every leaf and the tree, and check every checkpoint",
		Long: `Read the whole log: recompute each record's leaf hash and the Merkle tree,
check every signed checkpoint against the tree and the verifier keys
(current and rotated out), and, with --state, check the log still extends
the checkpoint a previous run verified (detecting truncation or rollback),
then remember the newest one. Names the first record that does not match
and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), cmd.OutOrStdout(), o) },
	}
	storeFlag(cmd, &o)
	cmd.Flags().StringArrayVar(&o.KeyFiles, "key", nil, "checkpoint verifier key file (repeatable, for rotated keys)")
	cmd.Flags().StringVar(&o.StateFile, "state", "", "file remembering the last verified checkpoint")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func runAuditVerify(ctx context.Context, out io.Writer, o auditOptions) error {
	var vkeys []string
	for _, f := range o.KeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return inputError(err)
		}
		vkeys = append(vkeys, strings.TrimSpace(string(b)))
	}
	verifiers, err := audit.NewVerifiers(vkeys...)
	if err != nil {
		return inputError(err)
	}
	db, err := store.Open(ctx, o.StoreURL)
	if err != nil {
		return inputError(err)
	}
	defer db.Close()
	rep, err := audit.Verify(ctx, db, verifiers, audit.VerifyOptions{StateFile: o.StateFile})
	if err != nil {
		fmt.Fprintf(out, "FAILED: %v\n", err)
		if rep != nil {
			for _, p := range rep.Problems {
				fmt.Fprintf(out, "  %s\n", p.Reason)
			}
		}
		return exitCode(1)
	}
	fmt.Fprintf(out, "verified %d records (%d redacted) and %d signed checkpoints; root %x\n", rep.Size, rep.Redacted, rep.Checkpoints, rep.Root)
	return nil
}

func filterFlags(cmd *cobra.Command, o *auditOptions) {
	f := cmd.Flags()
	f.StringVarP(&o.Filter.Namespace, "namespace", "n", "", "namespace")
	f.StringVar(&o.Filter.Kind, "kind", "", "object kind")
	f.StringVar(&o.Filter.Name, "name", "", "object name")
	f.StringVar(&o.Filter.Repository, "repository", "", "image repository prefix")
	f.StringVar(&o.Filter.Digest, "digest", "", "image digest")
	f.StringVar(&o.Filter.User, "user", "", "username")
	f.StringVar(&o.Filter.Decision, "decision", "", "admitted, denied, warned or audited")
	f.StringVar(&o.Since, "since", "", "from this time (RFC 3339) or this long ago (24h)")
	f.StringVar(&o.Until, "until", "", "before this time (RFC 3339)")
}

// times reads --since and --until into the filter.
func (o *auditOptions) times() error {
	if o.Since != "" {
		if d, err := time.ParseDuration(o.Since); err == nil {
			o.Filter.Since = time.Now().Add(-d)
		} else if o.Filter.Since, err = time.Parse(time.RFC3339Nano, o.Since); err != nil {
			return fmt.Errorf("--since %q: want RFC 3339 or a duration", o.Since)
		}
	}
	if o.Until != "" {
		var err error
		if o.Filter.Until, err = time.Parse(time.RFC3339Nano, o.Until); err != nil {
			return fmt.Errorf("--until %q: want RFC 3339", o.Until)
		}
	}
	return nil
}

// newFilteredCommand is a command reading the store with record filters:
// query and export.
func newFilteredCommand(use, short string, o *auditOptions, run func(context.Context, io.Writer, auditOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.times(); err != nil {
				return err
			}
			return run(cmd.Context(), cmd.OutOrStdout(), *o)
		},
	}
	storeFlag(cmd, o)
	filterFlags(cmd, o)
	return cmd
}

func newAuditQueryCommand(run func(context.Context, io.Writer, auditOptions) error) *cobra.Command {
	var o auditOptions
	cmd := newFilteredCommand("query --store URL [filters]", "List audit records", &o, run)
	cmd.Flags().IntVar(&o.Limit, "limit", 100, "records at most")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "table", "table or json")
	return cmd
}

func runAuditQuery(ctx context.Context, out io.Writer, o auditOptions) error {
	l, closeAll, err := openLog(ctx, o.StoreURL)
	if err != nil {
		return inputError(err)
	}
	defer closeAll()
	entries, _, err := l.Query(ctx, o.Filter, "", o.Limit)
	if err != nil {
		return err
	}
	if o.Output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if entries == nil {
			entries = []audit.Entry{}
		}
		return enc.Encode(entries)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tEVENT\tUSER\tOBJECT\tDECISION\tREASONS")
	for _, e := range entries {
		r := e.Record
		obj := "-"
		if r.Kind != "" {
			obj = r.Kind + " " + r.Namespace + "/" + r.Name
		}
		reasons := strings.Join(r.Reasons, "; ")
		if reasons == "" {
			reasons = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, r.Time.Format(time.RFC3339), r.Event, r.User.Username, obj, orDash(r.Decision), reasons)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAuditExportCommand(run func(context.Context, io.Writer, auditOptions) error) *cobra.Command {
	var o auditOptions
	cmd := newFilteredCommand("export --store URL [--format jsonl|csv] [filters]", "Stream audit records as JSON Lines or CSV", &o, run)
	cmd.Flags().StringVar(&o.Format, "format", "jsonl", "jsonl or csv")
	return cmd
}

func runAuditExport(ctx context.Context, out io.Writer, o auditOptions) error {
	l, closeAll, err := openLog(ctx, o.StoreURL)
	if err != nil {
		return inputError(err)
	}
	defer closeAll()
	return l.Export(ctx, out, o.Filter, o.Format)
}

// openLog opens the store and the log on it for reading.
func openLog(ctx context.Context, url string) (*audit.Log, func(), error) {
	db, err := store.Open(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	l, err := audit.New(db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return l, func() { l.Close(); db.Close() }, nil
}
