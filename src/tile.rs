//! `grid_tile`: one Mapbox Vector Tile from one or more registered layers.
//!
//! Per layer: one SPI query (the layer's kept plan) with a bounding-box filter
//! the GiST index can answer, read in batches (simple sources at deep zooms
//! read the index directly: `index_read`); every row is decoded, projected,
//! clipped and encoded in Rust; the layer is bounded by its budget; the
//! layers' bytes are concatenated into one tile. Clustered layers at or
//! below their cluster zoom read their pyramid instead (`cluster::tile`),
//! generalized layers their bands or the tiles their build stored
//! (`generalize::tile`).

use std::rc::Rc;

use gridkit_mvt::{props, AttrValue, FinishedLayer, LayerEncoder, SourceCrs, TileCoord};
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::access::Access;
use crate::cluster;
use crate::error::*;
use crate::filter::ResolvedFilter;
use crate::generalize;
use crate::index_read;
use crate::layers::cache;
use crate::layers::plan::{AttrKind, LayerPlan};
use crate::rows::{for_each_row, varlena_bytes};

/// A Mapbox Vector Tile (MVT 2.1) of layer `layer` at tile `z/x/y`; empty
/// (zero bytes) when the tile holds no feature.
#[pg_extern(stable, strict, parallel_safe)]
fn grid_tile(layer: &str, z: i32, x: i32, y: i32) -> Vec<u8> {
    render(&[layer], z, x, y, None).or_raise()
}

/// One tile holding several layers, in the order given.
#[pg_extern(name = "grid_tile", stable, strict, parallel_safe)]
fn grid_tile_layers(layers: Array<&str>, z: i32, x: i32, y: i32) -> Vec<u8> {
    let names = layer_names(&layers).or_raise();
    render(&names.iter().map(String::as_str).collect::<Vec<_>>(), z, x, y, None).or_raise()
}

/// A tile of the features whose attributes match `filter`:
/// `{"iso_id": "PJM"}` (equality) or `{"tier": ["critical", "elevated"]}`
/// (any of), on registered attributes only.
#[pg_extern(name = "grid_tile", stable, strict, parallel_safe)]
fn grid_tile_filtered(layer: &str, z: i32, x: i32, y: i32, filter: JsonB) -> Vec<u8> {
    render(&[layer], z, x, y, Some(&filter)).or_raise()
}

/// Several layers, each filtered by `filter`: every layer must have the
/// attributes it names (an ISO selector over pnodes, zones and lines).
#[pg_extern(name = "grid_tile", stable, strict, parallel_safe)]
fn grid_tile_layers_filtered(layers: Array<&str>, z: i32, x: i32, y: i32, filter: JsonB) -> Vec<u8> {
    let names = layer_names(&layers).or_raise();
    render(&names.iter().map(String::as_str).collect::<Vec<_>>(), z, x, y, Some(&filter)).or_raise()
}

fn layer_names(layers: &Array<&str>) -> SqlResult<Vec<String>> {
    layers
        .iter()
        .map(|n| {
            n.map(str::to_owned)
                .ok_or_else(|| SqlError::new(ERRCODE_NULL_VALUE_NOT_ALLOWED, "layer names must not be NULL"))
        })
        .collect()
}

/// Layers one tile may hold: a list is checked before any layer is read, and
/// a request naming thousands is a mistake or an attack.
pub const MAX_LAYERS: usize = 256;

fn render(names: &[&str], z: i32, x: i32, y: i32, filter: Option<&JsonB>) -> SqlResult<Vec<u8>> {
    let tile = TileCoord::new(z.into(), x.into(), y.into())?;
    if names.is_empty() {
        return Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, "no layer given"));
    }
    if names.len() > MAX_LAYERS {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("a tile holds at most {MAX_LAYERS} layers, not {}", names.len()),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    if let Some(n) = names.iter().find(|n| !seen.insert(**n)) {
        return Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("layer \"{n}\" is listed twice")));
    }
    let plans: Vec<Rc<LayerPlan>> = names.iter().map(|n| cache::get(n)).collect::<SqlResult<_>>()?;
    let filter = match filter {
        Some(f) => Some(ResolvedFilter::parse(&plans[0], f)?).filter(|f| !f.is_empty()),
        None => None,
    };
    Spi::connect(|_| -> SqlResult<Vec<u8>> {
        let mut tile_bytes = Vec::new();
        for plan in &plans {
            tile_bytes.extend(render_layer(plan, tile, filter.as_ref())?);
        }
        Ok(tile_bytes)
    })
}

