#!/usr/bin/env bash
# Builds the container image localhost/gridkit (make image) with podman:
# the Debian package (scripts/package.sh), a Debian bookworm base made
# locally by mmdebstrap when there is none (no image registry needed), then
# the Dockerfile, which installs that package. Prints the image's name.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/packaging/container/containers.conf}
scripts/setup.sh --containers
scripts/package.sh >/dev/null
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

base=localhost/debian:bookworm
if ! podman image exists "$base"; then
    echo "==> making the base image $base with mmdebstrap" >&2
    mkdir -p target/image
    mmdebstrap --variant=minbase --quiet bookworm target/image/base.tar
    podman import --quiet target/image/base.tar "$base" >/dev/null
    rm -f target/image/base.tar
fi
echo "==> building the image localhost/gridkit:$version" >&2
# Only the package and the entry point go in (.dockerignore).
old=$(podman image inspect --format '{{.Id}}' localhost/gridkit:latest 2>/dev/null || true)
podman build --quiet --build-arg BASE="$base" -t "localhost/gridkit:$version" -t localhost/gridkit:latest . >target/image.log 2>&1 \
    || { cat target/image.log >&2; exit 1; }
# The image this one replaces, unless a container still uses it.
new=$(podman image inspect --format '{{.Id}}' localhost/gridkit:latest)
if [ -n "$old" ] && [ "$old" != "$new" ]; then
    podman rmi "$old" >/dev/null 2>&1 || true
fi
echo "localhost/gridkit:$version"
