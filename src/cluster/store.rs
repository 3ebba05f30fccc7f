//! The points of a pyramid build, packed for filtered tiles.
//!
//! A filter on anything but the partition attribute is clustered on the fly
//! at the tile's zoom. Reading those points from the source costs a heap
//! fetch and a tuple per point, which for a low-zoom tile of a large layer
//! is most of its time (measured in BENCHMARKS.md). The build writes the same
//! points once more, packed: a quadtree of chunks of at most
//! [`CHUNK_POINTS`] points, each one row of arrays (positions, ids, and
//! the attributes column by column, see `gridkit_attrs::columns`) with its
//! cell's box under a GiST index. A tile
//! reads the positions and columns of the few chunks around it, tests the
//! filter once per distinct value of a chunk and then by code, clusters,
//! and fetches ids and attributes only for the points left standing alone
//! (few: at low zoom almost every point is in a cluster). Filtered tiles so
//! show the same build as unfiltered ones: a stale pyramid serves both
//! until refreshed.

use gridkit_attrs::columns::{Column, Columns, ColumnsWriter, NULL_CODE};
use gridkit_attrs::props;
use gridkit_cluster::{quadtree, world_to_mercator};
use gridkit_mvt::{AttrValue, TileCoord};
use pgrx::itemptr::item_pointer_get_both;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use rustc_hash::FxHashMap;

use super::layout;
use crate::derived::{self, Kind};
use crate::error::*;
use crate::layers::plan::{LayerPlan, PyramidPlan};
use crate::pg::rows::{for_each_row, varlena_bytes};
use gridkit_cluster::points::{Input, PointSet};
use gridkit_options::filter::TypedFilter;

/// Most points per chunk: a chunk is read whole, so small chunks keep
/// deep tiles cheap; large ones keep the row count low. (Below
/// `columns::MAX_FEATURES`.)
pub const CHUNK_POINTS: usize = 4096;
/// Chunks per INSERT.
const WRITE_CHUNKS: usize = 256;

/// Creates `table` and fills it with `points`' chunks. Must be called while
/// connected to SPI. `points` are in quadtree order
/// ([`PointSet::spatial_order`]), `keys` their Morton keys;
/// `attribute_count` is the layer's number of attributes.
pub fn write(
    client: &mut SpiClient<'_>,
    table: &str,
    postgis: &str,
    points: &PointSet,
    keys: &[u64],
    attribute_count: usize,
) -> SqlResult<()> {
    client.update(&layout::points_create_sql(table, postgis), None, &[])?;
    // One writer for all chunks: its tables keep their room.
    let mut writer = ColumnsWriter::new(attribute_count);
    let mut rows = ChunkRows::default();
    // Each quadtree cell is a run of the sorted points.
    let mut cells = Vec::new();
    quadtree::cells(keys, CHUNK_POINTS, &mut cells);
    for (cell, range) in cells {
        rows.push(points, cell, range, &mut writer);
        if rows.len() >= WRITE_CHUNKS {
            rows.write(client, table, postgis)?;
        }
    }
    rows.write(client, table, postgis)?;
    client.update(&layout::points_index_sql(table), None, &[])?;
    Ok(())
}

/// Packed chunks waiting to be written, column by column.
#[derive(Default)]
struct ChunkRows {
    /// Cell corners in Web Mercator: xmin, ymin, xmax, ymax.
    boxes: Vec<[f64; 4]>,
    n: Vec<i32>,
    xy: Vec<Vec<u8>>,
    ids: Vec<Vec<u8>>,
    columns: Vec<Vec<u8>>,
}

impl ChunkRows {
    fn len(&self) -> usize {
        self.n.len()
    }

    fn push(&mut self, points: &PointSet, cell: [f64; 4], members: std::ops::Range<usize>, writer: &mut ColumnsWriter) {
        let (ax, ay) = world_to_mercator(cell[0], cell[3]);
        let (bx, by) = world_to_mercator(cell[2], cell[1]);
        self.boxes.push([ax, ay, bx, by]);
        self.n.push(members.len() as i32);
        let mut xy = Vec::with_capacity(members.len() * 16);
        let mut ids = Vec::with_capacity(members.len() * 9);
        for i in members {
            let p = points.xy[i];
            xy.extend(p[0].to_le_bytes());
            xy.extend(p[1].to_le_bytes());
            // A presence byte, then the id: a NULL id stays NULL.
            match points.ids[i] {
                Some(id) => {
                    ids.push(1);
                    ids.extend(id.to_le_bytes());
                }
                None => ids.extend([0u8; 9]),
            }
            let encoded = writer.push_encoded(points.props(i));
            debug_assert!(encoded, "encoded by this build a moment ago");
        }
        let mut columns = Vec::new();
        writer.finish(&mut columns);
        self.xy.push(xy);
        self.ids.push(ids);
        self.columns.push(columns);
    }

