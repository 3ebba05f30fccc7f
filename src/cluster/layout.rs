//! The layout of a pyramid build's tables, in one place: the DDL, the
//! columns a build writes, every query that reads them, and the column
//! types each read expects (checked by `pg::rows::for_each_row` when the
//! query starts).
//!
//! A build makes three tables. `storage`: one row per cluster or lone point
//! per zoom it shows at, partitioned by zoom (`level`), a GiST index on
//! `geom`. `leaves`: the points' ids in depth-first order, in chunks of
//! [`LEAF_CHUNK`], so a cluster's members are one contiguous range. The
//! points store: the points packed in quadtree chunks for filtered tiles
//! (`cluster::store` writes and reads it), a GiST index on each chunk's
//! `bbox`.

use pgrx::pg_sys;

use crate::pg::rows::Col;

/// The version of this layout (the three tables), stored in each build's settings
/// (`gridkit._pyramid_settings`): a build made under another layout no
/// longer matches and is not read. Raise it when a table's shape or a stored
/// encoding (`gridkit_attrs::props`, `gridkit_attrs::columns`) changes.
pub const VERSION: u32 = 1;

/// Ids per row of a leaves table.
pub const LEAF_CHUNK: u32 = 1024;

/// The columns of a storage table, in the order a build writes them (COPY).
pub const COLUMNS: [&str; 10] =
    ["level", "cluster_id", "source_id", "point_count", "expansion_zoom", "x", "y", "part", "props", "geom"];

/// The storage and leaves tables of a build (partitions are added per zoom
/// by `derived::create_zoom_partition`).
pub fn create_sql(storage: &str, leaves: &str, postgis: &str) -> String {
    format!(
        "CREATE TABLE {storage} (
            level          int2 NOT NULL,
            cluster_id     int8,
            source_id      int8,
            point_count    int4 NOT NULL,
            expansion_zoom int2,
            x              float8 NOT NULL,
            y              float8 NOT NULL,
            part           text,
            props          bytea NOT NULL,
            geom           {postgis}.geometry(Point, 3857) NOT NULL
         ) PARTITION BY LIST (level);
         CREATE TABLE {leaves} (chunk int4 PRIMARY KEY, ids int8[] NOT NULL);
         -- 8 kB of ids compress poorly; pglz would cost more than the build.
         ALTER TABLE {leaves} ALTER COLUMN ids SET STORAGE EXTERNAL;"
    )
}

/// What [`level_sql`] selects: cluster_id, source_id, point_count,
/// expansion_zoom, x, y (Web Mercator), props.
pub const LEVEL_COLUMNS: [Col; 7] =
    [Col::Int8, Col::Int8, Col::Int4, Col::Int2, Col::Float8, Col::Float8, Col::Varlena];

/// The clusters and points of zoom `zoom` in a box, and when `partitioned`
/// only those of some partition values, with its parameter types: the box
/// (float8 × 4) and the values (text[]). The literal zoom prunes the plan to
/// that zoom's partition.
pub fn level_sql(storage: &str, zoom: u8, partitioned: bool, postgis: &str) -> (String, Vec<pg_sys::Oid>) {
    let sql = format!(
        "SELECT cluster_id, source_id, point_count, expansion_zoom, x, y, props FROM {storage} \
          WHERE level = {zoom} AND geom OPERATOR({postgis}.&&) {postgis}.st_makeenvelope($1, $2, $3, $4, 3857){}",
        if partitioned { " AND part = ANY($5)" } else { "" }
    );
    let mut types = vec![pg_sys::FLOAT8OID; 4];
    if partitioned {
        types.push(pg_sys::TEXTARRAYOID);
    }
    (sql, types)
}

/// Every row, for `pyramid_rows`, and the types it reads.
pub const ROWS_SELECT: &str = "level, cluster_id, source_id, point_count, expansion_zoom, x, y, part";
pub const ROWS_COLUMNS: [Col; 8] =
    [Col::Int2, Col::Int8, Col::Int8, Col::Int4, Col::Int2, Col::Float8, Col::Float8, Col::Varlena];

