//! The points of a pyramid build, packed for filtered tiles.
//!
//! A filter on anything but the partition attribute is clustered on the fly
//! at the tile's zoom. Reading those points from the source costs a heap
//! fetch and a tuple per point (about 0.8 µs each here: 80 ms for a zoom-5
//! tile of 100K points before any clustering). The build writes the same
//! points once more, packed: a quadtree of chunks of at most
//! [`CHUNK_POINTS`] points, each one row of arrays (positions, ids,
//! encoded attributes) with its cell's box under a GiST index. A tile reads
//! the few chunks around it, tests the filter on the encoded attributes in
//! Rust, and clusters. Filtered tiles so show the same build as unfiltered
//! ones: a stale pyramid serves both until refreshed.

use gridkit_cluster::{quadtree, world_to_mercator};
use gridkit_mvt::{props, AttrValue, TileCoord};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use rustc_hash::FxHashSet;

use super::points::PointSet;
use crate::derived::{self, Kind};
use crate::error::*;
use crate::filter::ResolvedFilter;
use crate::layers::plan::{AttrKind, LayerPlan, PyramidPlan};
use crate::rows::{for_each_row, varlena_bytes};

/// Most points per chunk: a chunk is read whole, so small chunks keep
/// deep tiles cheap; large ones keep the row count low.
pub const CHUNK_POINTS: usize = 4096;
/// Chunks per INSERT.
const WRITE_CHUNKS: usize = 256;

/// Creates `table` and fills it with `points`' chunks. Must be called while
/// connected to SPI.
pub fn write(client: &mut SpiClient<'_>, table: &str, postgis: &str, points: &PointSet) -> SqlResult<()> {
    client.update(
        &format!(
            "CREATE TABLE {table} (
                 bbox      {postgis}.geometry(Polygon, 3857) NOT NULL,
                 n         int4 NOT NULL,
                 xy        bytea NOT NULL,
                 ids       bytea NOT NULL,
                 props     bytea NOT NULL,
                 props_end bytea NOT NULL
             );
             -- Arrays of doubles and ids compress poorly; pglz would cost
             -- more than it saves.
             ALTER TABLE {table} ALTER COLUMN xy SET STORAGE EXTERNAL,
                                 ALTER COLUMN ids SET STORAGE EXTERNAL,
                                 ALTER COLUMN props SET STORAGE EXTERNAL,
                                 ALTER COLUMN props_end SET STORAGE EXTERNAL;"
        ),
        None,
        &[],
    )?;
    let mut rows = ChunkRows::default();
    // Quadtree order: one sort by Morton key, then each cell is a run.
    let keys: Vec<u64> = points.xy.iter().map(|p| quadtree::morton(p[0], p[1])).collect();
    let mut order: Vec<u32> = (0..points.len() as u32).collect();
    order.sort_unstable_by_key(|&i| (keys[i as usize], i));
    let sorted: Vec<u64> = order.iter().map(|&i| keys[i as usize]).collect();
    let mut cells = Vec::new();
    quadtree::cells(&sorted, CHUNK_POINTS, &mut cells);
    for (cell, range) in cells {
        rows.push(points, cell, &order[range]);
        if rows.len() >= WRITE_CHUNKS {
            rows.write(client, table, postgis)?;
        }
    }
    rows.write(client, table, postgis)?;
    client.update(&format!("CREATE INDEX ON {table} USING gist (bbox)"), None, &[])?;
    Ok(())
}

#[derive(Default)]
struct ChunkRows {
    /// Cell corners in Web Mercator: xmin, ymin, xmax, ymax.
    boxes: Vec<[f64; 4]>,
    n: Vec<i32>,
    xy: Vec<Vec<u8>>,
    ids: Vec<Vec<u8>>,
    props: Vec<Vec<u8>>,
    props_end: Vec<Vec<u8>>,
}

impl ChunkRows {
    fn len(&self) -> usize {
        self.n.len()
    }

