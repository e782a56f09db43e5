#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server on loopback, its URL in
# SHIPGATE_TEST_POSTGRES_URL. Installs Debian's postgresql package when the
# server binaries are missing (needs root), starts a fresh cluster in a temp
# directory as the postgres user, and removes it afterwards.
#
#   scripts/with-postgres.sh go test ./...
set -euo pipefail

if [[ -n "${SHIPGATE_TEST_POSTGRES_URL:-}" ]]; then
	exec "$@" # a server is already provided
fi

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [[ -z "$(pgbin)" ]]; then
	echo "with-postgres: installing postgresql from Debian's packages" >&2
	if [[ $(id -u) -ne 0 ]]; then
		echo "with-postgres: PostgreSQL is missing and installing it needs root" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bin="$(pgbin)"

run_as_postgres() {
	if [[ $(id -u) -eq 0 ]]; then
		su postgres -s /bin/bash -c "$*"
	else
		bash -c "$*"
	fi
}

dir="$(mktemp -d /tmp/shipgate-pg.XXXXXX)"
chmod 755 "$dir"
[[ $(id -u) -eq 0 ]] && chown postgres "$dir"
port=$(( 20000 + RANDOM % 20000 ))
cleanup() {
	run_as_postgres "'$bin/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT

run_as_postgres "'$bin/initdb' -D '$dir/data' -U postgres --auth=trust -E UTF8 --no-instructions" >/dev/null
run_as_postgres "'$bin/pg_ctl' -D '$dir/data' -l '$dir/log' -w -t 60 \
	-o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir' -c fsync=on -c max_connections=200\" start" >/dev/null
run_as_postgres "'$bin/createdb' -h 127.0.0.1 -p $port -U postgres shipgate_test"

export SHIPGATE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/shipgate_test?sslmode=disable"
export SHIPGATE_TEST_POSTGRES_BIN="$bin"
export SHIPGATE_TEST_POSTGRES_DATA="$dir/data"
echo "with-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
set -e
exit $status
