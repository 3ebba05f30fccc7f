//! `gridkit.cluster_refresh`: builds a layer's cluster pyramid and swaps it in.
//!
//! The points and the layer's data version are read in one snapshot, so the
//! pyramid records exactly the version it describes. The pyramid goes into
//! new tables (one row per cluster or lone point, partitioned by zoom, a
//! GiST index per partition; the points' ids in depth-first order, in
//! chunks), then
//! `gridkit.pyramid` is pointed at them. Readers keep using the previous
//! tables until this transaction commits and are never blocked; tables of
//! earlier builds are dropped once no one holds them.
//!
//! Pyramid tables are members of the extension: derived data, so pg_dump
//! leaves them out (a restored database rebuilds them with a refresh) and
//! DROP EXTENSION takes them along.

use std::time::Instant;

use gridkit_attrs::props;
use gridkit_cluster::{world_to_mercator, ClusterId, Pyramid};
use gridkit_mvt::{gserialized, AttrValue, SourceCrs};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

use super::tile::params;
use crate::derived::{self, Kind};
use crate::error::*;
use crate::layers::plan::{AttrKind, LayerPlan};
use crate::pg::copy_in::copy_rows;
use crate::pg::rows::{varlena_bytes, Col};
use crate::tiles::render::encode_attributes;
use gridkit_cluster::points::{gather, EncodedAttributes, PointSet};

use super::layout;