    fn push(&mut self, points: &PointSet, cell: [f64; 4], members: &[u32]) {
        let (ax, ay) = world_to_mercator(cell[0], cell[3]);
        let (bx, by) = world_to_mercator(cell[2], cell[1]);
        self.boxes.push([ax, ay, bx, by]);
        self.n.push(members.len() as i32);
        let mut xy = Vec::with_capacity(members.len() * 16);
        let mut ids = Vec::with_capacity(members.len() * 9);
        let mut props = Vec::new();
        let mut props_end = Vec::with_capacity(members.len() * 4);
        for &i in members {
            let p = points.xy[i as usize];
            xy.extend(p[0].to_le_bytes());
            xy.extend(p[1].to_le_bytes());
            // A presence byte, then the id: a NULL id stays NULL.
            match points.ids[i as usize] {
                Some(id) => {
                    ids.push(1);
                    ids.extend(id.to_le_bytes());
                }
                None => ids.extend([0u8; 9]),
            }
            props.extend_from_slice(points.props(i as usize));
            props_end.extend((props.len() as u32).to_le_bytes());
        }
        self.xy.push(xy);
        self.ids.push(ids);
        self.props.push(props);
        self.props_end.push(props_end);
    }

    fn write(&mut self, client: &mut SpiClient<'_>, table: &str, postgis: &str) -> SqlResult<()> {
        if self.n.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(self);
        let corner = |k: usize| rows.boxes.iter().map(|b| b[k]).collect::<Vec<f64>>();
        client.update(
            &format!(
                "INSERT INTO {table} (bbox, n, xy, ids, props, props_end)
                 SELECT {postgis}.st_makeenvelope(x0, y0, x1, y1, 3857), n, xy, ids, p, e
                   FROM unnest($1::float8[], $2::float8[], $3::float8[], $4::float8[], $5::int4[],
                               $6::bytea[], $7::bytea[], $8::bytea[], $9::bytea[]) AS u(x0, y0, x1, y1, n, xy, ids, p, e)"
            ),
            None,
            &[
                corner(0).into(),
                corner(1).into(),
                corner(2).into(),
                corner(3).into(),
                rows.n.into(),
                rows.xy.into(),
                rows.ids.into(),
                rows.props.into(),
                rows.props_end.into(),
            ],
        )?;
        Ok(())
    }
}

/// A filter as tests on decoded attribute values.
struct Matcher {
    /// Per filtered attribute: its index and accepted values.
    conditions: Vec<(u32, Accepted)>,
}

enum Accepted {
    Text(FxHashSet<String>),
    Int(FxHashSet<i64>),
    /// f64 bits of the value as the tile query would compare it.
    Number(FxHashSet<u64>),
    Bool(FxHashSet<bool>),
}

impl Matcher {
    fn new(plan: &LayerPlan, filter: &ResolvedFilter) -> Matcher {
        let mut conditions = Vec::new();
        for (i, values) in filter.values.iter().enumerate() {
            let Some(values) = values else { continue };
            // The values are canonical texts (see `filter::canonical`), so
            // each parses back as its attribute's kind.
            let accepted = match plan.attributes[i].kind {
                AttrKind::Text => Accepted::Text(values.iter().cloned().collect()),
                AttrKind::Int => Accepted::Int(values.iter().filter_map(|v| v.parse().ok()).collect()),
                AttrKind::Float | AttrKind::Double => Accepted::Number(
                    values.iter().filter_map(|v| v.parse::<f64>().ok()).map(|v| (v + 0.0).to_bits()).collect(),
                ),
                AttrKind::Bool => Accepted::Bool(values.iter().filter_map(|v| v.parse().ok()).collect()),
            };
            conditions.push((i as u32, accepted));
        }
        Matcher { conditions }
    }

