# gridkit on PostgreSQL 15 with PostGIS and pg_cron, and gridkit-server: the
# image installs the Debian package that `make deb` builds, on Debian
# bookworm, so it runs exactly what scripts/package_test.sh tests.
#
#   make image                 the .deb, a local Debian base (mmdebstrap) and this image
#   podman-compose up -d       with compose.yaml: database, gridkit-server, PostgREST
#
# With a registry at hand, any bookworm base works:
#   make deb && docker build --build-arg BASE=docker.io/library/debian:bookworm-slim -t gridkit .
ARG BASE=localhost/debian:bookworm
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
# The entry point makes its own cluster in $PGDATA; Debian's 15/main is not wanted.
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
COPY target/deb/gridkit_*.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold \
      /tmp/gridkit_*.deb postgresql-15-cron curl \
 && rm -rf /var/lib/apt/lists/* /tmp/gridkit_*.deb
COPY packaging/container/entrypoint.sh /usr/local/bin/gridkit-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
# PostgreSQL's fast shutdown: SIGTERM would wait for gridkit-server's
# connections to close. Mount a volume at $PGDATA to keep the data.
STOPSIGNAL SIGINT
EXPOSE 5432 8080
ENTRYPOINT ["gridkit-entrypoint"]
CMD ["postgres"]