/// Must be called while connected to SPI.
fn render_layer(plan: &LayerPlan, tile: TileCoord, filter: Option<&ResolvedFilter>) -> SqlResult<Vec<u8>> {
    if !plan.options.zoom.visible(tile.z) {
        return Ok(Vec::new());
    }
    let access = plan.access.decide()?;
    let clustered = plan.cluster.as_ref().filter(|c| tile.z <= c.options.max_zoom);
    // Bands hold every feature (the filter applies to the source's columns),
    // of every row: a caller that sees only some rows gets the source's.
    let band = plan
        .generalization
        .as_ref()
        .filter(|g| tile.z <= g.max_zoom && filter.is_none())
        .filter(|_| access == Access::Full);
    let rendered = match (clustered, band) {
        (Some(c), _) => {
            // Cluster positions are Web Mercator.
            let mut encoder = layer_encoder(plan, tile, SourceCrs::WebMercator);
            cluster::tile::render(plan, c, tile, filter, access, &mut encoder)?;
            finish(encoder)
        }
        (None, Some(g)) => match generalize::tile::stored(plan, g, tile)? {
            Some(stored) => stored,
            None => generalize::tile::render(plan, g, tile)?,
        },
        (None, None) => {
            // Raw rows come in the source's CRS.
            let mut encoder = layer_encoder(plan, tile, plan.crs.unwrap_or(SourceCrs::WebMercator));
            let (line, ring) = source_tolerances(plan);
            encoder.set_tolerances(line, ring);
            let margin = plan.space().margin();
            read_rows(plan, tile, filter, access, margin, |id, wkb, attrs| encoder.add_wkb(id, wkb, attrs))?;
            finish(encoder)
        }
    };
    report(plan, tile, &rendered);
    Ok(rendered.finished.bytes)
}

/// One layer of one tile, encoded, with what its NOTICEs say.
#[derive(Default)]
pub struct Rendered {
    pub finished: FinishedLayer,
    pub invalid: usize,
    pub first_error: Option<String>,
}

/// An encoder for `plan`'s layer of `tile`, its attributes registered as
/// keys in order and its rank set.
pub fn layer_encoder(plan: &LayerPlan, tile: TileCoord, crs: SourceCrs) -> LayerEncoder {
    let mut encoder = LayerEncoder::new(&plan.name, tile, plan.space(), crs, plan.budget());
    // One geometry of millions of vertices may take a while: a cancel or
    // statement_timeout stops it there too.
    encoder.set_interrupt_check(check_for_interrupts);
    for (i, a) in plan.attributes.iter().enumerate() {
        // Attribute i is key i: rows carry attribute indexes as keys.
        let key = encoder.key(&a.name);
        debug_assert_eq!(key as usize, i);
    }
    if let Some((attribute, descending)) = plan.rank {
        encoder.set_rank(attribute as u32, descending);
    }
    encoder
}

fn check_for_interrupts() {
    pg_sys::check_for_interrupts!();
}

pub fn finish(encoder: LayerEncoder) -> Rendered {
    let invalid = encoder.stats().invalid;
    let first_error = encoder.first_error().map(|e| e.to_string());
    Rendered { finished: encoder.finish(), invalid, first_error }
}

/// The NOTICEs of a layer: invalid geometries skipped, features dropped.
fn report(plan: &LayerPlan, tile: TileCoord, r: &Rendered) {
    if r.invalid > 0 {
        notice(format!(
            "gridkit: layer \"{}\" tile {}/{}/{}: skipped {} invalid geometr{} (first: {})",
            plan.name,
            tile.z,
            tile.x,
            tile.y,
            r.invalid,
            if r.invalid == 1 { "y" } else { "ies" },
            r.first_error.as_deref().unwrap_or_default()
        ));
    }
    let finished = &r.finished;
    let dropped = finished.dropped_max_features + finished.dropped_max_bytes;
    if dropped > 0 {
        let budget = plan.budget();
        notice(format!(
            "gridkit: layer \"{}\" tile {}/{}/{}: dropped {dropped} of {} features, {} first, to stay within \
             max_features = {} and max_bytes = {}",
            plan.name,
            tile.z,
            tile.x,
            tile.y,
            dropped + finished.features,
            if plan.rank.is_some() { "lowest rank, then smallest," } else { "smallest" },
            budget.max_features,
            budget.max_bytes
        ));
    }
}

