package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
)

// auditOptions is what the `shipgate audit` commands are told.
type auditOptions struct {
	StoreURL  string
	Conn      apiConn // the gateway, for --server
	KeyFiles  []string
	StateFile string
	// RequireSigned fails verification when records lie beyond the latest
	// signed checkpoint.
	RequireSigned bool
	Output        string
	Filter        audit.Filter
	Since         string
	Until         string
	Limit         int
	Format        string
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

// logFlags adds where the log is read: --store, its database, or --server,
// the gateway's API, with the API's connection flags.
func logFlags(cmd *cobra.Command, o *auditOptions) {
	cmd.Flags().StringVar(&o.StoreURL, "store", "", "the store holding the log: sqlite:///path/shipgate.db or postgres://… (or --server)")
	o.Conn.flags(cmd.Flags())
}

// remote says whether the log is read through the gateway's API (--server,
// or $SHIPGATE_SERVER without --store) rather than from its database
// (--store): exactly one of the two.
func (o auditOptions) remote() (bool, error) {
	switch {
	case o.StoreURL != "" && o.Conn.Server != "":
		return false, fmt.Errorf("give --store (the database) or --server (the gateway's API), not both")
	case o.StoreURL != "":
		return false, nil
	case o.Conn.Server != "" || os.Getenv(envServer) != "":
		return true, nil
	}
	return false, fmt.Errorf("no log to read: give --store URL (the database) or --server URL (the gateway's API)")
}

func newAuditVerifyCommand(run func(context.Context, io.Writer, auditOptions) error) *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "verify (--store URL | --server URL) --key FILE.pub [--state FILE]",
		Short: "Recompute every leaf and the tree, and check every checkpoint",
		Long: `Read the whole log: recompute each record's leaf hash and the Merkle tree,
check every signed checkpoint against the tree and the verifier keys
(current and rotated out), and, with --state, check the log still extends
the checkpoint a previous run verified (detecting truncation or rollback),
then remember the newest one. Names the first record that does not match
and exits 1.

With --server instead of --store, read the log through the gateway's API,
for an auditor without database credentials: the whole export (each
record with its leaf), the latest signed checkpoint, checked against the
tree rebuilt from the export, and, with --state, a consistency proof from
the remembered checkpoint to it. The API shows neither older checkpoints
nor the database's query columns, which only --store checks.`,
		Example: `  shipgate audit verify --store sqlite:///var/lib/shipgate/shipgate.db --key audit.pub --state ~/.shipgate-audit-state
  shipgate audit verify --server https://shipgate.example:8443 --key audit.pub --state ~/.shipgate-audit-state`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := o.remote(); err != nil {
				return err
			}
			return run(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	logFlags(cmd, &o)
	cmd.Flags().StringArrayVar(&o.KeyFiles, "key", nil, "checkpoint verifier key file (repeatable, for rotated keys)")
	cmd.Flags().StringVar(&o.StateFile, "state", "", "file remembering the last verified checkpoint")
	cmd.Flags().BoolVar(&o.RequireSigned, "require-signed", false, "fail when records lie beyond the latest signed checkpoint (they are hash-chained into the tree, but no signature covers them yet)")
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
	rep, err := verifyLog(ctx, o, verifiers)
	if ec := exitCode(0); errors.As(err, &ec) {
		return err
	}
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
	if rep.Signed < rep.Size {
		label := "note"
		if o.RequireSigned {
			label = "FAILED"
		}
		fmt.Fprintf(out, "%s: %s\n", label, unsignedTail(rep.Signed, rep.Size))
		if o.RequireSigned {
			return exitCode(1)
		}
	}
	return nil
}

// unsignedTail says which records, from..size-1, no signed checkpoint
// covers yet.
func unsignedTail(from, size uint64) string {
	if size-from == 1 {
		return fmt.Sprintf("record %d is beyond the latest signed checkpoint (size %d): it is in the tree, but no signature covers it yet", from, from)
	}
	return fmt.Sprintf("records %d–%d are beyond the latest signed checkpoint (size %d): they are in the tree, but no signature covers them yet", from, size-1, from)
}

// verifyLog verifies the log where o says it is: in the database with
// Verify, or through the gateway's API with VerifySource.
func verifyLog(ctx context.Context, o auditOptions, verifiers note.Verifiers) (*audit.Report, error) {
	opts := audit.VerifyOptions{StateFile: o.StateFile}
	if remote, _ := o.remote(); remote {
		c, err := o.Conn.client()
		if err != nil {
			return nil, inputError(err)
		}
		return audit.VerifySource(ctx, apiSource{c}, verifiers, opts)
	}
	db, err := store.Open(ctx, o.StoreURL)
	if err != nil {
		return nil, inputError(err)
	}
	defer db.Close()
	return audit.Verify(ctx, db, verifiers, opts)
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

// newFilteredCommand is a command reading the log with record filters:
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
			if _, err := o.remote(); err != nil {
				return err
			}
			return run(cmd.Context(), cmd.OutOrStdout(), *o)
		},
	}
	logFlags(cmd, o)
	filterFlags(cmd, o)
	return cmd
}

func newAuditQueryCommand(run func(context.Context, io.Writer, auditOptions) error) *cobra.Command {
	var o auditOptions
	cmd := newFilteredCommand("query (--store URL | --server URL) [filters]", "List audit records", &o, run)
	cmd.Flags().IntVar(&o.Limit, "limit", 100, "records at most")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "table", "table or json")
	return cmd
}

func runAuditQuery(ctx context.Context, out io.Writer, o auditOptions) error {
	entries, err := queryLog(ctx, o)
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

// queryLog reads the first page of matching records (up to --limit, at
// most audit.MaxLimit) where o says the log is.
func queryLog(ctx context.Context, o auditOptions) ([]audit.Entry, error) {
	if remote, _ := o.remote(); remote {
		c, err := o.Conn.client()
		if err != nil {
			return nil, inputError(err)
		}
		return queryAPI(ctx, c, o.Filter, o.Limit)
	}
	l, closeAll, err := openLog(ctx, o.StoreURL)
	if err != nil {
		return nil, inputError(err)
	}
	defer closeAll()
	entries, _, err := l.Query(ctx, o.Filter, "", o.Limit)
	return entries, err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAuditExportCommand(run func(context.Context, io.Writer, auditOptions) error) *cobra.Command {
	var o auditOptions
	cmd := newFilteredCommand("export (--store URL | --server URL) [--format jsonl|csv] [filters]", "Stream audit records as JSON Lines or CSV", &o, run)
	cmd.Flags().StringVar(&o.Format, "format", "jsonl", "jsonl or csv")
	return cmd
}

func runAuditExport(ctx context.Context, out io.Writer, o auditOptions) error {
	if remote, _ := o.remote(); remote {
		c, err := o.Conn.client()
		if err != nil {
			return inputError(err)
		}
		return exportAPI(ctx, c, out, o.Filter, o.Format)
	}
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
