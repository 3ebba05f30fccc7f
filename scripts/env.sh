# Settings shared by the scripts. Each can be overridden from the environment.
PGRX_VERSION=0.18.1
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
# PostgreSQL refuses to run as root; clusters run as this user.
PG_USER=${PG_USER:-postgres}
VENV=${VENV:-$PWD/target/py}
# Martin, the peer tile server of the function-source suite and benchmarks.
MARTIN_VERSION=1.14.0
MARTIN=${GRIDKIT_MARTIN:-$HOME/.cache/gridkit/martin/bin/martin}
