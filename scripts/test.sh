#!/usr/bin/env bash
# Runs every test: the algorithm and server crates, the #[pg_test]s (in a
# cluster run by $PG_USER), then the end-to-end suites in pgrx-tests/ against
# the installed extension (SQL, tiles, HTTP and the map page in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

scripts/setup.sh --test

echo "==> formatting (rustfmt.toml)"
cargo fmt --all --check

echo "==> lints (clippy -D warnings) and module circles"
cargo clippy -q --workspace --all-targets -- -D warnings
python3 scripts/module_cycles.py src

echo "==> crate tests (algorithms, server)"
cargo test --workspace --exclude gridkit

echo "==> #[pg_test]s"
# A data directory $PG_USER can reach, even when the checkout is under /root.
pgdata=$(scripts/cluster.sh dir pgrx-test)
rm -rf "$pgdata"
mkdir -p "$pgdata"
chown "$PG_USER" "$pgdata" "$(dirname "$pgdata")"
cargo pgrx test pg15 --runas "$PG_USER" --pgdata "$pgdata"

echo "==> end-to-end suites"
mkdir -p target
cargo pgrx install --pg-config "$PG_CONFIG" >target/install.log 2>&1 || { cat target/install.log; exit 1; }
cargo build -q -p gridkit-server
pgrx-tests/run.sh
