#!/usr/bin/env bash
# Benchmarks gridkit against what a user would otherwise run, on the demo
# data, in a project-local cluster. Prints Markdown tables; see BENCHMARKS.md.
#
#   bench/run.sh [tiles|instructions|cluster|lines|huge|timeseries|rollups|archive|indices|http|replica|citus|all]
#
# tiles:   grid_tile against ST_AsMVT SQL at each scale in $BENCH_SCALES
#          (default "1 100")
# cluster: clustered tiles against snap-to-grid SQL, ST_ClusterDBSCAN and
#          supercluster at $BENCH_CLUSTER_SCALE (default 1000: 1.18M points)
# lines:   generalized line and zone tiles against ST_Simplify /
#          ST_SimplifyPreserveTopology SQL at the same scale
# huge:    one line of 1M-10M vertices, deep and low-zoom tiles against
#          ST_AsMVT SQL, and how soon statement_timeout stops a tile of it
# timeseries: partition retention and late-row moves against DELETE
# rollups: ingest with change-logging triggers against plain COPY; incremental
#          refresh against INSERT ... GROUP BY and REFRESH MATERIALIZED VIEW;
#          latest values against DISTINCT ON; history against GROUP BY
# archive: retention archiving partitions to Parquet against COPY TO binary;
#          archive_restore against COPY FROM of the same rows (demo, scale 1)
# indices: safety_compute over 1.44M minute rows against the same formulas in SQL
# instructions: instructions per small tile (callgrind, single-user backend),
#          grid_tile against ST_AsMVT SQL, at scale 1
# http:    gridkit-server (cached and uncached tiles, wrk) against a bare
#          grid_tile loop in pgbench, at $BENCH_CLUSTER_SCALE
# citus:   single node against a Citus coordinator with two workers (three
#          clusters of their own): LMP ingest, congestion indices, raw tiles
# replica: gridkit-server on a streaming replica against one on its primary
#          (cached and uncached tiles, wrk; commit-to-new-ETag), in two
#          clusters of their own at $BENCH_REPLICA_SCALE (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
PORT=${GRIDKIT_BENCH_PORT:-25432}
SCALES=${BENCH_SCALES:-1 100}
CLUSTER_SCALE=${BENCH_CLUSTER_SCALE:-1000}
what=${1:-all}

scripts/setup.sh --test
cargo pgrx install --release --pg-config "$PG_CONFIG" >target/install.log 2>&1 || { cat target/install.log; exit 1; }
scripts/cluster.sh start bench "$PORT"
dir=$(scripts/cluster.sh dir bench)
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$PORT" -U postgres "$@"; }

# A database with a fresh extension and demo data at scale $1: both are
# deterministic, and this measures exactly the code just built.
demo_db() {
    local scale=$1 db="bench_s${1//./_}"
    psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
        || psql_ -d postgres -c "CREATE DATABASE $db"
    echo "==> demo data at scale $scale" >&2
    psql_ -d "$db" -c "DROP EXTENSION IF EXISTS gridkit CASCADE" -c "CREATE EXTENSION gridkit CASCADE" \
          -c "SELECT * FROM gridkit.demo_generate($scale, 42)" >/dev/null
    echo "host=$dir port=$PORT user=postgres dbname=$db"
}

if [ "$what" = tiles ] || [ "$what" = all ]; then
    dsns=()
    for scale in $SCALES; do
        dsns+=("$scale=$(demo_db "$scale")")
    done
    "$VENV/bin/python" bench/tiles.py "${dsns[@]}"
fi

if [ "$what" = instructions ] || [ "$what" = all ]; then
    command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
    "$VENV/bin/python" bench/instructions.py register "$(demo_db 1)"
    # A single-user backend needs the cluster stopped.
    scripts/cluster.sh stop bench
    "$VENV/bin/python" bench/instructions.py count "$dir/data" bench_s1
    scripts/cluster.sh start bench "$PORT"
fi

if [ "$what" = cluster ] || [ "$what" = all ]; then
    if ! command -v node >/dev/null; then
        apt-get install -y -qq nodejs npm >/dev/null
    fi
    [ -d bench/supercluster/node_modules/supercluster ] || (cd bench/supercluster && npm ci --no-audit --no-fund -q)
    "$VENV/bin/python" bench/cluster.py "$(demo_db "$CLUSTER_SCALE")"
