#!/usr/bin/env bash
# Runs every Go fuzz target in the module for $FUZZTIME (default 10s) each.
# A crasher is written by go test under the package's testdata/fuzz and
# fails the run. Minimising each new interesting input is capped at 100
# runs: with the default (60 s) the workers spend whole runs minimising
# AdmissionReviews of several kilobytes and fuzz almost nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
status=0
while IFS= read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
		echo "fuzz: $pkg $target for $fuzztime"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg"; then
			status=1
		fi
	done
done < <(grep -lE '^func Fuzz' $(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go') | sort)
exit $status
