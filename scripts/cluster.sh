#!/usr/bin/env bash
# A project-local PostgreSQL 15 cluster, run by $PG_USER (PostgreSQL refuses
# to run as root), with its own data directory, port and socket directory.
#
#   scripts/cluster.sh start NAME PORT   create if needed, start if stopped
#   scripts/cluster.sh standby NAME PORT PRIMARY
#                                        a streaming replica of the running
#                                        cluster PRIMARY (pg_basebackup -R),
#                                        hot standby, started
#   scripts/cluster.sh stop NAME         stop if running
#   scripts/cluster.sh restart NAME      restart a running cluster (fast shutdown)
#   scripts/cluster.sh wipe NAME         stop and delete
#   scripts/cluster.sh dir NAME          print the cluster's directory
#
# The cluster lives in .local/NAME, or under /var/tmp when $PG_USER cannot
# reach the checkout (for example a clone under /root). A new cluster
# preloads $GRIDKIT_PRELOAD (default pg_cron; the Citus suite uses
# "citus,pg_cron": Citus must come first).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

state_dir() {
    local name=$1
    if sudo -u "$PG_USER" test -x "$PWD" 2>/dev/null; then
        echo "$PWD/.local/$name"
    else
        echo "/var/tmp/gridkit-$(echo "$PWD" | md5sum | cut -c1-8)/$name"
    fi
}

as_pg() { sudo -u "$PG_USER" "$@"; }

# Whether something accepts connections on a local TCP port.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd=${1:?usage: cluster.sh start|standby|stop|restart|wipe|dir NAME [PORT [PRIMARY]]}
name=${2:?cluster name}
dir=$(state_dir "$name")

case "$cmd" in
dir)
    echo "$dir" ;;
start)
    port=${3:?port}
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        mkdir -p "$dir"
        chown "$PG_USER" "$dir" "$(dirname "$dir")" 2>/dev/null || true
        # Made aside and moved in place when complete, so a set-up killed
        # half-way leaves no half-made cluster behind.
        rm -rf "$dir/data.new"
        as_pg "$PG_BIN/initdb" -D "$dir/data.new" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
        as_pg tee -a "$dir/data.new/postgresql.conf" >/dev/null <<CONF
# gridkit project-local cluster
port = $port
listen_addresses = 'localhost'
unix_socket_directories = '$dir'
shared_preload_libraries = '${GRIDKIT_PRELOAD:-pg_cron}'
cron.database_name = 'gridkit'
max_worker_processes = 16
shared_buffers = 512MB
work_mem = 32MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
checkpoint_timeout = 30min
CONF
        mv "$dir/data.new" "$dir/data"
    fi
    # Retention archives partitions here (gridkit.archive_directory; a
    # cluster made before archives existed gets it too).
    as_pg mkdir -p -m 700 "$dir/archive"
    if ! grep -q "^gridkit.archive_directory" "$dir/data/postgresql.conf"; then
        echo "gridkit.archive_directory = '$dir/archive'" | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
    fi
    if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        if port_taken "$port"; then
            echo "port $port is in use by another program, so gridkit's '$name' cluster cannot start there;" >&2
            echo "choose another port: GRIDKIT_PORT for make demo, GRIDKIT_TEST_PORT for make test," \
                 "GRIDKIT_REPLICA_PORT and GRIDKIT_CITUS_PORT for its replica and Citus suites (e.g. GRIDKIT_PORT=25530 make demo)" >&2
            exit 1
        fi
        as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null
    fi ;;
standby)
    port=${3:?port}
    primary=${4:?primary cluster name}
    pdir=$(state_dir "$primary")
    pport=$(sed -n "s/^port = \([0-9]*\)$/\1/p" "$pdir/data/postgresql.conf" | tail -1)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        mkdir -p "$dir"
        chown "$PG_USER" "$dir" "$(dirname "$dir")" 2>/dev/null || true
        rm -rf "$dir/data.new"
        # -R writes standby.signal and primary_conninfo; -X stream copies the
        # WAL made during the copy, so the replica starts consistent.
        as_pg "$PG_BIN/pg_basebackup" -h "$pdir" -p "$pport" -U postgres -D "$dir/data.new" -R -X stream -c fast
        as_pg tee -a "$dir/data.new/postgresql.conf" >/dev/null <<CONF
# gridkit project-local streaming replica of '$primary'
port = $port
unix_socket_directories = '$dir'
hot_standby = on
hot_standby_feedback = on
CONF
        mv "$dir/data.new" "$dir/data"
    fi
    if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        if port_taken "$port"; then
            echo "port $port is in use by another program, so gridkit's '$name' replica cannot start there;" >&2
            echo "choose another port: GRIDKIT_REPLICA_PORT for make test's replica suite" >&2
            exit 1
        fi
        as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null
    fi ;;
stop)
    if [ -f "$dir/data/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi ;;
restart)
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null ;;
wipe)
    "$0" stop "$name"
    rm -rf "$dir" ;;
*)
    echo "unknown command $cmd" >&2; exit 2 ;;
esac
