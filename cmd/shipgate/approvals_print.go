package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate/approval"
)

// printJSON writes v indented.
func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stateLabel is the state, flagged when break-glass.
func stateLabel(r *approval.Request) string {
	if r.BreakGlass && (r.State == approval.Approved || r.State == approval.Used) {
		return string(r.State) + " (break-glass)"
	}
	return string(r.State)
}

func printApprovalTable(out io.Writer, rs []approval.Request) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAMESPACE\tWORKLOAD\tSTATE\tAPPROVERS\tREQUESTER\tEXPIRES")
	for i := range rs {
		r := &rs[i]
		expires := "-"
		if r.State == approval.Pending || r.State == approval.Approved || r.State == approval.Used {
			expires = r.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", r.ID, r.Namespace, r.Kind, r.Name, stateLabel(r),
			orDash(strings.Join(r.Approvers(), ",")), r.Requester.Name, expires)
	}
	return tw.Flush()
}

// printApproval shows one request for people.
func printApproval(out io.Writer, r *approval.Request) {
	fmt.Fprintf(out, "Request:      %s\n", r.ID)
	fmt.Fprintf(out, "Workload:     %s\n", r.Object())
	fmt.Fprintf(out, "State:        %s\n", stateLabel(r))
	if r.BreakGlass {
		fmt.Fprintf(out, "Break-glass:  %s\n", r.BreakGlassReason)
	}
	fmt.Fprintf(out, "Requester:    %s\n", r.Requester.Name)
	fmt.Fprintf(out, "Fingerprint:  %s\n", r.Fingerprint)
	fmt.Fprintln(out, "Images:")
	for _, im := range r.Images {
		fmt.Fprintf(out, "  %s: %s %s\n", im.Container, im.Ref, im.Digest)
	}
	fmt.Fprintln(out, "Requires:")
	for _, q := range r.Requirements {
		fmt.Fprintf(out, "  %s\n", q)
	}
	fmt.Fprintf(out, "Progress:     %s\n", r.Progress())
	if len(r.Votes) > 0 {
		fmt.Fprintln(out, "Votes:")
		for _, v := range r.Votes {
			line := fmt.Sprintf("  %s %s %s", v.Time.Format(time.RFC3339), v.User.Name, v.Verdict)
			if v.BreakGlass {
				line += " (break-glass)"
			}
			if v.Comment != "" {
				line += ": " + v.Comment
			}
			fmt.Fprintln(out, line)
		}
	}
	fmt.Fprintf(out, "Created:      %s\n", r.CreatedAt.Format(time.RFC3339))
	switch r.State {
	case approval.Pending:
		fmt.Fprintf(out, "Expires:      %s\n", r.ExpiresAt.Format(time.RFC3339))
		fmt.Fprintf(out, "Approve with: %s   (or POST %s)\n", approval.ApproveCommand(r.ID), approval.ApprovePath(r.ID))
	case approval.Approved, approval.Used:
		fmt.Fprintf(out, "Valid until:  %s\n", r.ExpiresAt.Format(time.RFC3339))
		if r.Uses > 0 {
			fmt.Fprintf(out, "Used:         %d times, first %s\n", r.Uses, r.UsedAt.Format(time.RFC3339))
		}
	default:
		fmt.Fprintf(out, "Ended:        %s\n", r.DecidedAt.Format(time.RFC3339))
	}
}