/// Rebuilds the pyramid of `layer`; returns the number of points clustered.
pub fn refresh(layer: &str) -> SqlResult<i64> {
    let started = Instant::now();
    Spi::connect_mut(|client| -> SqlResult<i64> {
        let plan = derived::begin(client, Kind::Pyramid, layer)?;
        let Some(c) = plan.cluster.as_ref() else {
            return Err(not_clustered(layer));
        };

        let mut phases = derived::Phases::start(format!("cluster_refresh('{layer}')"));
        let (mut points, version) = read_points(&plan)?;
        phases.mark("read");
        let (keys, order) = points.spatial_order();
        points.reorder_positions(&order);
        phases.mark("quadtree order");
        let partitions = points.take_partitions();
        let codes = partitions.as_ref().map(|p| p.build_codes());
        let build = derived::next_build(client)?;
        let storage = format!("gridkit.pyramid_{build}");
        let leaves = format!("gridkit.pyramid_{build}_leaves");
        let store = format!("gridkit.pyramid_{build}_points");
        let postgis = &plan.postgis_schema;
        // Clustering and aggregates are pure Rust: they run on a second core
        // while this one puts ids and attributes in the same order and
        // writes the packed points (SPI stays on the backend's own thread).
        let params = params(c, 0, c.options.max_zoom);
        let inputs = points.take_inputs();
        let (clustered, written) = std::thread::scope(|scope| {
            let xy = &points.xy;
            let clustering = scope.spawn(|| {
                Pyramid::build(xy, codes.as_deref(), params).map(|pyramid| {
                    let summaries = inputs.summarize(&pyramid, partitions);
                    (pyramid, summaries)
                })
            });
            points.ids = gather(&points.ids, &order);
            points.attributes.reorder(&order);
            let written = super::store::write(client, &store, postgis, &points, &keys, plan.attributes.len());
            (clustering.join(), written)
        });
        written?;
        let (pyramid, summaries) = clustered
            .map_err(|_| SqlError::new(ERRCODE_INTERNAL_ERROR, "clustering failed"))?
            .map_err(|e| SqlError::new(ERRCODE_INTERNAL_ERROR, e.to_string()))?;
        phases.mark("cluster, aggregate and write points");

        client.update(&layout::create_sql(&storage, &leaves, postgis), None, &[])?;
        for z in 0..=c.options.max_zoom {
            derived::create_zoom_partition(client, &storage, z)?;
        }
        client.update(
            &format!(
                "-- The planner needs the levels' sizes and the partitions' values, no
                 -- fine histograms: a 3,000-row sample instead of 30,000.
                 ALTER TABLE {storage} ALTER COLUMN level SET STATISTICS 10,
                                       ALTER COLUMN cluster_id SET STATISTICS 10,
                                       ALTER COLUMN part SET STATISTICS 10;"
            ),
            None,
            &[],
        )?;

        // One row per node per zoom it shows at.
        let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();
        let rows: Vec<(u8, u32)> =
            (0..=c.options.max_zoom).flat_map(|z| pyramid.level(z).iter().map(move |&node| (z, node))).collect();
        let relid = derived::created_table(client, &storage)?;
        let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::new();
        let mut encoded = Vec::new();
        copy_rows(relid, &layout::COLUMNS, rows.len(), &mut |i, row| {
            let (z, node) = rows[i];
            let n = &pyramid.nodes[node as usize];
            let first_leaf = pyramid.leaf_order[n.leaf_lo as usize] as usize;
            row.int2(i16::from(z));
            let attributes = if pyramid.is_cluster(node) {
                row.int8(ClusterId::new(build, n.leaf_lo, n.zoom).to_i64());
                row.null();
                row.int4(n.count as i32);
                row.int2(i16::from(n.zoom) + 1);
                summaries.cluster_attrs(node as usize, first_leaf, &kinds, &mut attrs);
                encoded.clear();
                props::encode(&attrs, &mut encoded);
                &encoded[..]
            } else {
                row.null();
                match points.ids[node as usize] {
                    Some(id) => row.int8(id),
                    None => row.null(),
                }
                row.int4(1);
                row.null();
                points.props(node as usize)
            };
            let (x, y) = world_to_mercator(n.x, n.y);
            row.float8(x);
            row.float8(y);
            match summaries.partition_text(first_leaf) {
                Some(part) => row.bytes(part.as_bytes()),
                None => row.null(),
            }
            row.bytes(attributes);
            row.ewkb_point(x, y, 3857);
        })?;
        phases.mark("write clusters");
        let leaf_ids: Vec<Option<i64>> = pyramid.leaf_order.iter().map(|&i| points.ids[i as usize]).collect();
        client.update(&layout::leaves_insert_sql(&leaves), None, &[leaf_ids.into()])?;
        phases.mark("write leaves");
        client.update(
            &format!(
                "CREATE INDEX pyramid_{build}_geom ON {storage} USING gist (geom);
                 CREATE INDEX pyramid_{build}_cluster ON {storage} (cluster_id) WHERE cluster_id IS NOT NULL;
                 ANALYZE {storage} (level, cluster_id, part);"
            ),
            None,
            &[],
        )?;
        derived::adopt_tables(
            client,
            &[&storage, &leaves, &store],
            &format!("gridkit: cluster pyramid of layer {layer} (build {build})"),
        )?;

        phases.mark("index");
        swap(client, layer, build, [&storage, &leaves, &store], version, started, &points, &pyramid)?;
        derived::finish(client)?;
        phases.mark("swap");
        phases.report();
        Ok(points.len() as i64)
    })
}

pub fn not_clustered(layer: &str) -> SqlError {
    SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("layer \"{layer}\" is not clustered"))
        .hint("Register it with options => '{\"cluster\": {...}}'.")
}

/// Rows per batch handed from the reading thread to the one making points.
const READ_BATCH: usize = 8192;

