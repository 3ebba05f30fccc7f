#!/usr/bin/env bash
# Sets everything up and runs gridkit on the demo data: installs what the
# machine lacks, builds and installs the extension, starts a project-local
# PostgreSQL (port $GRIDKIT_PORT), creates the extension, loads the demo
# data at $SCALE and serves the map with gridkit-server (port
# $GRIDKIT_HTTP_PORT). Re-running skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
SCALE=${SCALE:-1}
SEED=${SEED:-42}
PORT=${GRIDKIT_PORT:-25430}
HTTP_PORT=${GRIDKIT_HTTP_PORT:-8080}

scripts/setup.sh

echo "==> building and installing gridkit (release)"
mkdir -p target
cargo pgrx install --release --pg-config "$PG_CONFIG" >target/install.log 2>&1 || { cat target/install.log; exit 1; }
echo "==> building gridkit-server (release)"
cargo build -q --release -p gridkit-server

scripts/cluster.sh start demo "$PORT"
dir=$(scripts/cluster.sh dir demo)
# NOTICEs (what a DROP cascades to, say) would bury what the demo prints.
psql_() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$PORT" -U postgres "$@"; }

psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'gridkit'" | grep -q 1 \
    || psql_ -d postgres -c "CREATE DATABASE gridkit"

# The extension's SQL can change without a version bump while we develop;
# when the installed script differs from the one this database was built
# with, rebuild the extension (the demo data is regenerated below).
sql_file="$("$PG_CONFIG" --sharedir)/extension/gridkit--$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1).sql"
sql_sum=$(sha256sum "$sql_file" | cut -c1-16)
if [ "$(cat "$dir/gridkit.sql.sum" 2>/dev/null)" != "$sql_sum" ]; then
    psql_ -d gridkit -c "DROP EXTENSION IF EXISTS gridkit CASCADE"
    rm -f "$dir/demo.done"
fi
psql_ -d gridkit -c "CREATE EXTENSION IF NOT EXISTS gridkit CASCADE" -c "CREATE EXTENSION IF NOT EXISTS pg_cron"
echo "$sql_sum" >"$dir/gridkit.sql.sum"

if [ "$(cat "$dir/demo.done" 2>/dev/null)" != "$SCALE $SEED $sql_sum" ]; then
    echo "==> loading the demo data (scale $SCALE, seed $SEED)"
    psql_ -d gridkit -c "SELECT * FROM gridkit.demo_generate($SCALE, $SEED)"
    # Cluster pyramids for the clustered layers (the rest is built already).
    psql_ -d gridkit -c "SELECT * FROM gridkit.refresh_stale()"
    echo "$SCALE $SEED $sql_sum" >"$dir/demo.done"
fi

# The server's role may call the api schema and nothing else, read-only.
psql_ -d gridkit -c "SELECT gridkit.api_grant('gridkit_web', create_role => true, login => true)" >/dev/null

scripts/server.sh start "host=$dir port=$PORT user=gridkit_web dbname=gridkit" "$HTTP_PORT"

cat <<MSG

gridkit is running on the demo data (scale $SCALE).
  map:      http://127.0.0.1:$HTTP_PORT/
  a tile:   curl -s http://127.0.0.1:$HTTP_PORT/tiles/pnodes/5/9/12.mvt | wc -c
  TileJSON: http://127.0.0.1:$HTTP_PORT/tiles/pnodes.json
  nearby:   curl -s 'http://127.0.0.1:$HTTP_PORT/api/layers/pnodes/nearby?lon=-87.63&lat=41.88&radius_m=50000&limit=3'
  metrics:  http://127.0.0.1:$HTTP_PORT/metrics
  psql:     psql -h $dir -p $PORT -U postgres gridkit
  layers:   SELECT name, geometry_type, attributes FROM gridkit.layers;
  a tile:   SELECT length(grid_tile('pnodes', 5, 9, 12));
  to file:  psql -h $dir -p $PORT -U postgres gridkit -XAtc "SELECT encode(grid_tile('pnodes', 5, 9, 12), 'base64')" | base64 -d > pnodes-5-9-12.mvt
  stop:     make stop
MSG
