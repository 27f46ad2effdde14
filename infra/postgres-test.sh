#!/usr/bin/env bash
# A throwaway local PostgreSQL for the event-log tests: installs PostgreSQL (apt-get) if missing, starts a private
# cluster on 127.0.0.1 in a temp dir (trust auth, fsync off: test data only), creates the database and prints the
# SQLAlchemy URL on stdout (everything else goes to stderr). Idempotent: when the cluster is already up it only
# prints the URL.
#
#   export RAGREC_TEST_POSTGRES_URL="$(infra/postgres-test.sh)"   # start (or reuse) and get the URL
#   infra/postgres-test.sh stop                                   # stop the cluster (its files stay for reuse)
#
# Settings (environment): RAGREC_PG_DIR [/tmp/ragrec-pg], RAGREC_PG_PORT [55432], RAGREC_PG_DB [ragrec_test].
set -euo pipefail

dir="${RAGREC_PG_DIR:-/tmp/ragrec-pg}"
port="${RAGREC_PG_PORT:-55432}"
db="${RAGREC_PG_DB:-ragrec_test}"
url="postgresql+psycopg://postgres@127.0.0.1:${port}/${db}"

say() { echo "postgres-test: $*" >&2; }

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

bin="$(bindir)"
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
    if [[ "$(id -u)" != 0 ]]; then
        say "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
        exit 1
    fi
    say "installing PostgreSQL (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    bin="$(bindir)"
fi

# The server refuses to run as root: run it as the `postgres` system user then, else as whoever runs this script.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

psql_() { "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

if [[ "${1:-}" == "stop" ]]; then
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    else
        say "not running"
    fi
    exit 0
fi

if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    mkdir -p "$dir"
    [[ "$(id -u)" == 0 ]] && chown postgres: "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        say "creating a cluster in $dir/data"
        as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
    fi
    say "starting PostgreSQL on 127.0.0.1:$port (log: $dir/server.log)"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2
fi

if [[ "$(psql_ -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]]; then
    psql_ -d postgres -c "CREATE DATABASE \"$db\"" >&2
fi
echo "$url"
