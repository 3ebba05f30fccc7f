#!/bin/bash
# Entry point of the gridkit image.
#
#   postgres [ARGS]        (the default) PostgreSQL 15 with gridkit and pg_cron.
#                          On first start, with an empty $PGDATA: a new cluster,
#                          database $GRIDKIT_DB with the extensions, the demo
#                          data at $GRIDKIT_DEMO_SCALE (0: none) and the roles
#                          below; then any /docker-entrypoint-initdb.d/*.sql.
#   gridkit-server [ARGS]  the HTTP layer, as the unprivileged user gridkit_web,
#                          configured by DATABASE_URL and GRIDKIT_* variables.
#   anything else          run as given.
#
# Variables read on first start:
#   POSTGRES_PASSWORD               the superuser postgres's password (required)
#   GRIDKIT_DB                      database to make (gridkit)
#   GRIDKIT_DEMO_SCALE              demo data scale (1)
#   GRIDKIT_WEB_PASSWORD            login role gridkit_web for gridkit-server
#   GRIDKIT_AUTHENTICATOR_PASSWORD  login role authenticator and role web_anon,
#                                   for PostgREST (docs/postgrest.conf)
set -euo pipefail
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

first_start() {
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "gridkit: set POSTGRES_PASSWORD, the password of the superuser postgres" >&2
        exit 1
    fi
    local db=${GRIDKIT_DB:-gridkit} scale=${GRIDKIT_DEMO_SCALE:-1}
    echo "gridkit: first start, making the cluster in $PGDATA"
    local pwfile
    pwfile=$(mktemp)
    printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    as_postgres initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
shared_preload_libraries = 'pg_cron'
cron.database_name = '$db'
CONF
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"

    # Set-up runs on the socket only: no client sees a half-made database.
    as_postgres pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    psql_() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -U postgres "$@"; }
    # SQL on stdin, where psql fills in :'variables' (it does not in -c).
    psql_ -d postgres -v db="$db" <<<'CREATE DATABASE :"db"'
    psql_ -d "$db" <<<'CREATE EXTENSION gridkit CASCADE; CREATE EXTENSION pg_cron;'
    if [ "$scale" != 0 ]; then
        echo "gridkit: loading the demo data (scale $scale)"
        psql_ -d "$db" -v scale="$scale" -tA <<<"SELECT format('gridkit: %s demo tables', count(*)) FROM gridkit.demo_generate(:scale, 42);
            SELECT format('gridkit: %s layers refreshed', count(*)) FROM gridkit.refresh_stale();"
    fi
    if [ -n "${GRIDKIT_WEB_PASSWORD:-}" ]; then
        psql_ -d "$db" -v pw="$GRIDKIT_WEB_PASSWORD" >/dev/null \
            <<<"SELECT gridkit.api_grant('gridkit_web', create_role => true, login => true);
                ALTER ROLE gridkit_web PASSWORD :'pw';"
    fi
    if [ -n "${GRIDKIT_AUTHENTICATOR_PASSWORD:-}" ]; then
        psql_ -d "$db" -v pw="$GRIDKIT_AUTHENTICATOR_PASSWORD" >/dev/null \
            <<<"CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD :'pw';
                SELECT gridkit.api_grant('web_anon', create_role => true);
                GRANT web_anon TO authenticator;"
    fi
    local f
    for f in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "$f" ] || continue
        echo "gridkit: running $f"
        psql_ -d "$db" -f "$f"
    done
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "gridkit: database $db is ready"
}

case "${1:-postgres}" in
postgres)
    [ $# -gt 0 ] && shift
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    [ -s "$PGDATA/PG_VERSION" ] || first_start
    exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" "$@" ;;
gridkit-server)
    shift
    export GRIDKIT_LISTEN=${GRIDKIT_LISTEN:-0.0.0.0:8080}
    export GRIDKIT_WEB_DIR=${GRIDKIT_WEB_DIR:-/usr/share/gridkit/web}
    exec setpriv --reuid=gridkit_web --regid=gridkit_web --init-groups /usr/bin/gridkit-server "$@" ;;
*)
    exec "$@" ;;
esac
