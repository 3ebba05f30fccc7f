//! `gridkit.cluster_refresh`: builds a layer's cluster pyramid and swaps it in.
//!
//! The points and the layer's data version are read in one snapshot, so the
//! pyramid records exactly the version it describes. The pyramid goes into
//! new tables (one row per cluster or lone point per zoom, a partial GiST
//! index per zoom; the points' ids in depth-first order, in chunks), then
//! `gridkit.pyramid` is pointed at them. Readers keep using the previous
//! tables until this transaction commits and are never blocked; tables of
//! earlier builds are dropped once no one holds them.
//!
//! Pyramid tables are members of the extension: derived data, so pg_dump
//! leaves them out (a restored database rebuilds them with a refresh) and
//! DROP EXTENSION takes them along.

use std::time::Instant;

use gridkit_cluster::{world_to_mercator, ClusterId, Pyramid};
use gridkit_mvt::{AttrValue, SourceCrs};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

use super::points::PointSet;
use super::tile::params;
use crate::derived::{self, Kind};
use crate::error::*;
use crate::layers::plan::{AttrKind, LayerPlan};
use crate::rows::varlena_bytes;
use crate::tile::decode_attributes;

/// Rows per INSERT while writing a pyramid.
const WRITE_CHUNK: usize = 20_000;
/// Ids per row of a leaves table.
pub const LEAF_CHUNK: u32 = 1024;

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
        let partitions = points.take_partitions();
        let codes = partitions.as_ref().map(|p| p.build_codes());
        let build = derived::next_build(client)?;
        let storage = format!("gridkit.pyramid_{build}");
        let leaves = format!("gridkit.pyramid_{build}_leaves");
        let store = format!("gridkit.pyramid_{build}_points");
        let postgis = &plan.postgis_schema;
        // Clustering and aggregates are pure Rust: they run on a second core
        // while this one writes the packed points (SPI stays on the
        // backend's own thread).
        let params = params(c, 0, c.options.max_zoom);
        let inputs = points.take_inputs();
        let (clustered, written) = std::thread::scope(|scope| {
            let clustering = scope.spawn(|| {
                Pyramid::build(&points.xy, codes.as_deref(), params).map(|pyramid| {
                    let summaries = inputs.summarize(&pyramid, partitions);
                    (pyramid, summaries)
                })
            });
            let written = super::store::write(client, &store, postgis, &points, plan.attributes.len());
            (clustering.join(), written)
        });
        written?;
        let (pyramid, summaries) = clustered
            .map_err(|_| SqlError::new(ERRCODE_INTERNAL_ERROR, "clustering failed"))?
            .map_err(|e| SqlError::new(ERRCODE_INTERNAL_ERROR, e.to_string()))?;
        phases.mark("cluster, aggregate and write points");

        client.update(
            &format!(
                "CREATE TABLE {storage} (
                    level          int2 NOT NULL,
                    cluster_id     int8,
                    source_id      int8,
                    point_count    int4 NOT NULL,
                    expansion_zoom int2,
                    x              float8 NOT NULL,
                    y              float8 NOT NULL,
                    part           text,
                    props          bytea NOT NULL,
                    geom           {postgis}.geometry(Point, 3857) NOT NULL
                 );
                 CREATE TABLE {leaves} (chunk int4 PRIMARY KEY, ids int8[] NOT NULL);
                 -- 8 kB of ids compress poorly; pglz would cost more than the build.
                 ALTER TABLE {leaves} ALTER COLUMN ids SET STORAGE EXTERNAL;"
            ),
            None,
            &[],
        )?;

        // One row per node per zoom it shows at.
        let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();
        let mut rows = Rows::default();
        let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::new();
        let mut encoded = Vec::new();
        for z in 0..=c.options.max_zoom {
            for &node in pyramid.level(z) {
                let n = &pyramid.nodes[node as usize];
                let (x, y) = world_to_mercator(n.x, n.y);
                let first_leaf = pyramid.leaf_order[n.leaf_lo as usize] as usize;
                encoded.clear();
                if pyramid.is_cluster(node) {
                    summaries.cluster_attrs(node as usize, first_leaf, &kinds, &mut attrs);
                    gridkit_mvt::props::encode(&attrs, &mut encoded);
                    rows.push(Row {
                        level: i16::from(z),
                        cluster_id: Some(ClusterId::new(build, n.leaf_lo, n.zoom).to_i64()),
                        source_id: None,
                        count: n.count as i32,
                        expansion_zoom: Some(i16::from(n.zoom) + 1),
                        x,
                        y,
                        part: summaries.partition_text(first_leaf),
                        props: encoded.clone(),
                    });
                } else {
                    rows.push(Row {
                        level: i16::from(z),
                        cluster_id: None,
                        source_id: points.ids[node as usize],
                        count: 1,
                        expansion_zoom: None,
                        x,
                        y,
                        part: summaries.partition_text(first_leaf),
                        props: points.props(node as usize).to_vec(),
                    });
                }
                if rows.len() >= WRITE_CHUNK {
                    rows.write(client, &storage, postgis)?;
                }
            }
        }
        rows.write(client, &storage, postgis)?;
        phases.mark("write clusters");
        let leaf_ids: Vec<Option<i64>> = pyramid.leaf_order.iter().map(|&i| points.ids[i as usize]).collect();
        // Slices of one array, in chunk order: no sort, no aggregate.
        client.update(
            &format!(
                "INSERT INTO {leaves} (chunk, ids)
                 SELECT c, a.ids[c * {LEAF_CHUNK} + 1 : (c + 1) * {LEAF_CHUNK}]
                   FROM (SELECT $1::int8[] AS ids) a,
                        pg_catalog.generate_series(0, (pg_catalog.cardinality($1::int8[]) - 1) / {LEAF_CHUNK}) AS c"
            ),
            None,
            &[leaf_ids.into()],
        )?;
        phases.mark("write leaves");
        let mut ddl = String::new();
        for z in 0..=c.options.max_zoom {
            ddl.push_str(&format!(
                "CREATE INDEX pyramid_{build}_z{z} ON {storage} USING gist (geom) WHERE level = {z};\n"
            ));
        }
        ddl.push_str(&format!(
            "CREATE INDEX pyramid_{build}_cluster ON {storage} (cluster_id) WHERE cluster_id IS NOT NULL;
             ANALYZE {storage} (level, cluster_id, part);"
        ));
        client.update(&ddl, None, &[])?;
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

