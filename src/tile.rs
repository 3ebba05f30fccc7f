//! `grid_tile`: one Mapbox Vector Tile from one or more registered layers.
//!
//! Per layer: one SPI query (the layer's kept plan) with a bounding-box filter
//! the GiST index can answer, read through a cursor in batches; every row is
//! decoded, projected, clipped and encoded in Rust; the layer is bounded by its
//! budget; the layers' bytes are concatenated into one tile.

use std::rc::Rc;

use gridkit_mvt::{AttrValue, Budget, LayerEncoder, SourceCrs, TileCoord};
use pgrx::prelude::*;

use crate::error::*;
use crate::gucs;
use crate::layers::cache;
use crate::layers::plan::{AttrKind, LayerPlan};
use crate::rows::{for_each_row, varlena_bytes};

/// A Mapbox Vector Tile (MVT 2.1) of layer `layer` at tile `z/x/y`; empty
/// (zero bytes) when the tile holds no feature.
#[pg_extern(stable, strict, parallel_safe)]
fn grid_tile(layer: &str, z: i32, x: i32, y: i32) -> Vec<u8> {
    render(&[layer], z, x, y).or_raise()
}

/// One tile holding several layers, in the order given.
#[pg_extern(name = "grid_tile", stable, strict, parallel_safe)]
fn grid_tile_layers(layers: Array<&str>, z: i32, x: i32, y: i32) -> Vec<u8> {
    let names: Vec<&str> = layers
        .iter()
        .map(|n| n.ok_or_else(|| SqlError::new(ERRCODE_NULL_VALUE_NOT_ALLOWED, "layer names must not be NULL")))
        .collect::<SqlResult<_>>()
        .or_raise();
    render(&names, z, x, y).or_raise()
}

fn render(names: &[&str], z: i32, x: i32, y: i32) -> SqlResult<Vec<u8>> {
    let tile = TileCoord::new(z.into(), x.into(), y.into())?;
    if names.is_empty() {
        return Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, "no layer given"));
    }
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("layer \"{n}\" is listed twice")));
        }
    }
    let plans: Vec<Rc<LayerPlan>> = names.iter().map(|n| cache::get(n)).collect::<SqlResult<_>>()?;
    Spi::connect(|_| -> SqlResult<Vec<u8>> {
        let mut tile_bytes = Vec::new();
        for plan in &plans {
            tile_bytes.extend(render_layer(plan, tile)?);
        }
        Ok(tile_bytes)
    })
}

/// Must be called while connected to SPI.
fn render_layer(plan: &LayerPlan, tile: TileCoord) -> SqlResult<Vec<u8>> {
    let budget = Budget {
        max_features: plan.options.max_features.unwrap_or(gucs::MAX_FEATURES.get() as u32) as usize,
        max_bytes: plan.options.max_bytes.unwrap_or(gucs::MAX_BYTES.get() as u32) as usize,
    };
    let crs = plan.crs.unwrap_or(SourceCrs::WebMercator);
    let mut encoder = LayerEncoder::new(&plan.name, tile, plan.space(), crs, budget);
    let keys: Vec<u32> = plan.attributes.iter().map(|a| encoder.key(&a.name)).collect();
    let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();

    let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::with_capacity(keys.len());
    for_each_row(plan.plan_for(tile), &plan.args(tile), 2 + keys.len(), |values, nulls| {
        // SAFETY: the query fixes each column's type: int8, bytea, then the
        // attributes as `kinds` says; every datum is read by that type.
        unsafe {
            let id = (!nulls[0]).then(|| values[0].value() as i64);
            let wkb = (!nulls[1]).then(|| varlena_bytes(values[1]));
            attrs.clear();
            for (i, kind) in kinds.iter().enumerate() {
                if nulls[i + 2] {
                    continue; // NULL attributes are left out of the feature.
                }
                let d = values[i + 2];
                let v = match kind {
                    AttrKind::Int => AttrValue::Int(d.value() as i64),
                    AttrKind::Float => AttrValue::Float(f32::from_bits(d.value() as u32)),
                    AttrKind::Double => AttrValue::Double(f64::from_bits(d.value() as u64)),
                    AttrKind::Bool => AttrValue::Bool(d.value() != 0),
                    AttrKind::Text => AttrValue::String(valid_utf8_prefix(varlena_bytes(d))),
                };
                attrs.push((keys[i], v));
            }
            encoder.add_wkb(id, wkb, &attrs);
        }
    });

    let stats = encoder.stats();
    if stats.invalid > 0 {
        let first = encoder.first_error().map(|e| e.to_string()).unwrap_or_default();
        notice(format!(
            "gridkit: layer \"{}\" tile {}/{}/{}: skipped {} invalid geometr{} (first: {first})",
            plan.name,
            tile.z,
            tile.x,
            tile.y,
            stats.invalid,
            if stats.invalid == 1 { "y" } else { "ies" }
        ));
    }
    let finished = encoder.finish();
    let dropped = finished.dropped_max_features + finished.dropped_max_bytes;
    if dropped > 0 {
        notice(format!(
            "gridkit: layer \"{}\" tile {}/{}/{}: dropped {dropped} of {} features, smallest first, to stay within \
             max_features = {} and max_bytes = {}",
            plan.name,
            tile.z,
            tile.x,
            tile.y,
            dropped + finished.features,
            budget.max_features,
            budget.max_bytes
        ));
    }
    Ok(finished.bytes)
}

/// Text in a tile must be UTF-8. The query converts text to UTF-8 when the
/// database uses another encoding, and PostgreSQL validates stored text, so
/// this only guards against the impossible: it keeps the valid prefix.
fn valid_utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}
