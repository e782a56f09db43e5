#!/usr/bin/env bash
# Security checks on the main module: staticcheck, then govulncheck against
# a Go vulnerability database built here, offline, from a pinned snapshot of
# the golang.org/x/vulndb module (the Go module proxy serves it; nothing else
# is fetched). `go vet` runs in `make test`.
#
#   scripts/security-checks.sh                 # both
#   scripts/security-checks.sh staticcheck     # or govulncheck, or vulndb (build the DB only)
#
# The DB is built once per snapshot into .cache/security/vulndb/<version>
# (git ignores .cache/): the snapshot's OSV reports (data/osv/*.json) are
# indexed by x/vulndb's own cmd/indexdb into the layout govulncheck reads
# from a file:// URL (index/db.json, index/modules.json, index/vulns.json,
# ID/<id>.json, each also gzipped). The reports in the module carry no
# modification time (the real one comes from git history at deploy time),
# so each is stamped with the snapshot's commit time; govulncheck uses it
# only for its "DB updated" line. To move to a newer snapshot, change
# VULNDB_VERSION below to a newer golang.org/x/vulndb pseudo-version.
#
# Reading govulncheck's findings: only vulnerabilities whose vulnerable
# functions shipgate's code can reach ("=== Symbol Results ===") fail the
# run. Each "Vulnerability #N: GO-YYYY-NNNN" block names the module (or
# "Standard library"), "Found in" (the version built now), "Fixed in" (the
# first fixed version: `go get module@version` for a module, a newer Go for
# the standard library; "N/A" when no fix exists) and example call traces,
# from a line of shipgate's code to the vulnerable function. The full report
# is at https://pkg.go.dev/vuln/GO-YYYY-NNNN and offline in the DB's
# ID/GO-YYYY-NNNN.json. Vulnerabilities that shipgate imports or requires but
# does not call are counted in the closing lines and do not fail the run;
# GOVULNCHECK_FLAGS='-show verbose' lists them (and '-show traces' gives full
# call stacks). A called finding the team has judged and accepts goes into
# scripts/govulncheck-accept.txt with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

GO=${GO:-go}
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
GOVULNCHECK_FLAGS=${GOVULNCHECK_FLAGS:-}
cache=${SHIPGATE_SECURITY_CACHE:-$root/.cache/security}
accept_file=$root/scripts/govulncheck-accept.txt

step() { echo "--- $*"; }

run_staticcheck() {
	local start=$SECONDS
	step "staticcheck $STATICCHECK_VERSION (honnef.co/go/tools; default checks, see staticcheck.conf files if any)"
	local rc=0
	"$GO" run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./... || rc=$?
	if [ "$rc" -eq 0 ]; then
		step "staticcheck: no findings ($((SECONDS - start))s)"
	else
		step "staticcheck: FAILED, findings above ($((SECONDS - start))s)"
	fi
	return "$rc"
}