    fn accepts(&self, attrs: &[(u32, AttrValue<'_>)]) -> bool {
        self.conditions.iter().all(|(key, accepted)| {
            // A NULL attribute is left out of the encoding and matches nothing.
            let Some((_, v)) = attrs.iter().find(|(k, _)| k == key) else { return false };
            match (accepted, *v) {
                (Accepted::Text(set), AttrValue::String(s)) => set.contains(s),
                (Accepted::Int(set), AttrValue::Int(n)) => set.contains(&n),
                (Accepted::Number(set), AttrValue::Double(d)) => set.contains(&(d + 0.0).to_bits()),
                (Accepted::Number(set), AttrValue::Float(f)) => set.contains(&(f64::from(f) + 0.0).to_bits()),
                (Accepted::Bool(set), AttrValue::Bool(b)) => set.contains(&b),
                _ => false,
            }
        })
    }
}

/// Adds to `points` the stored points of `pyramid` within `tile` plus
/// `margin` (a fraction of the tile's width) that match `filter`. Must be
/// called while connected to SPI.
pub fn read(
    plan: &LayerPlan,
    pyramid: &PyramidPlan,
    tile: TileCoord,
    margin: f64,
    filter: &ResolvedFilter,
    points: &mut PointSet,
) -> SqlResult<()> {
    let query = pyramid.points_plan(&plan.postgis_schema)?;
    let b = tile.mercator_bounds(margin);
    let args: Vec<Option<pg_sys::Datum>> = [b.xmin, b.ymin, b.xmax, b.ymax].iter().map(|a| a.into_datum()).collect();
    // The same box in world units (y down), to test each point.
    let n = f64::from(1u32 << tile.z);
    let pad = margin / n;
    let (wx0, wy0) = (f64::from(tile.x) / n - pad, f64::from(tile.y) / n - pad);
    let (wx1, wy1) = (f64::from(tile.x + 1) / n + pad, f64::from(tile.y + 1) / n + pad);
    let matcher = Matcher::new(plan, filter);
    let wanted: Vec<bool> = (0..plan.attributes.len() as u32)
        .map(|i| points.needs(i) || matcher.conditions.iter().any(|(k, _)| *k == i))
        .collect();
    let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::new();
    let mut malformed = false;
    for_each_row(&query, &args, true, 5, |values, nulls| {
        if nulls.iter().any(|&n| n) {
            malformed = true;
            return;
        }
        // SAFETY: the columns are int4 and four bytea.
        unsafe {
            let count = values[0].value() as i32 as usize;
            let (xy, ids, blob, ends) = (
                varlena_bytes(values[1]),
                varlena_bytes(values[2]),
                varlena_bytes(values[3]),
                varlena_bytes(values[4]),
            );
            if xy.len() != count * 16 || ids.len() != count * 9 || ends.len() != count * 4 {
                malformed = true;
                return;
            }
            let mut start = 0usize;
            for k in 0..count {
                let end = u32::from_le_bytes(ends[k * 4..k * 4 + 4].try_into().expect("4 bytes")) as usize;
                let x = f64::from_le_bytes(xy[k * 16..k * 16 + 8].try_into().expect("8 bytes"));
                let y = f64::from_le_bytes(xy[k * 16 + 8..k * 16 + 16].try_into().expect("8 bytes"));
                let this = start..end;
                start = end;
                if !(x >= wx0 && x <= wx1 && y >= wy0 && y <= wy1) {
                    continue;
                }
                let Some(encoded) = blob.get(this) else {
                    malformed = true;
                    return;
                };
                // Only what the filter and the clustering read is decoded;
                // the rest is copied as it is.
                if !props::decode_some(encoded, |key| wanted.get(key as usize).copied().unwrap_or(false), &mut attrs) {
                    malformed = true;
                    return;
                }
                if !matcher.accepts(&attrs) {
                    continue;
                }
                let id = (ids[k * 9] == 1)
                    .then(|| i64::from_le_bytes(ids[k * 9 + 1..k * 9 + 9].try_into().expect("8 bytes")));
                points.push_encoded(id, x, y, &attrs, Some(encoded));
            }
        }
    });
    if malformed {
        return Err(derived::malformed(Kind::Pyramid, &plan.name, "points"));
    }
    Ok(())
}
