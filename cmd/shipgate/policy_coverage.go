package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/open-policy-agent/opa/v1/cover"

	"github.com/shipgate/shipgate/policy"
)

// printCoverage prints OPA's coverage report as a table: per file the
// lines covered and not, the percentage, and which lines were not
// covered; then the total.
func printCoverage(out io.Writer, c cover.Report) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tCOVERED\tNOT COVERED\tCOVERAGE\tLINES NOT COVERED")
	for _, name := range slices.Sorted(maps.Keys(c.Files)) {
		f := c.Files[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", name, f.CoveredLines, f.NotCoveredLines,
			percent(f.CoveredLines, f.NotCoveredLines), dash(strings.Join(policy.LineSpans(f.NotCovered), ", ")))
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%s\t\n", c.CoveredLines, c.NotCoveredLines, percent(c.CoveredLines, c.NotCoveredLines))
	tw.Flush()
}

// percent is covered/(covered+not) as "87.50%"; a file with no countable
// line shows "-" (OPA reports 0 for it).
func percent(covered, notCovered int) string {
	total := covered + notCovered
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(covered)/float64(total))
}
