-- Tables of the demo data set; @postgis@ is replaced by PostGIS's schema.
CREATE TABLE demo.isos (
    id       integer PRIMARY KEY,
    iso_id   text NOT NULL UNIQUE,
    name     text NOT NULL,
    geom     @postgis@.geometry(MultiPolygon, 4326) NOT NULL
);
CREATE TABLE demo.zones (
    id               integer PRIMARY KEY,
    zone_code        text NOT NULL UNIQUE,
    iso_id           text NOT NULL REFERENCES demo.isos (iso_id),
    congestion_level double precision NOT NULL,
    geom             @postgis@.geometry(MultiPolygon, 4326) NOT NULL
);
CREATE TABLE demo.pnodes (
    id             bigint PRIMARY KEY,
    name           text NOT NULL,
    iso_id         text NOT NULL,
    zone_id        integer NOT NULL,
    node_type      text NOT NULL,
    severity_score double precision NOT NULL CHECK (severity_score BETWEEN 0 AND 1),
    tier           text NOT NULL,
    geom           @postgis@.geometry(Point, 4326) NOT NULL
);
CREATE TABLE demo.data_centers (
    id          bigint PRIMARY KEY,
    name        text NOT NULL,
    operator    text NOT NULL,
    capacity_mw double precision NOT NULL,
    status      text NOT NULL,
    iso_id      text,
    zone_id     integer,
    geom        @postgis@.geometry(Point, 4326) NOT NULL
);
CREATE TABLE demo.substations (
    id         bigint PRIMARY KEY,
    name       text NOT NULL,
    voltage_kv integer NOT NULL,
    iso_id     text,
    zone_id    integer,
    geom       @postgis@.geometry(Point, 4326) NOT NULL
);
CREATE TABLE demo.transmission_lines (
    id              bigint PRIMARY KEY,
    voltage_kv      integer NOT NULL,
    circuits        integer NOT NULL,
    length_km       double precision NOT NULL,
    owner           text NOT NULL,
    iso_id          text,
    from_substation bigint NOT NULL,
    to_substation   bigint NOT NULL,
    geom            @postgis@.geometry(LineString, 4326) NOT NULL
);
CREATE TABLE demo.feeders (
    id            bigint PRIMARY KEY,
    substation_id bigint NOT NULL,
    voltage_kv    double precision NOT NULL,
    phases        integer NOT NULL,
    customers     integer NOT NULL,
    length_km     double precision NOT NULL,
    geom          @postgis@.geometry(LineString, 4326) NOT NULL
);
CREATE TABLE demo.der_locations (
    id                  bigint PRIMARY KEY,
    der_type            text NOT NULL,
    capacity_kw         double precision NOT NULL,
    interconnection_year integer NOT NULL,
    iso_id              text,
    zone_id             integer,
    geom                @postgis@.geometry(Point, 4326) NOT NULL
);