    fn write(&mut self, client: &mut SpiClient<'_>, table: &str, postgis: &str) -> SqlResult<()> {
        if self.n.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(self);
        let corner = |k: usize| rows.boxes.iter().map(|b| b[k]).collect::<Vec<f64>>();
        client.update(
            &layout::points_insert_sql(table, postgis),
            None,
            &[
                corner(0).into(),
                corner(1).into(),
                corner(2).into(),
                corner(3).into(),
                rows.n.into(),
                rows.xy.into(),
                rows.ids.into(),
                rows.columns.into(),
            ],
        )?;
        Ok(())
    }
}

/// Where the points [`read`] added came from, to fetch the ids and
/// attributes of those that end up alone ([`details`]).
#[derive(Default)]
pub struct Origins {
    /// The chunks read, by (block, offset) of their row.
    chunks: Vec<(u32, u16)>,
    /// Per point added: its chunk (index into `chunks`) and place in it.
    points: Vec<(u32, u16)>,
}

/// A row of the points store as both reading queries select it
/// (`layout::CHUNK_COLUMNS`): the row's address, the chunk's point count
/// and two bytea columns; `None` if any is NULL (the store's columns are NOT
/// NULL: a malformed store).
/// One stored chunk: the row's (block, offset), its chunk number and its two byte columns.
type ChunkRow<'a> = ((u32, u16), usize, &'a [u8], &'a [u8]);

/// # Safety
/// `values` must hold a tid, an int4 and two bytea, in that order.
unsafe fn chunk_row<'a>(values: &[pg_sys::Datum], nulls: &[bool]) -> Option<ChunkRow<'a>> {
    // SAFETY: the caller guarantees the column types (tid, int4, bytea, bytea).
    unsafe {
        if nulls.iter().any(|&n| n) {
            return None;
        }
        Some((
            item_pointer_get_both(*values[0].cast_mut_ptr::<pg_sys::ItemPointerData>()),
            values[1].value() as i32 as usize,
            varlena_bytes(values[2]),
            varlena_bytes(values[3]),
        ))
    }
}

