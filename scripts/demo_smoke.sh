#!/usr/bin/env bash
# The README's demo command as a new user runs it, for CI (.ci/run, on the
# fresh checkout CI gets, after `make test`): `make demo` at scale 1, one
# tile and the TileJSON fetched over HTTP and decoded, every command the
# README prints run on the demo data, and `make stop`. Before that, two
# interrupted runs: Ctrl-C during the build and a kill during the data load
# (with the cluster left running); the next `make demo` must recover.
# Meanwhile a PostgreSQL cluster this project did not make (a bystander, on
# its own port, scripts/bystander.sh) must keep running and answering:
# set-up, demo and stop never touch a cluster they did not create.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
HTTP_PORT=${GRIDKIT_HTTP_PORT:-8080}
# The decoders the checks use (done already after make test).
scripts/setup.sh --test

# A cluster of someone else's (CI starts one before the tests; otherwise
# this starts its own).
if [ -z "${GRIDKIT_BYSTANDER_RUNNING:-}" ]; then
    scripts/bystander.sh start
    trap 'scripts/bystander.sh stop' EXIT
fi
bystander_answers() { scripts/bystander.sh check "$1"; }

# Runs `make demo` in its own process group until its output shows $1, waits
# $2 seconds more, then sends $3 to the whole group, as a terminal would.
interrupt_demo() {
    local pattern=$1 delay=$2 signal=$3 log
    log=$(mktemp)
    setsid make demo SCALE=1 >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 600); do
        grep -q "$pattern" "$log" && break
        kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "make demo ended before '$pattern'" >&2; exit 1; }
        sleep 1
    done
    sleep "$delay"
    kill -"$signal" -- -"$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "    interrupted (SIG$signal) $delay s after: $(grep "$pattern" "$log" | head -1)"
    rm -f "$log"
}
echo "==> make demo, interrupted by Ctrl-C during the build"
interrupt_demo "building and installing gridkit" 20 INT
echo "==> make demo, killed during the data load"
interrupt_demo "loading the demo data" 3 KILL
bystander_answers "the interrupted runs"

echo "==> make demo"
make demo SCALE=1
bystander_answers "make demo"

echo "==> a tile and the TileJSON over HTTP"
tile=$(mktemp)
curl -sf -H 'Accept-Encoding: identity' -o "$tile" "http://127.0.0.1:$HTTP_PORT/tiles/pnodes/5/7/12.mvt"
curl -sf -o "$tile.json" "http://127.0.0.1:$HTTP_PORT/tiles/pnodes.json"
"$VENV/bin/python" - "$tile" "$tile.json" <<'PY'
import json, sys
import mapbox_vector_tile
tile = mapbox_vector_tile.decode(open(sys.argv[1], "rb").read())
features = tile["pnodes"]["features"]
assert features, "the demo tile has no pnodes"
tilejson = json.load(open(sys.argv[2]))
assert tilejson["tilejson"] == "3.0.0" and tilejson["tiles"], tilejson
assert [layer["id"] for layer in tilejson["vector_layers"]] == ["pnodes"], tilejson
print(f"    tile: {len(features)} pnodes features; TileJSON: {tilejson['tiles'][0]}")
PY
rm -f "$tile" "$tile.json"

echo "==> every command the README prints, on the demo data"
dir=$(scripts/cluster.sh dir demo)
"$VENV/bin/python" scripts/readme_check.py "host=$dir port=${GRIDKIT_PORT:-25430} user=postgres dbname=gridkit" \
    "http://127.0.0.1:$HTTP_PORT"
bystander_answers "the README's commands"

echo "==> make stop"
make stop
bystander_answers "make stop"
if curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1; then
    echo "gridkit-server still answers after make stop" >&2
    exit 1
fi
echo "==> the demo path works; the bystander cluster kept answering"
