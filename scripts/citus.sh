#!/usr/bin/env bash
# Citus for the scale-out suite and benchmark. Citus is not packaged for
# Debian 12 here: when PostgreSQL 15 has no citus.so yet, this builds Citus
# 13.2.2 from the source in $GRIDKIT_VENDOR_DIR (default ../shared/vendor,
# beside the checkout), with the one-line patch PostgreSQL 15.20 needs (it
# exports have_createdb_privilege, which Citus also defines). Users install
# Citus's own packages instead (docs/SCALING.md names the versions tested).
#
#   scripts/citus.sh          build and install if missing; exit 0 when
#                             Citus is installed afterwards
#   scripts/citus.sh check    exit 0 when installed, 1 when not (no build)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

CITUS_VERSION=13.2.2
vendor=${GRIDKIT_VENDOR_DIR:-$PWD/../shared/vendor}
pkglib=$("$PG_CONFIG" --pkglibdir)

installed() { [ -f "$pkglib/citus.so" ] && [ -f "$("$PG_CONFIG" --sharedir)/extension/citus.control" ]; }

if installed; then
    exit 0
fi
if [ "${1:-}" = check ]; then
    exit 1
fi
tarball="$vendor/citus-$CITUS_VERSION.tar.gz"
patchfile="$vendor/citus-$CITUS_VERSION-pg15.20.patch"
if [ ! -f "$tarball" ]; then
    echo "Citus is not installed and its source is not at $tarball" >&2
    echo "(install Citus $CITUS_VERSION for PostgreSQL 15, or set GRIDKIT_VENDOR_DIR to a folder holding" \
         "citus-$CITUS_VERSION.tar.gz and citus-$CITUS_VERSION-pg15.20.patch)" >&2
    exit 1
fi

deps=(liblz4-dev libzstd-dev libkrb5-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev)
missing=()
for p in "${deps[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Citus's build dependencies: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "==> building Citus $CITUS_VERSION from $tarball (about a minute)"
build=target/citus
rm -rf "$build"
mkdir -p "$build"
tar -xzf "$tarball" -C "$build" --strip-components=1
(
    cd "$build"
    # The patch applies where the 15.20 server headers declare the function.
    if grep -qs have_createdb_privilege "$("$PG_CONFIG" --includedir-server)/commands/dbcommands.h"; then
        patch -p1 -s <"$patchfile"
    fi
    ./configure -q PG_CONFIG="$PG_CONFIG" --without-libcurl >configure.log
    make -s -j2 >make.log 2>&1 || { tail -40 make.log; exit 1; }
    make -s install >install.log 2>&1 || { tail -40 install.log; exit 1; }
)
installed || { echo "Citus built but $pkglib/citus.so is missing" >&2; exit 1; }
echo "==> Citus $CITUS_VERSION installed"
