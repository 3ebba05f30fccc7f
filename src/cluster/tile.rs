//! Clustered tiles: at or below a layer's cluster zoom, a tile shows the
//! clusters and lone points of that zoom, read from the pyramid (a filter on
//! the partition attribute picks that partition's pyramid) or, for any other
//! filter or while no pyramid is built, clustered on the fly from the rows
//! around the tile.

use gridkit_attrs::props;
use gridkit_cluster::{world_to_mercator, Params, Pyramid};
use gridkit_mvt::{AttrValue, LayerEncoder, TileCoord};
use pgrx::prelude::*;

use crate::access::Access;
use crate::derived::{self, Kind};
use crate::error::*;
use crate::layers::plan::{AttrKind, ClusterPlan, LayerPlan, PyramidPlan};
use crate::pg::rows::{for_each_row, varlena_bytes};
use crate::tiles::render::read_rows;
use gridkit_cluster::points::PointSet;
use gridkit_options::filter::TypedFilter;

/// Pixels per tile side that cluster radii refer to (MapLibre's tile size).
pub const RADIUS_EXTENT: f64 = 512.0;

/// Keys of the properties a cluster feature carries besides its aggregates.
struct ClusterKeys {
    cluster: u32,
    cluster_id: u32,
    point_count: u32,
    expansion_zoom: u32,
}

impl ClusterKeys {
    fn new(encoder: &mut LayerEncoder) -> ClusterKeys {
        ClusterKeys {
            cluster: encoder.key("cluster"),
            cluster_id: encoder.key("cluster_id"),
            point_count: encoder.key("point_count"),
            expansion_zoom: encoder.key("expansion_zoom"),
        }
    }
}

pub fn params(c: &ClusterPlan, min_zoom: u8, max_zoom: u8) -> Params {
    Params { radius: c.options.radius, extent: RADIUS_EXTENT, min_zoom, max_zoom, min_points: c.options.min_points }
}

/// Must be called while connected to SPI.
pub fn render(
    plan: &LayerPlan,
    c: &ClusterPlan,
    tile: TileCoord,
    filter: Option<&TypedFilter>,
    access: Access,
    encoder: &mut LayerEncoder,
) -> SqlResult<()> {
    let keys = ClusterKeys::new(encoder);
    // The pyramid and its packed points hold every row: a caller that sees
    // only some gets clusters of its own rows.
    let pyramid = c.pyramid.as_ref().filter(|_| access == Access::Full);
    match (pyramid, filter) {
        (Some(p), None) => from_pyramid(plan, p, tile, None, &keys, encoder),
        (Some(p), Some(f)) if c.partition.is_some_and(|i| f.only_on(i).is_some()) => {
            let values = c.partition.and_then(|i| f.only_on(i)).map(|a| a.canonical_texts());
            from_pyramid(plan, p, tile, values, &keys, encoder)
        }
        _ => on_the_fly(plan, c, pyramid, tile, filter, access, &keys, encoder),
    }
}

fn from_pyramid(
    plan: &LayerPlan,
    pyramid: &PyramidPlan,
    tile: TileCoord,
    partitions: Option<Vec<String>>,
    keys: &ClusterKeys,
    encoder: &mut LayerEncoder,
) -> SqlResult<()> {
    let level_plan = pyramid.level_plan(tile.z, partitions.is_some(), &plan.postgis_schema)?;
    let b = tile.mercator_bounds(plan.space().margin());
    let mut args: Vec<Option<pg_sys::Datum>> =
        [b.xmin, b.ymin, b.xmax, b.ymax].into_iter().map(|v| v.into_datum()).collect();
    if let Some(values) = partitions {
        args.push(values.into_datum());
    }
    let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::new();
    let mut malformed = false;
    for_each_row(&level_plan, &args, true, &super::layout::LEVEL_COLUMNS, |values, nulls| {
        // SAFETY: the columns are of `columns`' types (checked at start).
        unsafe {
            let cluster_id = (!nulls[0]).then(|| values[0].value() as i64);
            let source_id = (!nulls[1]).then(|| values[1].value() as i64);
            let count = values[2].value() as i32;
            let expansion_zoom = values[3].value() as i16;
            let x = f64::from_bits(values[4].value() as u64);
            let y = f64::from_bits(values[5].value() as u64);
            let bytes = if nulls[6] { &[][..] } else { varlena_bytes(values[6]) };
            malformed |= !props::decode(bytes, &mut attrs);
            match cluster_id {
                Some(id) => {
                    push_cluster_keys(&mut attrs, keys, Some(id), count, i64::from(expansion_zoom));
                    encoder.add_point(Some(id), x, y, f64::from(count), &attrs);
                }
                None => encoder.add_point(source_id, x, y, 1.0, &attrs),
            }
        }
    });
    if malformed {
        return Err(derived::malformed(Kind::Pyramid, &plan.name, "attributes"));
    }
    Ok(())
}

