package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/workload"
	"github.com/shipgate/shipgate/workload/manifest"
)

// approvalsOptions is what the `shipgate approvals` commands are told.
type approvalsOptions struct {
	Conn       apiConn
	Output     string
	ID         string
	Namespace  string
	State      string
	Limit      int
	Comment    string
	BreakGlass bool
	Verb       string // approve or reject
	Files      []string
}

// approvalsRun is a subcommand's work, given its parsed options.
type approvalsRun func(ctx context.Context, out io.Writer, o approvalsOptions) error

func newApprovalsCommand() *cobra.Command {
	o := &approvalsOptions{}
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List, inspect, approve, reject and request rollout approvals",
		Long: `Talk to the gateway's approval API. Calls are made as the holder of the
token given with --token or $SHIPGATE_TOKEN or, without either, as the
current kubeconfig user; the gateway checks who that is and what they may
do in the request's namespace (resource approvals.shipgate.dev, verbs get,
list, create, approve, reject).`,
		Example: `  shipgate approvals list -n prod-payments --state pending --server https://shipgate.example:8443
  shipgate approvals approve 7kq2m9x4p0c1d3f5 --comment "reviewed the migration"
  shipgate approvals approve 7kq2m9x4p0c1d3f5 --break-glass --comment "INC-4711: payments down"
  shipgate approvals request -f deploy/api.yaml`,
	}
	o.Conn.flags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVarP(&o.Output, "output", "o", "table", "table or json")
	cmd.AddCommand(
		newApprovalsListCommand(o, runApprovalsList),
		newApprovalsGetCommand(o, runApprovalsGet),
		newApprovalsVoteCommand(o, "approve", runApprovalsVote),
		newApprovalsVoteCommand(o, "reject", runApprovalsVote),
		newApprovalsRequestCommand(o, runApprovalsRequest),
	)
	return cmd
}

// checked runs run with the options once the output format is known good.
func checked(o *approvalsOptions, run approvalsRun) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if o.Output != "table" && o.Output != "json" {
			return fmt.Errorf("-o %q: want table or json", o.Output)
		}
		if len(args) == 1 {
			o.ID = args[0]
		}
		return run(cmd.Context(), cmd.OutOrStdout(), *o)
	}
}

func newApprovalsListCommand(o *approvalsOptions, run approvalsRun) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [-n NAMESPACE] [--state STATE]",
		Short: "List approval requests, newest first",
		Args:  cobra.NoArgs,
		RunE:  checked(o, run),
	}
	cmd.Flags().StringVarP(&o.Namespace, "namespace", "n", "", "namespace (default every namespace, which needs permission in all)")
	cmd.Flags().StringVar(&o.State, "state", "", "pending, approved, used, rejected or expired")
	cmd.Flags().IntVar(&o.Limit, "limit", 100, "requests at most")
	return cmd
}

func runApprovalsList(ctx context.Context, out io.Writer, o approvalsOptions) error {
	c, err := o.Conn.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"namespace": o.Namespace, "state": o.State, "limit": fmt.Sprint(o.Limit)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var page struct {
		Approvals []approval.Request `json:"approvals"`
	}
	if err := c.do(ctx, "GET", "/v1/approvals?"+q.Encode(), nil, &page); err != nil {
		return err
	}
	if o.Output == "json" {
		return printJSON(out, page.Approvals)
	}
	return printApprovalTable(out, page.Approvals)
}

func newApprovalsGetCommand(o *approvalsOptions, run approvalsRun) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one approval request: the rollout, its rules, votes and state",
		Args:  cobra.ExactArgs(1),
		RunE:  checked(o, run),
	}
}

func runApprovalsGet(ctx context.Context, out io.Writer, o approvalsOptions) error {
	c, err := o.Conn.client()
	if err != nil {
		return err
	}
	var r approval.Request
	if err := c.do(ctx, "GET", "/v1/approvals/"+url.PathEscape(o.ID), nil, &r); err != nil {
		return err
	}
	if o.Output == "json" {
		return printJSON(out, r)
	}
	printApproval(out, &r)
	return nil
}

