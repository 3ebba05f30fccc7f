//! Generalized line and polygon layers: `gridkit.generalize_refresh` stores
//! each feature simplified for each zoom band (shared polygon borders
//! simplified once), and tiles at those zooms read the band instead of the
//! full-resolution source.

pub mod build;
pub mod layout;
pub mod tile;

use pgrx::prelude::*;

use crate::error::*;

/// Builds or rebuilds the generalized bands of line or polygon layer
/// `layer`; returns the number of features generalized. Readers keep the
/// previous bands until this commits.
#[pg_extern(schema = "gridkit", volatile)]
fn generalize_refresh(layer: &str) -> i64 {
    crate::pg::standby::require_primary("gridkit.generalize_refresh").or_raise();
    crate::layers::registry::managing_layer(layer, || build::refresh(layer)).or_raise()
}

/// The generalized geometry (EWKB, Web Mercator) of each feature of a layer,
/// per zoom band, for a caller that may read every row of the source;
/// `gridkit.generalized_rows` makes geometries of it.
#[allow(clippy::type_complexity)] // pgrx reads the column names from this signature
#[pg_extern(schema = "gridkit", name = "_generalized_rows", stable)]
fn generalized_rows(
    layer: &str,
) -> TableIterator<'static, (name!(level, Option<i16>), name!(id, Option<i64>), name!(ewkb, Option<Vec<u8>>))> {
    type Row = (Option<i16>, Option<i64>, Option<Vec<u8>>);
    let mut rows: Vec<Row> = Vec::new();
    let postgis = Spi::connect(crate::pg::postgis::Postgis::find).or_raise();
    crate::derived::read_build_table(
        layer,
        crate::derived::Kind::Generalization,
        SqlError::new(ERRCODE_UNDEFINED_OBJECT, format!("layer \"{layer}\" has no generalized bands"))
            .hint("Build them with gridkit.generalize_refresh(layer)."),
        "the generalized bands",
        &layout::rows_select(&postgis.f("st_asewkb")),
        &layout::ROWS_COLUMNS,
        |v, nulls| {
            rows.push((
                (!nulls[0]).then(|| v[0].value() as i16),
                (!nulls[1]).then(|| v[1].value() as i64),
                // SAFETY: the third column is bytea.
                (!nulls[2]).then(|| unsafe { crate::pg::rows::varlena_bytes(v[2]) }.to_vec()),
            ));
        },
    )
    .or_raise();
    TableIterator::new(rows)
}
