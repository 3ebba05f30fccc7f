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

pub mod filter;
pub mod index_read;
pub mod render;

use std::rc::Rc;

use gridkit_mvt::{SourceCrs, TileCoord};
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::access::Access;
use crate::cluster;
use crate::error::*;
use crate::generalize;
use crate::layers::cache;
use crate::layers::plan::LayerPlan;
use crate::tiles::render::{finish, layer_encoder, read_rows, Rendered};
use gridkit_options::filter::TypedFilter;

/// A Mapbox Vector Tile (MVT 2.1) of layer `layer` at tile `z/x/y`; empty
/// (zero bytes) when the tile holds no feature.
#[pg_extern(stable, strict, parallel_safe)]
fn grid_tile(layer: &str, z: i32, x: i32, y: i32) -> Vec<u8> {
    make_tile(&[layer], z, x, y, None).or_raise()
}

/// One tile holding several layers, in the order given.
#[pg_extern(name = "grid_tile", stable, strict, parallel_safe)]
fn grid_tile_layers(layers: Array<&str>, z: i32, x: i32, y: i32) -> Vec<u8> {
    let names = layer_names(&layers).or_raise();
    make_tile(&names.iter().map(String::as_str).collect::<Vec<_>>(), z, x, y, None).or_raise()
}

/// A tile of the features whose attributes match `filter`:
/// `{"iso_id": "PJM"}` (equality) or `{"tier": ["critical", "elevated"]}`
/// (any of), on registered attributes only.
#[pg_extern(name = "grid_tile", stable, strict, parallel_safe)]
fn grid_tile_filtered(layer: &str, z: i32, x: i32, y: i32, filter: JsonB) -> Vec<u8> {
    make_tile(&[layer], z, x, y, Some(&filter)).or_raise()
}

/// Several layers, each filtered by `filter`: every layer must have the
/// attributes it names (an ISO selector over pnodes, zones and lines).
#[pg_extern(name = "grid_tile", stable, strict, parallel_safe)]
fn grid_tile_layers_filtered(layers: Array<&str>, z: i32, x: i32, y: i32, filter: JsonB) -> Vec<u8> {
    let names = layer_names(&layers).or_raise();
    make_tile(&names.iter().map(String::as_str).collect::<Vec<_>>(), z, x, y, Some(&filter)).or_raise()
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

fn make_tile(names: &[&str], z: i32, x: i32, y: i32, filter: Option<&JsonB>) -> SqlResult<Vec<u8>> {
    let tile = TileCoord::new(z.into(), x.into(), y.into())?;
    gridkit_tilecoord::check_layers(names)?;
    let plans: Vec<Rc<LayerPlan>> = names.iter().map(|n| cache::get(n)).collect::<SqlResult<_>>()?;
    let filter = match filter {
        Some(f) => filter::resolve(&plans[0], f)?,
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
fn render_layer(plan: &LayerPlan, tile: TileCoord, filter: Option<&TypedFilter>) -> SqlResult<Vec<u8>> {
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
