//! Tiles from generalized bands: the rows of the tile's zoom around the
//! tile, or the copy of the tile the build stored.

use gridkit_attrs::props;
use gridkit_mvt::{AttrValue, SourceCrs, TileCoord};

use crate::derived::{self, Kind};
use crate::error::*;
use crate::layers::plan::{GeneralizationPlan, LayerPlan};
use crate::pg::rows::{for_each_row, varlena_bytes};
use crate::tiles::render::Rendered;
use pgrx::prelude::*;

/// Calls `f(id, wkb, attributes)` for each row of band `tile.z` in the tile
/// plus its buffer. The caller has decided that its user may see every row
/// (`crate::access`). Must be called while connected to SPI.
pub fn read_band(
    plan: &LayerPlan,
    bands: &GeneralizationPlan,
    tile: TileCoord,
    mut f: impl FnMut(Option<i64>, Option<&[u8]>, &[(u32, AttrValue<'_>)]),
) -> SqlResult<()> {
    let query = bands.level_plan(tile.z, &plan.postgis_schema)?;
    let b = tile.mercator_bounds(plan.space().margin());
    let args: Vec<Option<pg_sys::Datum>> = [b.xmin, b.ymin, b.xmax, b.ymax].iter().map(|a| a.into_datum()).collect();
    let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::with_capacity(plan.attributes.len());
    let mut malformed = false;
    for_each_row(&query, &args, !bands.unpublished, &super::layout::LEVEL_COLUMNS, |values, nulls| {
        // SAFETY: the columns are `LEVEL_COLUMNS`: int8, bytea, bytea (checked at start).
        unsafe {
            let id = (!nulls[0]).then(|| values[0].value() as i64);
            let wkb = (!nulls[1]).then(|| varlena_bytes(values[1]));
            malformed |= nulls[2] || !props::decode(varlena_bytes(values[2]), &mut attrs);
            f(id, wkb, &attrs);
        }
    });
    if malformed {
        return Err(derived::malformed(Kind::Generalization, &plan.name, "attributes"));
    }
    Ok(())
}

/// `plan`'s layer of `tile` from band `tile.z`. Must be called while
/// connected to SPI.
pub fn render(plan: &LayerPlan, bands: &GeneralizationPlan, tile: TileCoord) -> SqlResult<Rendered> {
    let mut encoder = crate::tiles::render::layer_encoder(plan, tile, SourceCrs::WebMercator);
    // Simplified when the bands were built, shared borders included:
    // simplifying again, ring by ring, would pull neighbours apart.
    encoder.set_tolerances(0.0, 0.0);
    read_band(plan, bands, tile, |id, wkb, attrs| encoder.add_wkb(id, wkb, attrs))?;
    Ok(crate::tiles::render::finish(encoder))
}

/// The build's stored copy of `tile`, when it has one for the budget in
/// force now (a tile it does not hold is empty); `None` when the tile must
/// be rendered. As [`read_band`], for a user that may see every row. Must
/// be called while connected to SPI.
pub fn stored(plan: &LayerPlan, bands: &GeneralizationPlan, tile: TileCoord) -> SqlResult<Option<Rendered>> {
    let Some(tiles) = bands.tiles.as_ref() else { return Ok(None) };
    if !crate::gucs::STORED_TILES.get() || tile.z > tiles.max_zoom || plan.budget() != tiles.budget {
        return Ok(None);
    }
    let lookup = tiles.lookup_plan()?;
    let args: Vec<Option<pg_sys::Datum>> =
        [i32::from(tile.z), tile.x as i32, tile.y as i32].iter().map(|v| v.into_datum()).collect();
    let mut rendered = Rendered::default();
    for_each_row(&lookup, &args, true, &super::layout::TILE_COLUMNS, |values, nulls| {
        // SAFETY: the columns are `TILE_COLUMNS`: bytea and three int4 (checked at start), none NULL.
        unsafe {
            if !nulls[0] {
                rendered.finished.bytes = varlena_bytes(values[0]).to_vec();
            }
            rendered.finished.features = values[1].value() as i32 as usize;
            rendered.finished.dropped_max_features = values[2].value() as i32 as usize;
            rendered.finished.dropped_max_bytes = values[3].value() as i32 as usize;
        }
    });
    Ok(Some(rendered))
}