func newApprovalsVoteCommand(o *approvalsOptions, verb string, run approvalsRun) *cobra.Command {
	short := map[string]string{
		"approve": "Approve an approval request (never your own)",
		"reject":  "Reject an approval request, which ends it",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " ID [--comment TEXT]",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Verb = verb
			if o.BreakGlass && strings.TrimSpace(o.Comment) == "" {
				return fmt.Errorf("--break-glass needs --comment saying why the usual approvals cannot wait")
			}
			return checked(o, run)(cmd, args)
		},
	}
	cmd.Flags().StringVar(&o.Comment, "comment", "", "why; recorded with the vote and in the audit log")
	if verb == "approve" {
		cmd.Flags().BoolVar(&o.BreakGlass, "break-glass", false, "a break-glass approval: enough alone, needs --comment, expires quickly, flagged in the audit log")
	}
	return cmd
}

func runApprovalsVote(ctx context.Context, out io.Writer, o approvalsOptions) error {
	c, err := o.Conn.client()
	if err != nil {
		return err
	}
	body := map[string]any{"comment": o.Comment}
	if o.BreakGlass {
		body["breakGlass"] = true
	}
	var r approval.Request
	if err := c.do(ctx, "POST", "/v1/approvals/"+url.PathEscape(o.ID)+"/"+o.Verb, body, &r); err != nil {
		return err
	}
	if o.Output == "json" {
		return printJSON(out, r)
	}
	switch r.State {
	case approval.Pending:
		fmt.Fprintf(out, "approval request %s for %s: approval recorded; still pending (%s)\n", r.ID, r.Object(), r.Progress())
	case approval.Rejected:
		fmt.Fprintf(out, "approval request %s for %s: rejected\n", r.ID, r.Object())
	default:
		how := "approved by " + strings.Join(r.Approvers(), ", ")
		if r.BreakGlass {
			how = "approved with break-glass by " + strings.Join(r.Approvers(), ", ")
		}
		fmt.Fprintf(out, "approval request %s for %s: %s; it admits this exact rollout until %s\n", r.ID, r.Object(), how, r.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

func newApprovalsRequestCommand(o *approvalsOptions, run approvalsRun) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "request -f FILE|DIR [-f …]",
		Short: "Request approval for rollouts before applying them",
		Long: `Send each workload of the manifests to the gateway, which resolves its
images and computes the fingerprint /validate will compute when it is
applied, and makes (or finds) the approval request for that exact rollout.
Apply the manifests unchanged once approved: any change — another digest
behind a tag, another env var — is another rollout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.Files) == 0 {
				return fmt.Errorf("no manifests: give -f FILE or -f DIR")
			}
			return checked(o, run)(cmd, args)
		},
	}
	cmd.Flags().StringArrayVarP(&o.Files, "filename", "f", nil, "manifest file or directory (repeatable; - is stdin)")
	cmd.Flags().StringVarP(&o.Namespace, "namespace", "n", "", "namespace of objects that name none")
	return cmd
}

func runApprovalsRequest(ctx context.Context, out io.Writer, o approvalsOptions) error {
	objs, err := manifest.ReadPaths(o.Files)
	if err != nil {
		return inputError(err)
	}
	c, err := o.Conn.client()
	if err != nil {
		return err
	}
	var made []approval.Request
	for _, obj := range objs {
		if !workload.Supported(obj.Kind) {
			continue
		}
		var r approval.Request
		body := map[string]any{"namespace": o.Namespace, "object": json.RawMessage(obj.JSON)}
		if err := c.do(ctx, "POST", "/v1/approvals", body, &r); err != nil {
			return fmt.Errorf("%s: %s %s: %w", obj.Where(), obj.Kind, obj.Name, err)
		}
		made = append(made, r)
		if o.Output == "table" {
			switch r.State {
			case approval.Pending:
				fmt.Fprintf(out, "%s: approval request %s pending (%s); approve with `shipgate approvals approve %s`\n", r.Object(), r.ID, r.Progress(), r.ID)
			default:
				fmt.Fprintf(out, "%s: already approved by %s (request %s), until %s\n", r.Object(), strings.Join(r.Approvers(), ", "), r.ID, r.ExpiresAt.Format(time.RFC3339))
			}
		}
	}
	if len(made) == 0 {
		return inputError(fmt.Errorf("no workloads in %s", strings.Join(o.Files, ", ")))
	}
	if o.Output == "json" {
		return printJSON(out, made)
	}
	return nil
}
