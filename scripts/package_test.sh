#!/usr/bin/env bash
# Tests what a user installs instead of a clone (run by .ci/run):
#
# 1. The Debian package: in a fresh Debian bookworm container, `apt-get
#    install ./gridkit_*.deb` pulls PostgreSQL 15 and PostGIS from the
#    mirror; then Debian's own cluster, CREATE EXTENSION gridkit CASCADE and a
#    tile; the systemd unit passes `systemd-analyze verify`, and gridkit-server
#    started the way the unit says (its User, EnvironmentFile and ExecStart,
#    peer authentication over the socket) serves a tile.
# 2. The image and compose.yaml: the database (demo data on first start) and
#    gridkit-server come up under podman-compose; a tile and the TileJSON
#    fetched over HTTP decode; the PostgREST roles work at the SQL level;
#    the data survives a restart. PostgREST's own image needs a registry,
#    which this machine cannot reach: that service is left out here.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/packaging/container/containers.conf}
scripts/setup.sh --test --containers
image=$(scripts/image.sh)
deb=$(ls target/deb/gridkit_*.deb)
project=gridkit_pkgtest
db_port=${PKGTEST_DB_PORT:-25452}
http_port=${PKGTEST_HTTP_PORT:-25453}

cleanup() {
    podman rm -f "${project}_deb" >/dev/null 2>&1 || true
    GRIDKIT_DB_PORT=$db_port GRIDKIT_HTTP_PORT=$http_port \
        podman-compose -p "$project" down -v >/dev/null 2>&1 || true
    podman network rm -f "${project}_default" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

echo "==> the .deb on a fresh Debian: apt-get install ./$(basename "$deb")"
podman run --name "${project}_deb" --rm -v "$PWD/target/deb:/deb:ro" localhost/debian:bookworm bash -euo pipefail -c '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    cd /deb && apt-get install -y -qq --no-install-recommends ./gridkit_*.deb systemd curl >/tmp/apt.log 2>&1 \
        || { cat /tmp/apt.log; exit 1; }
    dpkg-query -W -f="    installed \${Package} \${Version}; depends: \${Depends}\n" gridkit
    test "$(getent passwd gridkit_web | cut -d: -f7)" = /usr/sbin/nologin
    # Debian made its default cluster while installing postgresql-15; no init runs here.
    pg_ctlcluster 15 main start
    su postgres -c "psql -X -q -v ON_ERROR_STOP=1" >/dev/null 2>/tmp/psql.log <<SQL || { cat /tmp/psql.log; exit 1; }
CREATE DATABASE gridkit;
\c gridkit
CREATE EXTENSION gridkit CASCADE;
CREATE TABLE public.plants (id int PRIMARY KEY, name text, geom geometry(Point, 4326));
INSERT INTO public.plants SELECT i, '"'"'plant '"'"' || i, ST_SetSRID(ST_MakePoint(-90 + i * 0.01, 35), 4326)
  FROM generate_series(1, 50) i;
SELECT gridkit.layer_register('"'"'plants'"'"', '"'"'public.plants'"'"');
SELECT gridkit.api_grant('"'"'gridkit_web'"'"', create_role => true, login => true);
SQL
    bytes=$(su postgres -c "psql -XAt -d gridkit -c \"SELECT length(grid_tile('"'"'plants'"'"', 5, 7, 12))\"")
    test "$bytes" -gt 0
    echo "    CREATE EXTENSION gridkit CASCADE: a tile of $bytes bytes"

    unit=/lib/systemd/system/gridkit-server.service
    systemd-analyze verify "$unit"
    echo "    systemd-analyze verify: ok"
    # Start it as the unit would: its user, its environment file, its command.
    user=$(sed -n "s/^User=//p" "$unit")
    exec_start=$(sed -n "s/^ExecStart=//p" "$unit")
    env_file=$(sed -n "s/^EnvironmentFile=//p" "$unit")
    test "$user" = gridkit_web
    (set -a; . "$env_file"; exec setpriv --reuid="$user" --regid="$user" --init-groups $exec_start) >/tmp/server.log 2>&1 &
    for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/health >/dev/null && break; sleep 0.1; done
    test "$(stat -c %U /proc/$!)" = gridkit_web
    curl -sf -o /tmp/t.mvt http://127.0.0.1:8080/tiles/plants/5/7/12.mvt || { cat /tmp/server.log; exit 1; }
    curl -sf http://127.0.0.1:8080/ | grep -q maplibre-gl.js
    curl -sf -o /dev/null http://127.0.0.1:8080/vendor/maplibre-gl/maplibre-gl.js
    echo "    gridkit-server as $user (peer authentication): a tile of $(stat -c %s /tmp/t.mvt) bytes, the map page"
    kill %1
    apt-get remove -y -qq gridkit >/dev/null 2>&1
    test ! -e /usr/lib/postgresql/15/lib/gridkit.so
    echo "    apt-get remove gridkit: files gone"
'

echo "==> $image under podman-compose (database, gridkit-server)"
export GRIDKIT_DB_PORT=$db_port GRIDKIT_HTTP_PORT=$http_port GRIDKIT_PUBLIC_URL=http://127.0.0.1:$http_port
podman-compose -p "$project" up -d db server >/dev/null 2>&1
wait_for_tiles() {
    for _ in $(seq 300); do
        curl -sf -o /dev/null "http://127.0.0.1:$http_port/tiles/pnodes/5/7/12.mvt" && return 0
        sleep 1
    done
    podman logs "${project}_db_1" | tail -20 >&2
    podman logs "${project}_server_1" | tail -20 >&2
    echo "no tile from the compose services after 300 s" >&2
    return 1
}
wait_for_tiles
check_http() {
    local tile
    tile=$(mktemp)
    curl -sf -H 'Accept-Encoding: identity' -o "$tile" "http://127.0.0.1:$http_port/tiles/pnodes/5/7/12.mvt"
    curl -sf -o "$tile.json" "http://127.0.0.1:$http_port/tiles/pnodes.json"
    "$VENV/bin/python" - "$tile" "$tile.json" "$http_port" <<'PY'
import json, sys
import mapbox_vector_tile
features = mapbox_vector_tile.decode(open(sys.argv[1], "rb").read())["pnodes"]["features"]
assert features, "no pnodes in the tile"
tilejson = json.load(open(sys.argv[2]))
assert tilejson["tiles"] == [f"http://127.0.0.1:{sys.argv[3]}/tiles/pnodes/{{z}}/{{x}}/{{y}}.mvt"], tilejson
print(f"    tile: {len(features)} pnodes features; TileJSON: {tilejson['tiles'][0]}")
PY
    rm -f "$tile" "$tile.json"
}
check_http
db_psql() { PGPASSWORD=$1 psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$db_port" -U "$2" gridkit -c "$3"; }
# PostgREST connects as authenticator and switches to web_anon for each request.
bytes=$(db_psql secret authenticator "SET ROLE web_anon; SELECT length(api.tile('pnodes', 5, 7, 12))")
test "$bytes" -gt 0
echo "    PostgREST's roles: authenticator as web_anon gets a tile of $bytes bytes"
test "$(db_psql gridkit postgres "SELECT count(*) FROM pg_extension WHERE extname IN ('gridkit', 'pg_cron', 'postgis')")" = 3

echo "==> restart: the data stays"
podman restart "${project}_db_1" >/dev/null 2>&1
wait_for_tiles
check_http
podman logs "${project}_db_1" 2>&1 | grep -c "first start" | grep -qx 1
echo "package and container tests passed"