/// Reads every point of the layer's source and the layer's data version, in
/// one snapshot.
///
/// The backend's thread only copies each row out of the executor (SPI
/// stays on it); a second thread checks the text, projects the points and
/// resolves the aggregates' inputs meanwhile, a batch of rows at a time.
fn read_points(plan: &LayerPlan) -> SqlResult<(PointSet, i64)> {
    let c = plan.cluster.as_ref().expect("clustered layer");
    let crs = plan.crs.unwrap_or(SourceCrs::WebMercator);
    let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();
    let mut points = PointSet::new(&c.aggregates, c.partition, crs);
    std::thread::scope(|scope| {
        // The sender is this closure's: an error while reading drops it, so
        // the other thread's loop ends and the scope can join it.
        let (send, receive) = std::sync::mpsc::sync_channel::<RowBatch>(8);
        let making = scope.spawn(move || {
            for batch in receive {
                let mut attrs = Vec::new();
                for i in 0..batch.ids.len() {
                    let encoded = batch.attributes.get(i);
                    if props::decode(encoded, &mut attrs) {
                        points.push_coordinates(batch.ids[i], batch.xy[i], &attrs, Some(encoded));
                    } else if let Some(repaired) = props::repair_text(encoded) {
                        let mut repaired_attrs = Vec::new();
                        props::decode(&repaired, &mut repaired_attrs);
                        points.push_coordinates(batch.ids[i], batch.xy[i], &repaired_attrs, Some(&repaired));
                    }
                }
            }
            points
        });
        let mut batch = RowBatch::default();
        let columns: Vec<Col> = [Col::Int8, Col::Varlena]
            .into_iter()
            .chain(kinds.iter().map(|k| crate::layers::plan::read_as(*k)))
            .collect();
        let read = derived::read_source(plan, &plan.stored_select_list, "", &columns, |values, nulls| {
            // SAFETY: columns are int8 (id), geometry, then the attributes by
            // kind (checked at start).
            unsafe {
                batch.ids.push((!nulls[0]).then(|| values[0].value() as i64));
                batch.xy.push(if nulls[1] { None } else { gserialized::point(varlena_bytes(values[1])) });
                batch.attributes.push(|out| encode_attributes(&kinds, &values[2..], &nulls[2..], out));
            }
            if batch.ids.len() == READ_BATCH {
                // The receiver lives until this sender is dropped.
                let _ = send.send(std::mem::take(&mut batch));
            }
        });
        let _ = send.send(batch);
        drop(send);
        let points = making.join().map_err(|_| SqlError::new(ERRCODE_INTERNAL_ERROR, "reading points failed"))?;
        Ok((points, read?))
    })
}

/// Source rows as read, for the thread that makes them points.
#[derive(Default)]
struct RowBatch {
    ids: Vec<Option<i64>>,
    /// The point in the source's coordinates, if the row has one.
    xy: Vec<Option<[f64; 2]>>,
    attributes: EncodedAttributes,
}

/// Points `gridkit.pyramid` at the new build and retires the previous one.
#[allow(clippy::too_many_arguments)]
fn swap(
    client: &mut SpiClient<'_>,
    layer: &str,
    build: i64,
    [storage, leaves, store]: [&str; 3],
    version: i64,
    started: Instant,
    points: &PointSet,
    pyramid: &Pyramid,
) -> SqlResult<()> {
    // Earlier builds' tables retired before this one may go now; the previous
    // build's tables wait for a later refresh (readers may still open them
    // until this transaction commits).
    derived::retire(client, Kind::Pyramid, layer)?;
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    client.update(
        "INSERT INTO gridkit.pyramid AS p
                (layer, build, storage, leaves, points_store, settings, data_version, built_at, build_ms, points,
                 clusters, skipped)
         VALUES ($1, $2, $3::regclass, $4::regclass, $10::regclass, gridkit._pyramid_settings($1), $5,
                 pg_catalog.clock_timestamp(), $6, $7, $8, $9)
         ON CONFLICT (layer) DO UPDATE SET
             build = EXCLUDED.build, storage = EXCLUDED.storage, leaves = EXCLUDED.leaves,
             points_store = EXCLUDED.points_store,
             settings = EXCLUDED.settings, data_version = EXCLUDED.data_version, built_at = EXCLUDED.built_at,
             build_ms = EXCLUDED.build_ms, points = EXCLUDED.points, clusters = EXCLUDED.clusters,
             skipped = EXCLUDED.skipped",
        None,
        &[
            layer.into(),
            build.into(),
            storage.into(),
            leaves.into(),
            version.into(),
            build_ms.into(),
            (points.len() as i64).into(),
            (pyramid.cluster_count() as i64).into(),
            (points.skipped as i64).into(),
            store.into(),
        ],
    )?;
    Ok(())
}
