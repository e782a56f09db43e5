#!/usr/bin/env bash
# Runs every Go fuzz target in the module for $FUZZTIME (default 10s) each.
# Targets are found by name (func FuzzX) in every _test.go file git knows
# of or would add (new files count before they are committed), so a new
# target is wired in by being written. A crasher is written by go test
# under the package's testdata/fuzz and fails the run. Minimising each new
# interesting input is capped at 100 runs: with the default (60 s) the
# workers spend whole runs minimising AdmissionReviews of several
# kilobytes and fuzz almost nothing. At the end a summary gives each
# target's inputs run and new interesting inputs.
#
# A run that fails with only "context deadline exceeded" and writes no
# failing input is Go's own fuzzing coordinator racing the -fuzztime
# deadline on a busy machine (go.dev/issue/75804, fixed in Go 1.27), not a
# finding: that target is run once more, and fails the run only if it
# fails again.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
status=0
summary=()
files=$(git ls-files --cached --others --exclude-standard '*_test.go' 2>/dev/null || find . -name '*_test.go')
while IFS= read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
		echo "fuzz: $pkg $target for $fuzztime"
		log=$(mktemp)
		result=ok
		for try in 1 2; do
			if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg" 2>&1 | tee "$log"; then
				break
			fi
			if [ "$try" = 1 ] && grep -qx '    context deadline exceeded' "$log" && ! grep -q 'Failing input written to' "$log"; then
				echo "fuzz: $target stopped on the -fuzztime deadline race (go.dev/issue/75804), no failing input; running it once more"
				result="ok (rerun after the deadline race)"
				continue
			fi
			status=1
			result=FAILED
			break
		done
		# A run that never got past its baseline has no "execs:" line.
		last=$(grep -oE 'execs: [0-9]+ .*new interesting: [0-9]+' "$log" | tail -1 | sed -E 's/ \([0-9]+\/sec\)//' || true)
		summary+=("$result $pkg $target: ${last:-no inputs fuzzed}")
		rm -f "$log"
	done
done < <(grep -lE '^func Fuzz' $files | sort)
echo "fuzz: summary ($fuzztime each)"
printf '  %s\n' "${summary[@]}"
exit $status
