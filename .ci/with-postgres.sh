#!/usr/bin/env bash
# Run a command (`make test`: pytest) with ADVISOR_TEST_POSTGRES_URL set, for the distributed-search tests.
# A URL the caller already exported is used as it is; otherwise a throwaway cluster is started on
# loopback (.ci/postgres.sh, on a free port) and stopped and removed afterwards, also when the
# command fails or is interrupted. When no server can be started, the command still runs and the
# PostgreSQL tests skip, except under CI=true, where that is an error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ -n "${ADVISOR_TEST_POSTGRES_URL:-}" ]; then
  exec "$@"
fi

pgdir=$(mktemp -d /tmp/advisor-pg.XXXXXX)
cleanup() {
  bash "$here/postgres.sh" stop "$pgdir" >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=${PGPORT_TEST:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
if url=$(PGPORT_TEST=$port bash "$here/postgres.sh" start "$pgdir" 2>"$pgdir/start.log"); then
  export ADVISOR_TEST_POSTGRES_URL=$url
else
  cat "$pgdir/start.log" >&2
  if [ "${CI:-}" = true ]; then
    echo "with-postgres: could not start PostgreSQL (output above); CI=true needs it" >&2
    exit 1
  fi
  echo "with-postgres: could not start PostgreSQL (output above); its tests will be skipped" >&2
fi
# Not exec: the trap stops the server once the command is done.
"$@"