# build_vulndb sets vulndb_dir to the built DB and snapshot to its description.
build_vulndb() {
	vulndb_dir=$cache/vulndb/$VULNDB_VERSION
	if [ ! -f "$vulndb_dir/index/modules.json" ] || [ ! -f "$vulndb_dir/snapshot.txt" ]; then
		local start=$SECONDS
		step "building the vulnerability DB from golang.org/x/vulndb@$VULNDB_VERSION (once per snapshot)"
		mkdir -p "$cache/vulndb"
		local stage
		stage=$(mktemp -d "$cache/vulndb/.build.XXXXXX")
		# Outside the main module, so its go.mod and go.sum stay untouched.
		local info moddir infofile time reports built
		info=$(cd "$stage" && GOWORK=off "$GO" mod download -json "golang.org/x/vulndb@$VULNDB_VERSION")
		moddir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
		infofile=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",\{0,1\}$/\1/p')
		time=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$infofile")
		if [ ! -d "$moddir/data/osv" ] || [ -z "$time" ]; then
			echo "golang.org/x/vulndb@$VULNDB_VERSION: no data/osv or no commit time in the download" >&2
			printf '%s\n' "$info" >&2
			rm -rf "$stage"
			return 1
		fi
		cp -R "$moddir/data/osv" "$stage/osv"
		chmod -R u+w "$stage/osv"
		find "$stage/osv" -name '*.json' -exec \
			sed -i "s/\"modified\": \"0001-01-01T00:00:00Z\"/\"modified\": \"$time\"/" {} +
		reports=$(find "$stage/osv" -name '*.json' | wc -l)
		(cd "$stage" && GOWORK=off "$GO" run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" \
			-vulns "$stage/osv" -out "$stage/db")
		built=$(find "$stage/db/ID" -name '*.json' | wc -l)
		if [ "$built" -ne "$reports" ] || [ ! -f "$stage/db/index/modules.json" ]; then
			echo "vulnerability DB build: $built entries written for $reports reports" >&2
			rm -rf "$stage"
			return 1
		fi
		echo "golang.org/x/vulndb@$VULNDB_VERSION, committed $time, $reports reports" >"$stage/db/snapshot.txt"
		rm -rf "$vulndb_dir"
		mv "$stage/db" "$vulndb_dir"
		rm -rf "$stage"
		step "vulnerability DB built in $((SECONDS - start))s: $vulndb_dir"
	fi
	snapshot=$(cat "$vulndb_dir/snapshot.txt")
	step "vulnerability DB snapshot: $snapshot"
}

run_govulncheck() {
	build_vulndb
	local start=$SECONDS
	local bin=$cache/bin/govulncheck-$GOVULNCHECK_VERSION
	if [ ! -x "$bin/govulncheck" ]; then
		# Installed rather than `go run` so that its exit code (3: called
		# vulnerabilities found) comes through.
		GOBIN=$bin "$GO" install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
	fi
	step "govulncheck $GOVULNCHECK_VERSION (golang.org/x/vuln) against $snapshot"
	local out=$cache/govulncheck.txt rc=0
	# shellcheck disable=SC2086 # GOVULNCHECK_FLAGS is split on purpose
	"$bin/govulncheck" -db "file://$vulndb_dir" -show version $GOVULNCHECK_FLAGS ./... >"$out" 2>&1 || rc=$?
	cat "$out"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
		step "govulncheck: FAILED to run (exit $rc) ($((SECONDS - start))s)"
		return "$rc"
	fi

	# The called ones: the "Vulnerability #N: ID" blocks of the symbol
	# section, as "ID found-in fixed-in" (a line per affected module).
	local summary called accepted id failed=0
	summary=$(awk '
		/^=== Symbol Results ===/ {s = 1; next}
		/^=== / {s = 0}
		!s {next}
		/^Vulnerability #[0-9]+: / {id = $3; found = "?"; next}
		/^    Found in: / {found = $3; next}
		/^    Fixed in: / {print id, found, $3}
	' "$out")
	called=$(printf '%s\n' "$summary" | awk 'NF {print $1}' | sort -u)
	accepted=$(sed -e 's/#.*//' "$accept_file" 2>/dev/null | awk 'NF {print $1}' | sort -u)
	if sed -e 's/#.*//' "$accept_file" 2>/dev/null | awk 'NF == 1 {bad = 1} END {exit !bad}'; then
		echo "$accept_file: every accepted ID needs a reason on its line" >&2
		return 1
	fi
	if [ "$rc" -eq 3 ] && [ -z "$called" ]; then
		step "govulncheck: exit 3 but no called vulnerability parsed from its output; failing to be safe"
		return 1
	fi
	[ -z "$called" ] || echo "called vulnerabilities (found in -> fixed in):"
	for id in $called; do
		local where
		where=$(printf '%s\n' "$summary" | awk -v id="$id" '$1 == id {printf "%s%s -> %s", sep, $2, $3; sep = "; "}')
		# A here-string, not a pipe: under pipefail, grep -q leaving at its
		# first match can kill the writer with SIGPIPE and fail the test.
		if grep -qxF "$id" <<<"$accepted"; then
			echo "  accepted      $id  $where  ($(grep -E "^[[:space:]]*$id[[:space:]]" "$accept_file" | head -n1 | sed -E "s/^[[:space:]]*$id[[:space:]]+//"))"
		else
			echo "  NOT ACCEPTED  $id  $where"
			failed=$((failed + 1))
		fi
	done
	[ -z "$called" ] || echo "  (each: https://pkg.go.dev/vuln/ID; offline: $vulndb_dir/ID/ID.json)"
	for id in $accepted; do
		if ! grep -qxF "$id" <<<"$called"; then
			echo "note: $id is in $(basename "$accept_file") but no longer found in called code: remove it"
		fi
	done
	if [ "$failed" -gt 0 ]; then
		step "govulncheck: FAILED, $failed vulnerabilities in called code ($((SECONDS - start))s); how to read them: the head of scripts/security-checks.sh"
		return 1
	fi
	step "govulncheck: no unaccepted vulnerability in called code ($((SECONDS - start))s)"
}

what=("$@")
[ ${#what[@]} -gt 0 ] || what=(staticcheck govulncheck)
status=0
for w in "${what[@]}"; do
	case "$w" in
	staticcheck) run_staticcheck || status=1 ;;
	govulncheck) run_govulncheck || status=1 ;;
	vulndb) build_vulndb ;;
	*) echo "usage: $0 [staticcheck|govulncheck|vulndb]..." >&2; exit 2 ;;
	esac
done
exit $status
