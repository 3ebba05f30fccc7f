#!/usr/bin/env bash
# Builds the Debian package of gridkit (make deb): the extension for
# PostgreSQL 15, from `cargo pgrx package`, and gridkit-server with its map
# page and a systemd unit, in one .deb (packaging/deb/). Prints its path.
#
#   scripts/package.sh     -> target/deb/gridkit_<version>-1_<arch>.deb
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)-1
arch=$(dpkg --print-architecture)
out=target/deb
root=$out/gridkit_${version}_$arch
mkdir -p "$out"

echo "==> cargo pgrx package (release)" >&2
cargo pgrx package --pg-config "$PG_CONFIG" >"$out/package.log" 2>&1 || { cat "$out/package.log" >&2; exit 1; }
echo "==> building gridkit-server (release)" >&2
cargo build -q --release -p gridkit-server

rm -rf "$root" "$out"/gridkit_*.deb
mkdir -p "$root/DEBIAN"
cp -a target/release/gridkit-pg15/. "$root/"
install -D -m 755 target/release/gridkit-server "$root/usr/bin/gridkit-server"
strip --strip-unneeded "$root/usr/bin/gridkit-server" "$root/usr/lib/postgresql/15/lib/gridkit.so"
# The map page, laid out as gridkit-server expects its --web-dir.
web=$root/usr/share/gridkit/web
install -D -m 644 web/index.html "$web/index.html"
cp -r web/static "$web/static"
mkdir -p "$web/node_modules/maplibre-gl/dist"
cp web/node_modules/maplibre-gl/dist/maplibre-gl.js web/node_modules/maplibre-gl/dist/maplibre-gl.css \
    "$web/node_modules/maplibre-gl/dist/"
cp web/node_modules/maplibre-gl/LICENSE.txt "$web/node_modules/maplibre-gl/"
install -D -m 644 packaging/deb/gridkit-server.service "$root/lib/systemd/system/gridkit-server.service"
# The server's settings may name a password: not for every local user.
install -D -m 640 packaging/deb/server.env "$root/etc/gridkit/server.env"
doc=$root/usr/share/doc/gridkit
mkdir -p "$doc"
cp README.md docs/SQL.md docs/HTTP.md docs/INDICES.md docs/postgrest.conf "$doc/"
printf '%s\n' "gridkit is distributed under the PostgreSQL License." \
    "MapLibre GL JS (usr/share/gridkit/web/node_modules/maplibre-gl) is BSD-3-Clause, see its LICENSE.txt." \
    >"$doc/copyright"
install -m 755 packaging/deb/postinst packaging/deb/postrm packaging/deb/prerm "$root/DEBIAN/"
echo /etc/gridkit/server.env >"$root/DEBIAN/conffiles"

# Library dependencies of the two binaries, as Debian's tools compute them.
shlibs=$(cd "$out" && mkdir -p shlibs/debian && touch shlibs/debian/control && cd shlibs \
    && dpkg-shlibdeps -O "../../../$root/usr/bin/gridkit-server" "../../../$root/usr/lib/postgresql/15/lib/gridkit.so" \
    | sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SHLIBS@/$shlibs/" -e "s/@SIZE@/$size/" \
    packaging/deb/control.in >"$root/DEBIAN/control"
deb=$out/gridkit_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
