#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on loopback for the distributed-search tests.
# Prints the URL to use; `source`-free: callers do  url=$(bash .ci/postgres.sh start DIR)
# and  bash .ci/postgres.sh stop DIR.
set -euo pipefail
action=${1:?start or stop}
dir=${2:?cluster directory}
port=${PGPORT_TEST:-54329}

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
bin=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)")
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      pwfile=$(mktemp); echo "advisor-test-pw" > "$pwfile"; chmod 644 "$pwfile"
      as_postgres "$bin/initdb" -D "$dir/data" -U advisor --pwfile="$pwfile" -A scram-sha-256 >&2
      rm -f "$pwfile"
    fi
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >&2
    PGPASSWORD=advisor-test-pw "$bin/psql" -h 127.0.0.1 -p "$port" -U advisor -d postgres -qtc \
      "SELECT 1 FROM pg_database WHERE datname='advisor'" | grep -q 1 || \
      PGPASSWORD=advisor-test-pw "$bin/psql" -h 127.0.0.1 -p "$port" -U advisor -d postgres -qc "CREATE DATABASE advisor" >&2
    echo "postgresql://advisor:advisor-test-pw@127.0.0.1:$port/advisor"
    ;;
  stop)
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
    ;;
esac