/// Adds to `points` the stored points of `pyramid` within `tile` plus
/// `margin` (a fraction of the tile's width) that match `filter`, without
/// their ids and attributes (see [`details`]). Must be called while
/// connected to SPI.
pub fn read(
    plan: &LayerPlan,
    pyramid: &PyramidPlan,
    tile: TileCoord,
    margin: f64,
    filter: &TypedFilter,
    points: &mut PointSet,
) -> SqlResult<Origins> {
    let query = pyramid.points_plan(&plan.postgis_schema)?;
    let b = tile.mercator_bounds(margin);
    let args: Vec<Option<pg_sys::Datum>> = [b.xmin, b.ymin, b.xmax, b.ymax].iter().map(|a| a.into_datum()).collect();
    // The same box in world units (y down), to test each point.
    let n = f64::from(1u32 << tile.z);
    let pad = margin / n;
    let (wx0, wy0) = (f64::from(tile.x) / n - pad, f64::from(tile.y) / n - pad);
    let (wx1, wy1) = (f64::from(tile.x + 1) / n + pad, f64::from(tile.y + 1) / n + pad);
    let inputs: Vec<usize> = points.input_attributes().collect();
    let attribute_count = plan.attributes.len();
    let mut origins = Origins::default();
    let mut resolved: Vec<Input> = Vec::with_capacity(inputs.len());
    let mut malformed = false;
    let mut reserved = false;
    for_each_row(&query, &args, true, &layout::BOX_COLUMNS, |values, nulls| {
        if !reserved {
            // Room for every point of the chunks at once: growing by
            // doubling copied the points into fresh memory several times
            // (the page faults were a fifth of a large tile's time).
            // SAFETY: the fifth column is the chunks' total count (int8).
            let total = if nulls[4] { 0 } else { values[4].value() as i64 };
            let total = usize::try_from(total).unwrap_or(0);
            points.reserve(total);
            origins.points.reserve_exact(total);
            reserved = true;
        }
        // SAFETY: the columns are `layout::BOX_COLUMNS` (checked at start): ctid, n, xy, columns, then the total.
        let row = if malformed { None } else { unsafe { chunk_row(values, nulls) } };
        let Some((ctid, count, xy, columns)) = row else {
            malformed = true;
            return;
        };
        let Some(columns) = Columns::parse(columns, attribute_count, count).filter(|_| xy.len() == count * 16) else {
            malformed = true;
            return;
        };
        // Each condition decided once per distinct value of the chunk.
        let mut tests: Vec<(Column<'_>, Vec<bool>)> = Vec::new();
        for (attribute, accepted) in filter.filtered() {
            let Some(column) = columns.column(attribute) else {
                malformed = true;
                return;
            };
            let pass = column.values.iter().map(|v| accepted.matches(v)).collect();
            tests.push((column, pass));
        }
        // Each input resolved once per distinct value, NULL included.
        let mut slots: Vec<(Column<'_>, Vec<Input>, Input)> = Vec::with_capacity(inputs.len());
        for (slot, &attribute) in inputs.iter().enumerate() {
            let Some(column) = columns.column(attribute) else {
                malformed = true;
                return;
            };
            let by_code = column.values.iter().map(|v| points.resolve(slot, Some(v))).collect();
            let null = points.resolve(slot, None);
            slots.push((column, by_code, null));
        }
        let chunk = origins.chunks.len() as u32;
        origins.chunks.push((ctid.0, ctid.1));
        for k in 0..count {
            let x = f64::from_le_bytes(xy[k * 16..k * 16 + 8].try_into().expect("8 bytes"));
            let y = f64::from_le_bytes(xy[k * 16 + 8..k * 16 + 16].try_into().expect("8 bytes"));
            if !(x >= wx0 && x <= wx1 && y >= wy0 && y <= wy1) {
                continue;
            }
            // A NULL attribute matches nothing.
            if !tests.iter().all(|(column, pass)| {
                let c = column.code(k);
                c != NULL_CODE && pass[usize::from(c)]
            }) {
                continue;
            }
            resolved.clear();
            resolved.extend(slots.iter().map(|(column, by_code, null)| match column.code(k) {
                NULL_CODE => *null,
                c => by_code[usize::from(c)],
            }));
            points.push_resolved(x, y, &resolved);
            origins.points.push((chunk, k as u16));
        }
    });
    if malformed {
        return Err(derived::malformed(Kind::Pyramid, &plan.name, "points"));
    }
    Ok(origins)
}

/// The ids and encoded attributes of some points [`read`] added.
pub struct Details {
    pub ids: Vec<Option<i64>>,
    props: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl Details {
    /// The encoded attributes of the `i`th point asked for.
    pub fn props(&self, i: usize) -> &[u8] {
        &self.props[self.ranges[i].clone()]
    }
}

/// Fetches the ids and attributes of points `which` (indexes of the points
/// `read` added, as `origins` records them), in that order. Must be called
/// while connected to SPI, in the snapshot of the `read`.
pub fn details(plan: &LayerPlan, pyramid: &PyramidPlan, origins: &Origins, which: &[usize]) -> SqlResult<Details> {
    // Per chunk wanted: (place in chunk, position in `which`).
    let mut wanted: FxHashMap<(u32, u16), Vec<(u16, usize)>> = FxHashMap::default();
    for (pos, &i) in which.iter().enumerate() {
        let (chunk, k) = origins.points[i];
        wanted.entry(origins.chunks[chunk as usize]).or_default().push((k, pos));
    }
    let mut found: Vec<Option<(Option<i64>, std::ops::Range<usize>)>> = vec![None; which.len()];
    let mut props = Vec::new();
    if !wanted.is_empty() {
        let query = pyramid.details_plan()?;
        let tids: Vec<pg_sys::ItemPointerData> = wanted
            .keys()
            .map(|&(block, offset)| {
                let mut tid = pg_sys::ItemPointerData::default();
                pgrx::itemptr::item_pointer_set_all(&mut tid, block, offset);
                tid
            })
            .collect();
        let attribute_count = plan.attributes.len();
        let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::with_capacity(attribute_count);
        let mut malformed = false;
        for_each_row(&query, &[tids.into_datum()], true, &layout::CHUNK_COLUMNS, |values, nulls| {
            // SAFETY: `details_plan` selects ctid, n, ids, columns.
            let row = if malformed { None } else { unsafe { chunk_row(values, nulls) } };
            let Some((ctid, count, ids, columns)) = row else {
                malformed = true;
                return;
            };
            let Some(places) = wanted.get(&ctid) else { return };
            let columns = Columns::parse(columns, attribute_count, count);
            let columns: Option<Vec<Column<'_>>> =
                columns.and_then(|c| (0..attribute_count).map(|a| c.column(a)).collect());
            let (Some(columns), true) = (columns, ids.len() == count * 9) else {
                malformed = true;
                return;
            };
            for &(k, pos) in places {
                let k = usize::from(k);
                if k >= count {
                    malformed = true;
                    return;
                }
                attrs.clear();
                for (a, column) in columns.iter().enumerate() {
                    let c = column.code(k);
                    if c != NULL_CODE {
                        attrs.push((a as u32, column.values[usize::from(c)]));
                    }
                }
                let id = (ids[k * 9] == 1)
                    .then(|| i64::from_le_bytes(ids[k * 9 + 1..k * 9 + 9].try_into().expect("8 bytes")));
                let at = props.len();
                props::encode(&attrs, &mut props);
                found[pos] = Some((id, at..props.len()));
            }
        });
        if malformed {
            return Err(derived::malformed(Kind::Pyramid, &plan.name, "points"));
        }
    }
    // Every chunk read is still there (this snapshot, a table no one writes).
    let Some(found) = found.into_iter().collect::<Option<Vec<_>>>() else {
        return Err(derived::malformed(Kind::Pyramid, &plan.name, "points"));
    };
    let (ids, ranges) = found.into_iter().unzip();
    Ok(Details { ids, props, ranges })
}
