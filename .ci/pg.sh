#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL server for the tests, on a local port, data under /tmp.
# CRM_PG_PORT / CRM_PG_DATA pick the port and data directory (`make pytest` passes fresh ones).
# The server runs with fsync, synchronous_commit and full_page_writes off (a test server: a power
# loss may lose or corrupt it, and nothing it holds matters). CRM_PG_DURABLE=1 starts it with
# PostgreSQL's default, durable settings instead (fsync, synchronous_commit and full_page_writes
# on: a commit returns after its WAL is flushed), e.g. to measure what production would pay:
#   CRM_PG_DURABLE=1 CRM_PG_PORT=55433 CRM_PG_DATA=/tmp/crm-pg-durable .ci/pg.sh start
# The settings are given when the server starts: a server already running keeps its own.
#   .ci/pg.sh start   -> prints the URL to use as CRM_TEST_POSTGRES_URL
#   .ci/pg.sh stop
# Installs Debian's postgresql package when no server binaries are found.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${CRM_PG_PORT:-55432}"
# outside the checkout: when run as root the server runs as 'postgres', which may not be able to
# enter the checkout's parents (a clone under /root, say)
DATA="${CRM_PG_DATA:-${TMPDIR:-/tmp}/crm-pg-$PORT}"

find_bin() {
  for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
}

BIN="$(find_bin || true)"
if [ -z "$BIN" ] && [ "${1:-}" = start ]; then
  echo "installing PostgreSQL from Debian's packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN="$(find_bin)"
fi

# The server refuses to run as root: run it as the 'postgres' user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
    chown -R postgres "$DATA" 2>/dev/null || true
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${CRM_PG_DURABLE:-0}" = 1 ]; then
  SETTINGS=""
else
  SETTINGS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi

case "${1:-}" in
  start)
    if [ ! -f "$DATA/PG_VERSION" ]; then
      mkdir -p "$DATA"
      [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system postgres; chown postgres "$DATA"; }
      as_pg "$BIN/initdb" -D "$DATA" -U crm --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
        -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 $SETTINGS" start >/dev/null
    fi
    "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U crm -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='crm_test'" | grep -q 1 \
      || "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U crm crm_test
    echo "postgresql+psycopg://crm@127.0.0.1:$PORT/crm_test"
    ;;
  stop)
    [ -n "$BIN" ] && [ -f "$DATA/PG_VERSION" ] && as_pg "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
