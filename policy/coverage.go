package policy

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/tester"
)

// RunTestsWithCoverage runs the tests of b as RunTests does and reports
// which lines of its modules, tests included, they evaluated, as `opa test
// --coverage` does: a rule head counts as covered when the rule succeeded,
// an expression when it was evaluated. Like opa, it runs each test twice
// more, without rule indexing and without early exit, to mark each line
// that only those optimisations skipped with their kind
// (cover.KindIndexExcluded, cover.KindEarlyExit); such lines still count as
// not covered.
func RunTestsWithCoverage(ctx context.Context, b *Bundle, opts ...Option) ([]*tester.Result, cover.Report, error) {
	r, mods, caps, err := testRunner(b, opts)
	if err != nil {
		return nil, cover.Report{}, err
	}
	cov := cover.New()
	r.SetCoverageQueryTracer(cov).SetCoverageRuns([]cover.Kind{cover.KindIndexExcluded, cover.KindEarlyExit})
	results, err := runTests(ctx, r, caps)
	if err != nil {
		return nil, cover.Report{}, err
	}
	return results, cov.Report(mods), nil
}

// MergeCoverage combines reports over distinct files (one per policy
// directory) into one, the total percentage recomputed from the line
// counts as cover.Report computes it. A file in several reports keeps the
// last.
func MergeCoverage(reports ...cover.Report) cover.Report {
	out := cover.Report{Files: map[string]*cover.FileReport{}}
	for _, r := range reports {
		maps.Copy(out.Files, r.Files)
	}
	for _, f := range out.Files {
		out.CoveredLines += f.CoveredLines
		out.NotCoveredLines += f.NotCoveredLines
	}
	if total := out.CoveredLines + out.NotCoveredLines; total > 0 {
		out.Coverage = 100 * float64(out.CoveredLines) / float64(total)
	}
	return out
}

// LineSpans returns the lines of ranges as sorted, merged spans: "7",
// "12-14".
func LineSpans(ranges []cover.Range) []string {
	var rows []int
	for _, r := range ranges {
		for row := r.Start.Row; row <= r.End.Row; row++ {
			rows = append(rows, row)
		}
	}
	slices.Sort(rows)
	rows = slices.Compact(rows)
	var spans []string
	for i := 0; i < len(rows); {
		j := i
		for j+1 < len(rows) && rows[j+1] == rows[j]+1 {
			j++
		}
		if i == j {
			spans = append(spans, fmt.Sprint(rows[i]))
		} else {
			spans = append(spans, fmt.Sprintf("%d-%d", rows[i], rows[j]))
		}
		i = j + 1
	}
	return spans
}
