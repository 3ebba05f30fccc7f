#!/usr/bin/env bash
# Benchmarks grid_tile against the PostGIS SQL a user would write, on the demo
# data at each scale in $BENCH_SCALES (default "1 100"), in a project-local
# cluster. Prints a Markdown table; see BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
PORT=${GRIDKIT_BENCH_PORT:-54332}
SCALES=${BENCH_SCALES:-1 100}

scripts/setup.sh --test
cargo pgrx install --release --pg-config "$PG_CONFIG" >target/install.log 2>&1 || { cat target/install.log; exit 1; }
scripts/cluster.sh start bench "$PORT"
dir=$(scripts/cluster.sh dir bench)
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$PORT" -U postgres "$@"; }
dsns=()
for scale in $SCALES; do
    db="bench_s${scale//./_}"
    psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
        || psql_ -d postgres -c "CREATE DATABASE $db"
    # Always a fresh extension and demo data: both are deterministic, and
    # this measures exactly the code just built.
    echo "==> demo data at scale $scale" >&2
    psql_ -d "$db" -c "DROP EXTENSION IF EXISTS gridkit CASCADE" -c "CREATE EXTENSION gridkit CASCADE" \
          -c "SELECT * FROM gridkit.demo_generate($scale, 42)" >/dev/null
    dsns+=("$scale=host=$dir port=$PORT user=postgres dbname=$db")
done
"$VENV/bin/python" bench/tiles.py "${dsns[@]}"