/// Simplification tolerances (tile units) for lines and rings read from the
/// source. Lines take the layer's pixel tolerance. Rings take at most half a
/// unit: simplified one by one, neighbouring polygons would drift apart by
/// up to the tolerance, and half a unit is what snapping moves them anyway;
/// pixel-tolerance polygons with shared borders come from the bands.
fn source_tolerances(plan: &LayerPlan) -> (f64, f64) {
    let half = gridkit_mvt::simplify::DEFAULT_TOLERANCE;
    let px = plan.options.simplify.tolerance_units(plan.options.extent);
    (px.max(half), half)
}

/// Reads the layer's rows in `tile` plus `margin` (a fraction of the tile
/// width on each side), matching `filter`, and calls `f(id, wkb, attributes)`
/// for each, attributes keyed by their index. The index read, which applies
/// no policy, serves only a caller with full `access`. Must be called while
/// connected to SPI.
pub fn read_rows(
    plan: &LayerPlan,
    tile: TileCoord,
    filter: Option<&ResolvedFilter>,
    access: Access,
    margin: f64,
    mut f: impl FnMut(Option<i64>, Option<&[u8]>, &[(u32, AttrValue<'_>)]),
) -> SqlResult<()> {
    if filter.is_none() && plan.options.zoom.rule_at(tile.z).is_none() && index_read::suits(tile) {
        if let Some(direct) = plan.index_read.as_ref().filter(|_| access == Access::Full) {
            return direct.read(plan.args_with_margin(tile, margin), f);
        }
    }
    let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();
    let mut args: Vec<Option<pg_sys::Datum>> =
        plan.args_with_margin(tile, margin).iter().map(|a| a.into_datum()).collect();
    let (plans, which) = plan.plan_for(tile, filter.is_some())?;
    if let Some(filter) = filter {
        for values in &filter.values {
            args.push(values.as_ref().and_then(|v| v.clone().into_datum()));
        }
    }
    let plan_to_run = &plans[which];
    let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::with_capacity(kinds.len());
    for_each_row(plan_to_run, &args, true, 2 + kinds.len(), |values, nulls| {
        // SAFETY: the query fixes each column's type: int8, bytea, then the
        // attributes as `kinds` says; every datum is read by that type.
        unsafe {
            let id = (!nulls[0]).then(|| values[0].value() as i64);
            let wkb = (!nulls[1]).then(|| varlena_bytes(values[1]));
            decode_attributes(&kinds, &values[2..], &nulls[2..], &mut attrs);
            f(id, wkb, &attrs);
        }
    });
    Ok(())
}

/// Decodes attribute datums by kind into `(index, value)`, leaving NULLs out.
///
/// # Safety
/// Each non-null datum must be of the type its kind says (see `AttrKind`).
pub unsafe fn decode_attributes<'a>(
    kinds: &[AttrKind],
    values: &[pg_sys::Datum],
    nulls: &[bool],
    out: &mut Vec<(u32, AttrValue<'a>)>,
) {
    out.clear();
    for (i, kind) in kinds.iter().enumerate() {
        if nulls[i] {
            continue; // NULL attributes are left out of the feature.
        }
        out.push((i as u32, attribute_value(*kind, values[i])));
    }
}

/// One non-null attribute datum of `kind` as a tile value.
///
/// # Safety
/// As [`decode_attributes`].
unsafe fn attribute_value<'a>(kind: AttrKind, d: pg_sys::Datum) -> AttrValue<'a> {
    match kind {
        AttrKind::Int => AttrValue::Int(d.value() as i64),
        AttrKind::Float => AttrValue::Float(f32::from_bits(d.value() as u32)),
        AttrKind::Double => AttrValue::Double(f64::from_bits(d.value() as u64)),
        AttrKind::Bool => AttrValue::Bool(d.value() != 0),
        AttrKind::Text => AttrValue::String(props::valid_utf8_prefix(varlena_bytes(d))),
    }
}

/// The non-NULL attributes of one row in the `props` encoding, appended to
/// `out`; text as the database stores it, checked for UTF-8 by whoever
/// decodes it (see `props::repair_text`).
///
/// # Safety
/// As [`decode_attributes`].
pub unsafe fn encode_attributes(kinds: &[AttrKind], values: &[pg_sys::Datum], nulls: &[bool], out: &mut Vec<u8>) {
    for (i, kind) in kinds.iter().enumerate() {
        if nulls[i] {
            continue;
        }
        let key = i as u32;
        match kind {
            AttrKind::Text => props::encode_string_bytes(key, varlena_bytes(values[i]), out),
            _ => props::encode(&[(key, attribute_value(*kind, values[i]))], out),
        }
    }
}