fn push_cluster_keys<'a>(
    attrs: &mut Vec<(u32, AttrValue<'a>)>,
    keys: &ClusterKeys,
    cluster_id: Option<i64>,
    count: i32,
    expansion_zoom: i64,
) {
    attrs.push((keys.cluster, AttrValue::Bool(true)));
    if let Some(id) = cluster_id {
        attrs.push((keys.cluster_id, AttrValue::Int(id)));
    }
    attrs.push((keys.point_count, AttrValue::Int(i64::from(count))));
    attrs.push((keys.expansion_zoom, AttrValue::Int(expansion_zoom)));
}

/// Clusters the rows around the tile at the tile's zoom. Rows within one
/// radius outside the tile take part, so clusters straddling the edge come
/// out the same in both tiles most of the time; exact agreement across seams
/// is what the pyramid gives. These clusters have no `cluster_id` (there is
/// no pyramid to list their members from); `expansion_zoom` is the next zoom.
#[allow(clippy::too_many_arguments)]
fn on_the_fly(
    plan: &LayerPlan,
    c: &ClusterPlan,
    pyramid: Option<&PyramidPlan>,
    tile: TileCoord,
    filter: Option<&TypedFilter>,
    access: Access,
    keys: &ClusterKeys,
    encoder: &mut LayerEncoder,
) -> SqlResult<()> {
    let crs = plan.crs.unwrap_or(gridkit_mvt::SourceCrs::WebMercator);
    let mut points = PointSet::new(&c.aggregates, c.partition, crs);
    let margin = plan.space().margin().max(c.options.radius / RADIUS_EXTENT);
    let packed = match (pyramid, filter) {
        // The build's own points, packed: the same data as unfiltered tiles.
        (Some(p), Some(f)) => Some((p, super::store::read(plan, p, tile, margin, f, &mut points)?)),
        _ => {
            read_rows(plan, tile, filter, access, margin, |id, wkb, attrs| points.push(id, wkb, attrs))?;
            None
        }
    };
    let partitions = points.take_partitions();
    let codes = partitions.as_ref().map(|p| p.build_codes());
    let pyramid = Pyramid::build(&points.xy, codes.as_deref(), params(c, tile.z, tile.z))
        .map_err(|e| SqlError::new(ERRCODE_INTERNAL_ERROR, e.to_string()))?;
    let summaries = points.summarize(&pyramid, partitions);
    let level = pyramid.level(tile.z);
    // Packed points come without ids and attributes: fetch those of the
    // points left alone.
    let details = match &packed {
        Some((p, origins)) => {
            let lone: Vec<usize> = level.iter().filter(|&&n| !pyramid.is_cluster(n)).map(|&n| n as usize).collect();
            Some(super::store::details(plan, p, origins, &lone)?)
        }
        None => None,
    };
    let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();
    let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::new();
    let mut next_lone = 0;
    for &node in level {
        let n = &pyramid.nodes[node as usize];
        let (x, y) = world_to_mercator(n.x, n.y);
        if pyramid.is_cluster(node) {
            let first_leaf = pyramid.leaf_order[n.leaf_lo as usize] as usize;
            summaries.cluster_attrs(node as usize, first_leaf, &kinds, &mut attrs);
            push_cluster_keys(&mut attrs, keys, None, n.count as i32, i64::from(tile.z) + 1);
            encoder.add_point(None, x, y, f64::from(n.count), &attrs);
        } else {
            let i = node as usize;
            let (id, bytes) = match &details {
                Some(d) => (d.ids[next_lone], d.props(next_lone)),
                None => (points.ids[i], points.props(i)),
            };
            next_lone += 1;
            if !props::decode(bytes, &mut attrs) {
                return Err(derived::malformed(Kind::Pyramid, &plan.name, "attributes"));
            }
            encoder.add_point(id, x, y, 1.0, &attrs);
        }
    }
    Ok(())
}
