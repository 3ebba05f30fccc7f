//! The layout of a generalization build's tables, in one place: the DDL,
//! the columns a build writes, every query that reads them, and the column
//! types each read expects (checked by `pg::rows::for_each_row` when the
//! query starts).
//!
//! A build makes two tables. `storage`: one row per feature per zoom band it
//! shows in, partitioned by zoom (`level`), a GiST index on `geom`; the
//! attributes in the `props` encoding (`gridkit_attrs::props`). `tiles`: the
//! tiles of the lowest zooms, rendered at build time.

use pgrx::pg_sys;

use crate::pg::rows::Col;

/// The version of this layout, stored in each build's settings
/// (`gridkit._generalization_settings`): a build made under another layout
/// no longer matches and is not read. Raise it when a table's shape or the
/// stored attribute encoding changes.
pub const VERSION: u32 = 1;

/// The columns of a storage table, in the order a build writes them (COPY).
pub const COLUMNS: [&str; 4] = ["level", "id", "props", "geom"];

/// The storage table of a build (partitions are added per zoom by
/// `derived::create_zoom_partition`).
pub fn create_sql(storage: &str, postgis: &str) -> String {
    format!(
        "CREATE TABLE {storage} (
            level int2 NOT NULL,
            id    int8,
            props bytea NOT NULL,
            geom  {postgis}.geometry(Geometry, 3857) NOT NULL
         ) PARTITION BY LIST (level)"
    )
}

/// Once the rows are written: the index tiles read by, and the statistics
/// the planner needs.
pub fn index_sql(storage: &str, build: i64) -> String {
    format!(
        "CREATE INDEX generalized_{build}_geom ON {storage} USING gist (geom);
         ANALYZE {storage} (level, id);"
    )
}

/// The rows of band `zoom` in a box (parameters float8 × 4, Web Mercator),
/// read as [`LEVEL_COLUMNS`]. The literal zoom prunes the plan to that
/// zoom's partition.
pub fn level_sql(storage: &str, zoom: u8, postgis: &str) -> String {
    format!(
        "SELECT id, {postgis}.st_asbinary(geom), props FROM {storage} \
          WHERE level = {zoom} AND geom OPERATOR({postgis}.&&) {postgis}.st_makeenvelope($1, $2, $3, $4, 3857)"
    )
}
/// id, WKB (Web Mercator), props.
pub const LEVEL_COLUMNS: [Col; 3] = [Col::Int8, Col::Varlena, Col::Varlena];

/// Every row with its geometry as EWKB, for `gridkit.generalized_rows`
/// (`st_asewkb`: PostGIS's function, schema-qualified).
pub fn rows_select(st_asewkb: &str) -> String {
    format!("level, id, {st_asewkb}(geom)")
}
pub const ROWS_COLUMNS: [Col; 3] = [Col::Int2, Col::Int8, Col::Varlena];

/// The stored tiles table of a build.
pub fn create_tiles_sql(tiles: &str) -> String {
    format!(
        "CREATE TABLE {tiles} (
            z int4 NOT NULL, x int4 NOT NULL, y int4 NOT NULL,
            tile bytea NOT NULL,
            features int4 NOT NULL, dropped_max_features int4 NOT NULL, dropped_max_bytes int4 NOT NULL,
            PRIMARY KEY (z, x, y)
         )"
    )
}

/// Writes stored tiles from seven arrays, in the table's column order:
/// z, x, y (int4[]), tile (bytea[]), features and the two dropped counts
/// (int4[]).
pub fn tiles_insert_sql(tiles: &str) -> String {
    format!(
        "INSERT INTO {tiles} SELECT * FROM unnest($1::int4[], $2::int4[], $3::int4[], $4::bytea[], \
         $5::int4[], $6::int4[], $7::int4[])"
    )
}

/// One stored tile (parameters z, x, y: int4), read as [`TILE_COLUMNS`].
pub fn tile_lookup_sql(tiles: &str) -> (String, [pg_sys::Oid; 3]) {
    (
        format!("SELECT tile, features, dropped_max_features, dropped_max_bytes FROM {tiles} WHERE z = $1 AND x = $2 AND y = $3"),
        [pg_sys::INT4OID; 3],
    )
}
/// tile, features, dropped for max_features, dropped for max_bytes.
pub const TILE_COLUMNS: [Col; 4] = [Col::Varlena, Col::Int4, Col::Int4, Col::Int4];
