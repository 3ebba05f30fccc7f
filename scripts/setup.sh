#!/usr/bin/env bash
# Prepares this machine to build, run and test gridkit. Safe to re-run: each
# step is skipped when already done. Needs root (installs Debian packages).
#
#   scripts/setup.sh          build and run prerequisites (and the map page's
#                             npm packages)
#   scripts/setup.sh --test   also what the test suites use: Python packages,
#                             Debian's Chromium for the browser test, and
#                             Citus (scripts/citus.sh), and Martin (into
#                             ~/.cache/gridkit/martin)
#   scripts/setup.sh --containers
#                             also podman, runc, podman-compose and mmdebstrap,
#                             for the image (make image) and its test
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-postgis-3 postgresql-15-cron
          postgresql-15-partman sudo clang libclang-dev pkg-config python3-venv curl)
want_test=no
for arg in "$@"; do
    case "$arg" in
    --test) want_test=yes; packages+=(chromium) ;;
    --containers) packages+=(podman runc podman-compose mmdebstrap) ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done
# The machine's own Node.js when it has one, else Debian's.
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Installing postgresql-15 makes and starts Debian's default cluster 15/main.
    # gridkit runs its own clusters, so it stops that one only when this very
    # run made it; a cluster that was here before is never touched.
    had_main=$( [ -e /etc/postgresql/15/main ] && echo yes || echo no )
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
    if [ "$had_main" = no ] && [ -e /etc/postgresql/15/main ]; then
        echo "==> stopping Debian's default cluster 15/main, made by this install"
        pg_ctlcluster 15 main stop 2>/dev/null || true
    fi
fi

if [ "$(cargo pgrx --version 2>/dev/null)" != "cargo-pgrx $PGRX_VERSION" ]; then
    echo "==> installing cargo-pgrx $PGRX_VERSION"
    cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked --quiet
fi

if ! grep -qs "pg15 = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
    echo "==> pointing pgrx at $PG_CONFIG"
    cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
fi

# MapLibre GL (and playwright-core for the browser test), as locked.
if ! cmp -s web/package-lock.json web/node_modules/.gridkit-lock 2>/dev/null; then
    echo "==> installing the map page's npm packages"
    (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp web/package-lock.json web/node_modules/.gridkit-lock
fi

if [ "$want_test" = yes ]; then
    if [ ! -x "$VENV/bin/python" ] || ! cmp -s pgrx-tests/requirements.txt "$VENV/requirements.txt"; then
        echo "==> installing Python test packages into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check -r pgrx-tests/requirements.txt
        cp pgrx-tests/requirements.txt "$VENV/requirements.txt"
    fi
    # Citus for the scale-out suite, built from ../shared/vendor when it is
    # not installed (GRIDKIT_SKIP_CITUS=1 leaves it and the suite out).
    if [ -z "${GRIDKIT_SKIP_CITUS:-}" ]; then
        scripts/citus.sh
    fi
    # Martin, the peer tile server the function-source suite runs, built
    # once from crates.io into a cache outside the checkout (about five
    # minutes; GRIDKIT_SKIP_MARTIN=1 leaves it and the suite out).
    if [ -z "${GRIDKIT_SKIP_MARTIN:-}" ] && [ ! -x "$MARTIN" ]; then
        echo "==> building Martin $MARTIN_VERSION into $(dirname "$(dirname "$MARTIN")") (about five minutes)"
        cargo install martin --version "$MARTIN_VERSION" --no-default-features --features postgres --locked \
            --root "$(dirname "$(dirname "$MARTIN")")" --quiet
    fi
fi