/// Reads every point of the layer's source and the layer's data version, in
/// one snapshot.
fn read_points(plan: &LayerPlan) -> SqlResult<(PointSet, i64)> {
    let c = plan.cluster.as_ref().expect("clustered layer");
    let crs = plan.crs.unwrap_or(SourceCrs::WebMercator);
    let mut points = PointSet::new(c, crs);
    let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();
    let mut attrs = Vec::with_capacity(kinds.len());
    let version = derived::read_source(plan, "", 2 + kinds.len(), |values, nulls| {
        // SAFETY: columns are int8 (id), bytea, then the attributes by kind.
        unsafe {
            let id = (!nulls[0]).then(|| values[0].value() as i64);
            let wkb = (!nulls[1]).then(|| varlena_bytes(values[1]));
            decode_attributes(&kinds, &values[2..], &nulls[2..], &mut attrs);
            points.push(id, wkb, &attrs);
        }
    })?;
    Ok((points, version))
}

struct Row {
    level: i16,
    cluster_id: Option<i64>,
    source_id: Option<i64>,
    count: i32,
    expansion_zoom: Option<i16>,
    x: f64,
    y: f64,
    part: Option<String>,
    props: Vec<u8>,
}

/// Pyramid rows gathered column by column, written in chunks.
#[derive(Default)]
struct Rows {
    level: Vec<i16>,
    cluster_id: Vec<Option<i64>>,
    source_id: Vec<Option<i64>>,
    count: Vec<i32>,
    expansion_zoom: Vec<Option<i16>>,
    x: Vec<f64>,
    y: Vec<f64>,
    part: Vec<Option<String>>,
    props: Vec<Vec<u8>>,
}

impl Rows {
    fn len(&self) -> usize {
        self.level.len()
    }

    fn push(&mut self, r: Row) {
        self.level.push(r.level);
        self.cluster_id.push(r.cluster_id);
        self.source_id.push(r.source_id);
        self.count.push(r.count);
        self.expansion_zoom.push(r.expansion_zoom);
        self.x.push(r.x);
        self.y.push(r.y);
        self.part.push(r.part);
        self.props.push(r.props);
    }

    fn write(&mut self, client: &mut SpiClient<'_>, storage: &str, postgis: &str) -> SqlResult<()> {
        if self.len() == 0 {
            return Ok(());
        }
        let rows = std::mem::take(self);
        client.update(
            &format!(
                "INSERT INTO {storage} (level, cluster_id, source_id, point_count, expansion_zoom, x, y, part, props, geom)
                 SELECT l, c, s, n, e, x, y, p, b, {postgis}.st_setsrid({postgis}.st_makepoint(x, y), 3857)
                   FROM unnest($1::int2[], $2::int8[], $3::int8[], $4::int4[], $5::int2[],
                                          $6::float8[], $7::float8[], $8::text[], $9::bytea[])
                        AS u(l, c, s, n, e, x, y, p, b)"
            ),
            None,
            &[
                rows.level.into(),
                rows.cluster_id.into(),
                rows.source_id.into(),
                rows.count.into(),
                rows.expansion_zoom.into(),
                rows.x.into(),
                rows.y.into(),
                rows.part.into(),
                rows.props.into(),
            ],
        )?;
        Ok(())
    }
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
