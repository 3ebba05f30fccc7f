#!/usr/bin/env bash
# End-to-end suites against the installed extension, in a fresh cluster:
#   regress/  SQL behaviour and error codes (pg_regress, expected output),
#             then again under other session settings (same outcomes)
#   tiles/    tiles decoded by mapbox-vector-tile and compared with PostGIS
#             ST_AsMVT; geometry checked with shapely (pytest)
#   archive/  the cold tier: partitions archived to Parquet and read back
#             with pyarrow, restored, re-materialized, backends killed
#             between the steps (its own database: the kills restart every
#             backend)
#   martin/   Martin 1.14 serving layers through gridkit.publish_function's
#             function sources, tiles equal to grid_tile's
#   http/     gridkit-server on the same database: tiles, caching, JSON,
#             errors, fuzz, load, a database restart, and the map page in
#             headless Chromium (pytest + web/test/map.test.mjs); after the
#             other suites on this cluster, as it restarts it
#   replica/  a primary and a streaming replica of it (clusters of their
#             own): reads equal, writes refused with 25006, the replica's
#             server caching and following replayed changes
#   citus/    a Citus coordinator and two workers (clusters of their own):
#             layers on distributed and reference tables against the same
#             layers on local tables (scripts/citus.sh builds Citus; set
#             GRIDKIT_SKIP_CITUS=1 to leave this suite out)
# Set KEEP_CLUSTER=1 to leave the cluster running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
PORT=${GRIDKIT_TEST_PORT:-25431}

scripts/cluster.sh wipe test
scripts/cluster.sh start test "$PORT"
dir=$(scripts/cluster.sh dir test)
[ -n "${KEEP_CLUSTER:-}" ] || trap 'scripts/cluster.sh stop test' EXIT
psql -X -q -h "$dir" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE gridkit_regress" -c "CREATE DATABASE gridkit_tiles"

echo "==> pg_regress"
tests=$(cd pgrx-tests/regress/sql && ls *.sql | sed 's/\.sql$//' | sort)
out=target/regress
rm -rf "$out" && mkdir -p "$out"
if ! "$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress" \
        --use-existing --host="$dir" --port="$PORT" --user=postgres --dbname=gridkit_regress \
        --inputdir=pgrx-tests/regress --outputdir="$out" $tests; then
    cat "$out/regression.diffs"
    exit 1
fi

# Each file alone, in a database holding only what 00_setup makes: a file
# needs nothing an earlier one left (as pg_graphql's tests, each on the
# shared fixtures), so any one can be run and read by itself.
echo "==> each pg_regress file alone, on 00_setup's fixtures"
out_alone=target/regress_alone
rm -rf "$out_alone" && mkdir -p "$out_alone"
for t in $tests; do
    [ "$t" = 00_setup ] && continue
    db="gridkit_alone_$t"
    psql -X -q -h "$dir" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $db"
    psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$PORT" -U postgres -d "$db" \
        -f pgrx-tests/regress/sql/00_setup.sql >"$out_alone/$t.setup.log" 2>&1 || { cat "$out_alone/$t.setup.log"; exit 1; }
    if ! "$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress" \
            --use-existing --host="$dir" --port="$PORT" --user=postgres --dbname="$db" \
            --inputdir=pgrx-tests/regress --outputdir="$out_alone/$t" "$t" >"$out_alone/$t.log" 2>&1; then
        echo "$t fails when run alone:"
        cat "$out_alone/$t/regression.diffs"
        exit 1
    fi
    psql -X -q -h "$dir" -p "$PORT" -U postgres -d postgres -c "DROP DATABASE $db"
done
echo "$(($(echo $tests | wc -w) - 1)) files pass alone"

# The same suite once more in sessions whose settings differ from the
# defaults in every way gridkit's SQL could depend on. Printed values
# change with them (dates, times), so what must match is the outcome: the
# same statements fail, with the same SQLSTATEs.
echo "==> pg_regress under standard_conforming_strings = off, DateStyle Postgres/DMY, TimeZone Asia/Kolkata, another search_path"
psql -X -q -h "$dir" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE gridkit_regress_settings"
out_settings=target/regress_settings
rm -rf "$out_settings" && mkdir -p "$out_settings"
PGOPTIONS="-c standard_conforming_strings=off -c DateStyle=Postgres,DMY -c TimeZone=Asia/Kolkata -c search_path=public,pg_temp,pg_catalog" \
    "$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress" \
        --use-existing --host="$dir" --port="$PORT" --user=postgres --dbname=gridkit_regress_settings \
        --inputdir=pgrx-tests/regress --outputdir="$out_settings" $tests >"$out_settings/pg_regress.log" 2>&1 || true
# Error lines and the SQLSTATEs the tests echo (five characters, a digit among them).
outcomes() {
    grep -E '^ERROR:|^[0-9A-Z]{5}$|^(server closed|connection to server was lost)' "$1" | grep -v -E '^[A-Z]{5}$' |
        sed 's/^ERROR:.*/ERROR/'
}
for t in $tests; do
    if ! diff -u <(outcomes "pgrx-tests/regress/expected/$t.out") <(outcomes "$out_settings/results/$t.out") \
            >"$out_settings/$t.outcomes.diff"; then
        echo "$t: other errors under the changed session settings:"
        cat "$out_settings/$t.outcomes.diff"
        exit 1
    fi
done

echo "==> tile comparison"
GRIDKIT_DSN="host=$dir port=$PORT user=postgres dbname=gridkit_tiles" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider pgrx-tests/tiles

echo "==> cold tier: archives read by pyarrow, restores, crashes"
psql -X -q -h "$dir" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE gridkit_archive"
GRIDKIT_DSN="host=$dir port=$PORT user=postgres dbname=gridkit_archive" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider pgrx-tests/archive

echo "==> Martin serving gridkit layers through function sources"
if [ -n "${GRIDKIT_SKIP_MARTIN:-}" ]; then
    echo "skipped: GRIDKIT_SKIP_MARTIN is set"
else
    GRIDKIT_DSN="host=$dir port=$PORT user=postgres dbname=gridkit_tiles" GRIDKIT_MARTIN="$MARTIN" \
        "$VENV/bin/python" -m pytest -q -p no:cacheprovider pgrx-tests/martin
fi

echo "==> HTTP server and map page"
GRIDKIT_DSN="host=$dir port=$PORT user=postgres dbname=gridkit_tiles" GRIDKIT_CLUSTER=test \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider pgrx-tests/http

echo "==> streaming replica"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider pgrx-tests/replica

echo "==> Citus: a coordinator and two workers"
if [ -n "${GRIDKIT_SKIP_CITUS:-}" ]; then
    echo "skipped: GRIDKIT_SKIP_CITUS is set"
elif ! scripts/citus.sh check; then
    echo "Citus is not installed: scripts/setup.sh --test builds it from ../shared/vendor" \
         "(or set GRIDKIT_SKIP_CITUS=1 to leave this suite out)" >&2
    exit 1
else
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider pgrx-tests/citus
fi
