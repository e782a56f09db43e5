package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/shipgate/shipgate/config"
)

// printEvalResults prints a block per object: the verdict, the binding,
// a line per message, the images when verified, and the traces.
func printEvalResults(out io.Writer, results []evalResult, o policyEvalOptions) {
	unverified := false
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "%s (%s): %s\n", r.Object, r.Source, evalVerdict(r))
		if r.Skipped != "" {
			fmt.Fprintf(out, "  %s\n", r.Skipped)
			continue
		}
		sets := strings.Join(r.Sets, ", ")
		if sets == "" {
			sets = "none (bind some in the config, or name one with --set)"
		}
		fmt.Fprintf(out, "  namespace %s, mode %s, policy revision %s, sets: %s\n", r.Namespace, r.Mode, r.Revision, sets)

		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, m := range r.Deny {
			fmt.Fprintf(tw, "  DENY\t%s\t%s\t%s\n", m.Set, dash(m.Code), m.Msg)
		}
		for _, m := range r.Warn {
			fmt.Fprintf(tw, "  WARN\t%s\t%s\t%s\n", m.Set, dash(m.Code), m.Msg)
		}
		for _, a := range r.RequireApproval {
			fmt.Fprintf(tw, "  APPROVAL\t%s\t-\t%s\n", a.Set, approvalText(a))
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "  ERROR\t-\t-\t%s\n", r.Error)
		}
		tw.Flush()

		if r.ImagesVerified {
			for _, img := range r.Images {
				switch {
				case img.Verified:
					fmt.Fprintf(out, "  image %s: verified, %s\n", img.Ref, img.Digest)
				case len(img.Errors) > 0:
					fmt.Fprintf(out, "  image %s: not verified: %s\n", img.Ref, strings.Join(img.Errors, "; "))
				default:
					fmt.Fprintf(out, "  image %s: not verified\n", img.Ref)
				}
			}
		} else if len(r.Images) > 0 {
			unverified = true
		}

		for _, tr := range r.Explanation {
			fmt.Fprintf(out, "  trace of %s (--explain %s):\n", tr.Set, o.Explain)
			if len(tr.Trace) == 0 {
				fmt.Fprintln(out, "    (no events kept)")
			}
			for _, line := range tr.Trace {
				fmt.Fprintf(out, "    %s\n", line)
			}
		}
	}
	if len(results) == 0 {
		fmt.Fprintln(out, "no workloads in the manifests")
	}
	if unverified {
		fmt.Fprintln(out, "\nnote: images were not verified (offline): the policies saw no digests, signers or attestations,")
		fmt.Fprintln(out, "and verified false for every image. --verify verifies them against the config's trust policies first.")
	}
}

// evalVerdict sums up what policy decided, and what admission would do
// with it in the namespace's mode.
func evalVerdict(r evalResult) string {
	var v string
	switch {
	case r.Skipped != "":
		return "not judged"
	case r.Error != "":
		v = "policy evaluation failed"
	case len(r.Deny) > 0:
		v = "denied"
	case len(r.RequireApproval) > 0:
		return "allowed once approved"
	case len(r.Warn) > 0:
		return "allowed with warnings"
	default:
		return "allowed"
	}
	switch r.Mode {
	case config.ModeWarn:
		return v + " (mode warn: admitted, the reasons returned as warnings)"
	case config.ModeAudit:
		return v + " (mode audit: admitted, the reasons only in the audit log)"
	}
	return v
}

// approvalText is "2 approvers from release-managers: why".
func approvalText(a evalApproval) string {
	s := fmt.Sprintf("%d approvers", a.Approvers)
	if a.Approvers == 1 {
		s = "1 approver"
	}
	if len(a.Groups) > 0 {
		s += " from " + strings.Join(a.Groups, ", ")
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}
