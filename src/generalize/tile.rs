//! Tiles from generalized bands: the rows of the tile's zoom around the tile.

use gridkit_mvt::{props, AttrValue, TileCoord};

use crate::derived::{self, Kind};
use crate::error::*;
use crate::layers::plan::{GeneralizationPlan, LayerPlan};
use crate::rows::{for_each_row, varlena_bytes};
use pgrx::prelude::*;

/// Calls `f(id, wkb, attributes)` for each row of band `tile.z` in the tile
/// plus its buffer. Must be called while connected to SPI.
pub fn read_band(
    plan: &LayerPlan,
    bands: &GeneralizationPlan,
    tile: TileCoord,
    mut f: impl FnMut(Option<i64>, Option<&[u8]>, &[(u32, AttrValue<'_>)]),
) -> SqlResult<()> {
    crate::cluster::tile::check_source_privilege(plan)?;
    let query = bands.level_plan(tile.z, &plan.postgis_schema)?;
    let b = tile.mercator_bounds(plan.space().margin());
    let args: Vec<Option<pg_sys::Datum>> = [b.xmin, b.ymin, b.xmax, b.ymax].iter().map(|a| a.into_datum()).collect();
    let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::with_capacity(plan.attributes.len());
    let mut malformed = false;
    for_each_row(&query, &args, true, 3, |values, nulls| {
        // SAFETY: the band query's columns are int8, bytea, bytea.
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