fi

if [ "$what" = lines ] || [ "$what" = all ]; then
    "$VENV/bin/python" bench/lines.py "$(demo_db "$CLUSTER_SCALE")"
fi

if [ "$what" = huge ] || [ "$what" = all ]; then
    "$VENV/bin/python" bench/huge.py "$(demo_db 1)"
fi

if [ "$what" = archive ] || [ "$what" = all ]; then
    "$VENV/bin/python" bench/archive.py "$(demo_db 1)"
fi

if [ "$what" = timeseries ] || [ "$what" = all ]; then
    "$VENV/bin/python" bench/timeseries.py "$(demo_db 1)"
fi
if [ "$what" = rollups ] || [ "$what" = all ]; then
    "$VENV/bin/python" bench/rollups.py "$(demo_db 1)"
fi
if [ "$what" = indices ] || [ "$what" = all ]; then
    "$VENV/bin/python" bench/indices.py "$(demo_db 1)"
fi
if [ "$what" = http ] || [ "$what" = all ]; then
    command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
    cargo build -q --release -p gridkit-server
    "$VENV/bin/python" bench/http_load.py "$(demo_db "$CLUSTER_SCALE")"
fi
if [ "$what" = replica ] || [ "$what" = all ]; then
    command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
    cargo build -q --release -p gridkit-server
    rport=$((PORT + 11))
    scripts/cluster.sh wipe bench_standby
    scripts/cluster.sh start bench_primary "$rport"
    pdir=$(scripts/cluster.sh dir bench_primary)
    psql -X -q -h "$pdir" -p "$rport" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'gridkit'" |
        grep -q 1 || psql -X -q -h "$pdir" -p "$rport" -U postgres -d postgres -c "CREATE DATABASE gridkit"
    echo "==> demo data at scale ${BENCH_REPLICA_SCALE:-100} on the primary" >&2
    psql -X -q -v ON_ERROR_STOP=1 -h "$pdir" -p "$rport" -U postgres -d gridkit \
        -c "DROP EXTENSION IF EXISTS gridkit CASCADE" -c "CREATE EXTENSION gridkit CASCADE" \
        -c "SELECT * FROM gridkit.demo_generate(${BENCH_REPLICA_SCALE:-100}, 42)" >/dev/null
    scripts/cluster.sh standby bench_standby $((rport + 1)) bench_primary
    "$VENV/bin/python" bench/replica.py "host=$pdir port=$rport user=postgres dbname=gridkit" \
        "host=$(scripts/cluster.sh dir bench_standby) port=$((rport + 1)) user=postgres dbname=gridkit"
    scripts/cluster.sh wipe bench_standby
    scripts/cluster.sh stop bench_primary
fi
if [ "$what" = citus ] || [ "$what" = all ]; then
    scripts/citus.sh
    cport=$((PORT + 38))
    for n in 0 1 2; do
        scripts/cluster.sh wipe "bench_citus$n"
        GRIDKIT_PRELOAD=citus,pg_cron scripts/cluster.sh start "bench_citus$n" $((cport + n))
        cdir=$(scripts/cluster.sh dir "bench_citus$n")
        psql -X -q -h "$cdir" -p $((cport + n)) -U postgres -d postgres -c "CREATE DATABASE gridkit"
        psql -X -q -h "$cdir" -p $((cport + n)) -U postgres -d gridkit -c "CREATE EXTENSION citus"
    done
    cdir=$(scripts/cluster.sh dir bench_citus0)
    echo "==> demo data at scale 100 on the Citus coordinator" >&2
    psql -X -q -v ON_ERROR_STOP=1 -h "$cdir" -p "$cport" -U postgres -d gridkit \
        -c "SELECT citus_set_coordinator_host('localhost', $cport)" \
        -c "SELECT citus_add_node('localhost', $((cport + 1)))" -c "SELECT citus_add_node('localhost', $((cport + 2)))" \
        -c "CREATE EXTENSION gridkit CASCADE" -c "SELECT * FROM gridkit.demo_generate(100, 42)" >/dev/null
    "$VENV/bin/python" bench/citus.py "host=$cdir port=$cport user=postgres dbname=gridkit"
    for n in 2 1 0; do scripts/cluster.sh wipe "bench_citus$n"; done
fi
