# gridkit on PostgreSQL 15 with PostGIS and pg_cron, running as postgres.
#
# Not built or run where gridkit is developed (no Docker engine there); the
# steps mirror scripts/setup.sh and scripts/demo.sh, which are tested.
#
#   docker build -t gridkit .
#   docker run -e POSTGRES_PASSWORD=secret -p 5432:5432 gridkit

FROM postgres:15-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential ca-certificates clang curl libclang-dev pkg-config \
      postgresql-server-dev-15 \
 && rm -rf /var/lib/apt/lists/*
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95.0
ENV PATH=/root/.cargo/bin:$PATH
RUN cargo install cargo-pgrx --version =0.18.1 --locked \
 && cargo pgrx init --pg15 /usr/lib/postgresql/15/bin/pg_config
WORKDIR /src
COPY . .
RUN cargo pgrx package --pg-config /usr/lib/postgresql/15/bin/pg_config

FROM postgres:15-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15-postgis-3 postgresql-15-cron \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/gridkit-pg15/usr/share/postgresql/15/extension/ /usr/share/postgresql/15/extension/
COPY --from=build /src/target/release/gridkit-pg15/usr/lib/postgresql/15/lib/ /usr/lib/postgresql/15/lib/
# Create the extension and the demo data in the default database on first start.
RUN printf '%s\n' \
      "CREATE EXTENSION IF NOT EXISTS gridkit CASCADE;" \
      "CREATE EXTENSION IF NOT EXISTS pg_cron;" \
      "SELECT * FROM gridkit.demo_generate(1, 42);" \
      > /docker-entrypoint-initdb.d/10-gridkit.sql
USER postgres
CMD ["postgres", "-c", "shared_preload_libraries=pg_cron", "-c", "cron.database_name=postgres"]
