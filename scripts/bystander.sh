#!/usr/bin/env bash
# A PostgreSQL cluster this project did not make, for checking that set-up,
# tests, the demo and `make stop` leave other clusters alone (CI runs one
# through all of them; see .ci/run).
#
#   scripts/bystander.sh start        initdb and start it on $GRIDKIT_BYSTANDER_PORT (25449)
#   scripts/bystander.sh check WHAT   fail unless it still answers (WHAT: what just ran)
#   scripts/bystander.sh stop         stop and delete it
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
port=${GRIDKIT_BYSTANDER_PORT:-25449}
dir=/var/tmp/gridkit-bystander-$port
as_pg() { sudo -u "$PG_USER" "$@"; }

case "${1:?usage: bystander.sh start | check WHAT | stop}" in
start)
    rm -rf "$dir" && mkdir -p "$dir" && chown "$PG_USER" "$dir"
    as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-p $port -k $dir -c listen_addresses=''" start >/dev/null
    "$0" check "its start" ;;
check)
    if [ "$(psql -X -h "$dir" -p "$port" -U postgres -d postgres -tAc 'SELECT 42' 2>/dev/null)" != 42 ]; then
        echo "the bystander cluster on port $port stopped answering after: ${2:-?}" >&2
        exit 1
    fi
    echo "==> the bystander cluster (port $port) still answers after ${2:-?}" ;;
stop)
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir" ;;
*)
    echo "unknown command $1" >&2; exit 2 ;;
esac