/// Writes the ids in depth-first order (parameter int8[]) into `leaves`:
/// slices of one array, in chunk order, no sort, no aggregate.
pub fn leaves_insert_sql(leaves: &str) -> String {
    format!(
        "INSERT INTO {leaves} (chunk, ids)
         SELECT c, a.ids[c * {LEAF_CHUNK} + 1 : (c + 1) * {LEAF_CHUNK}]
           FROM (SELECT $1::int8[] AS ids) a,
                pg_catalog.generate_series(0, (pg_catalog.cardinality($1::int8[]) - 1) / {LEAF_CHUNK}) AS c"
    )
}

/// A cluster's size by its id (parameter int8), read as [`COUNT_COLUMNS`].
pub fn point_count_sql(storage: &str) -> String {
    format!("SELECT point_count FROM {storage} WHERE cluster_id = $1 LIMIT 1")
}
pub const COUNT_COLUMNS: [Col; 1] = [Col::Int4];

/// The ids at depth-first positions `$1 <= o < $2` (parameters int8), in
/// order, read as [`IDS_COLUMNS`].
pub fn member_ids_sql(leaves: &str) -> String {
    let chunk = i64::from(LEAF_CHUNK);
    format!(
        "SELECT u.id FROM (
             SELECT e.id, (l.chunk::int8 * {chunk} + e.i - 1) AS o
               FROM {leaves} l, pg_catalog.unnest(l.ids) WITH ORDINALITY AS e(id, i)
              WHERE l.chunk BETWEEN $1 / {chunk} AND ($2 - 1) / {chunk}
         ) u WHERE u.o >= $1 AND u.o < $2 ORDER BY u.o"
    )
}
pub const IDS_COLUMNS: [Col; 1] = [Col::Int8];

/// The points store of a build.
pub fn points_create_sql(table: &str, postgis: &str) -> String {
    format!(
        "CREATE TABLE {table} (
             bbox      {postgis}.geometry(Polygon, 3857) NOT NULL,
             n         int4 NOT NULL,
             xy        bytea NOT NULL,
             ids       bytea NOT NULL,
             columns   bytea NOT NULL
         );
         -- Arrays of doubles and ids compress poorly; pglz would cost
         -- more than it saves.
         ALTER TABLE {table} ALTER COLUMN xy SET STORAGE EXTERNAL,
                             ALTER COLUMN ids SET STORAGE EXTERNAL,
                             ALTER COLUMN columns SET STORAGE EXTERNAL;"
    )
}

/// Writes chunks from eight arrays: the cell's corners (float8[] × 4, Web
/// Mercator), point counts (int4[]), then positions, ids and columns
/// (bytea[]).
pub fn points_insert_sql(table: &str, postgis: &str) -> String {
    format!(
        "INSERT INTO {table} (bbox, n, xy, ids, columns)
         SELECT {postgis}.st_makeenvelope(x0, y0, x1, y1, 3857), n, xy, ids, c
           FROM unnest($1::float8[], $2::float8[], $3::float8[], $4::float8[], $5::int4[],
                       $6::bytea[], $7::bytea[], $8::bytea[]) AS u(x0, y0, x1, y1, n, xy, ids, c)"
    )
}

/// Once the chunks are written: the index the reads below use.
pub fn points_index_sql(table: &str) -> String {
    format!("CREATE INDEX ON {table} USING gist (bbox)")
}

/// The chunks whose cells meet a box (parameters float8 × 4, Web Mercator),
/// read as [`BOX_COLUMNS`].
pub fn chunks_in_box_sql(table: &str, postgis: &str) -> String {
    format!(
        "SELECT ctid, n, xy, columns, pg_catalog.sum(n) OVER () FROM {table} \
          WHERE bbox OPERATOR({postgis}.&&) {postgis}.st_makeenvelope($1, $2, $3, $4, 3857)"
    )
}
/// ctid, n, xy, columns, and the chunks' total count (int8, on every row).
pub const BOX_COLUMNS: [Col; 5] = [Col::Tid, Col::Int4, Col::Varlena, Col::Varlena, Col::Int8];

/// The chunks at some row addresses (parameter tid[]), read as
/// [`CHUNK_COLUMNS`].
pub fn chunks_at_sql(table: &str) -> String {
    format!("SELECT ctid, n, ids, columns FROM {table} WHERE ctid = ANY($1)")
}
/// ctid, n, ids, columns.
pub const CHUNK_COLUMNS: [Col; 4] = [Col::Tid, Col::Int4, Col::Varlena, Col::Varlena];
