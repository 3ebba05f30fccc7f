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
use crate::error::*;
use crate::layers::plan::{AttrKind, LayerPlan};
use crate::layers::registry::unknown_layer;
use crate::layers::tracking;
use crate::rows::{first_value, for_each_row, varlena_bytes, Plan, Planning};
use crate::tile::decode_attributes;

/// Advisory lock class of cluster refreshes ("grid" in ASCII).
const LOCK_CLASS: i32 = 0x6772_6964;
/// Rows per INSERT while writing a pyramid.
const WRITE_CHUNK: usize = 20_000;
/// Ids per row of a leaves table.
pub const LEAF_CHUNK: u32 = 1024;

/// Rebuilds the pyramid of `layer`; returns the number of points clustered.
pub fn refresh(layer: &str) -> SqlResult<i64> {
    let started = Instant::now();
    Spi::connect_mut(|client| -> SqlResult<i64> {
        // One refresh of a layer at a time; its registration holds still.
        client.update(
            "SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))",
            None,
            &[LOCK_CLASS.into(), layer.into()],
        )?;
        if client.update("SELECT 1 FROM gridkit.layer WHERE name = $1 FOR SHARE", None, &[layer.into()])?.is_empty() {
            return Err(unknown_layer(layer));
        }
        let plan = LayerPlan::load(client, layer)?.ok_or_else(|| unknown_layer(layer))?;
        let Some(c) = plan.cluster.as_ref() else {
            return Err(not_clustered(layer));
        };
        tracking::sync(client, layer, plan.relid)?;

        let (mut points, version) = read_points(&plan)?;
        let partitions = points.take_partitions();
        let codes = partitions.as_ref().map(|p| p.build_codes());
        let pyramid = Pyramid::build(&points.xy, codes.as_deref(), params(c, 0, c.options.max_zoom))
            .map_err(|e| SqlError::new(ERRCODE_INTERNAL_ERROR, e.to_string()))?;
        let summaries = points.summarize(&pyramid, partitions);

        let build =
            first_value::<i64>(client, "SELECT pg_catalog.nextval('gridkit.pyramid_build')", &[])?.unwrap_or_default();
        let storage = format!("gridkit.pyramid_{build}");
        let leaves = format!("gridkit.pyramid_{build}_leaves");
        let postgis = &plan.postgis_schema;
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
                 CREATE TABLE {leaves} (chunk int4 PRIMARY KEY, ids int8[] NOT NULL);"
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
        let leaf_ids: Vec<Option<i64>> = pyramid.leaf_order.iter().map(|&i| points.ids[i as usize]).collect();
        client.update(
            &format!(
                "INSERT INTO {leaves} (chunk, ids)
                 SELECT (u.o - 1) / {LEAF_CHUNK}, pg_catalog.array_agg(u.id ORDER BY u.o)
                   FROM pg_catalog.unnest($1::int8[]) WITH ORDINALITY AS u(id, o)
                  GROUP BY 1"
            ),
            None,
            &[leaf_ids.into()],
        )?;
        let mut ddl = String::new();
        for z in 0..=c.options.max_zoom {
            ddl.push_str(&format!(
                "CREATE INDEX pyramid_{build}_z{z} ON {storage} USING gist (geom) WHERE level = {z};\n"
            ));
        }
        ddl.push_str(&format!(
            "CREATE INDEX pyramid_{build}_cluster ON {storage} (cluster_id) WHERE cluster_id IS NOT NULL;
             GRANT SELECT ON {storage}, {leaves} TO PUBLIC;
             ALTER EXTENSION gridkit ADD TABLE {storage};
             ALTER EXTENSION gridkit ADD TABLE {leaves};
             COMMENT ON TABLE {storage} IS 'gridkit: cluster pyramid of layer {} (build {build})';
             ANALYZE {storage};",
            layer.replace('\'', "''")
        ));
        client.update(&ddl, None, &[])?;

        swap(client, layer, build, &storage, &leaves, version, started, &points, &pyramid)?;
        drop_retired(client)?;
        client.update("SELECT gridkit.compact_data_versions()", None, &[])?;
        Ok(points.len() as i64)
    })
}

pub fn not_clustered(layer: &str) -> SqlError {
    SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("layer \"{layer}\" is not clustered"))
        .hint("Register it with options => '{\"cluster\": {...}}'.")
}

/// Reads every point of the layer's source and the layer's data version, in
/// one snapshot (one statement, read with a fresh snapshot so a refresh that
/// waited for another one sees what that one committed).
fn read_points(plan: &LayerPlan) -> SqlResult<(PointSet, i64)> {
    let c = plan.cluster.as_ref().expect("clustered layer");
    let sql = format!(
        // MATERIALIZED: a plain subquery would be pulled up and the version
        // computed once per point.
        "WITH v(version) AS MATERIALIZED (SELECT gridkit.layer_data_version($1))
         SELECT v.version, s.* FROM v LEFT JOIN LATERAL (SELECT true AS present, {} FROM {} AS t) AS s ON true",
        plan.select_list, plan.source
    );
    let read = Plan::prepare(&sql, &[pg_sys::TEXTOID], Planning::Custom, false)?;
    let crs = plan.crs.unwrap_or(SourceCrs::WebMercator);
    let mut points = PointSet::new(c, crs);
    let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();
    let mut attrs = Vec::with_capacity(kinds.len());
    let mut version = 0i64;
    let args = [plan.name.as_str().into_datum()];
    for_each_row(&read, &args, false, 4 + kinds.len(), |values, nulls| {
        // SAFETY: columns are int8 (version), bool, int8 (id), bytea, then the
        // attributes by kind.
        unsafe {
            version = values[0].value() as i64;
            if nulls[1] {
                return; // an empty source
            }
            let id = (!nulls[2]).then(|| values[2].value() as i64);
            let wkb = (!nulls[3]).then(|| varlena_bytes(values[3]));
            decode_attributes(&kinds, &values[4..], &nulls[4..], &mut attrs);
            points.push(id, wkb, &attrs);
        }
    });
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
    storage: &str,
    leaves: &str,
    version: i64,
    started: Instant,
    points: &PointSet,
    pyramid: &Pyramid,
) -> SqlResult<()> {
    // Earlier builds' tables retired before this one may go now; the previous
    // build's tables wait for a later refresh (readers may still open them
    // until this transaction commits).
    retire_pyramid(client, layer)?;
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    client.update(
        "INSERT INTO gridkit.pyramid AS p
                (layer, build, storage, leaves, settings, data_version, built_at, build_ms, points, clusters, skipped)
         VALUES ($1, $2, $3::regclass, $4::regclass, gridkit._pyramid_settings($1), $5,
                 pg_catalog.clock_timestamp(), $6, $7, $8, $9)
         ON CONFLICT (layer) DO UPDATE SET
             build = EXCLUDED.build, storage = EXCLUDED.storage, leaves = EXCLUDED.leaves,
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
        ],
    )?;
    Ok(())
}

/// Records the tables of `layer`'s current pyramid as retired, for a later
/// `drop_retired` (readers may still open them until this transaction commits).
pub fn retire_pyramid(client: &mut SpiClient<'_>, layer: &str) -> SqlResult<()> {
    client.update(
        "INSERT INTO gridkit.retired_relation (relation)
         SELECT r FROM gridkit.pyramid p, LATERAL (VALUES (p.storage::oid), (p.leaves::oid)) AS v(r)
          WHERE p.layer = $1
         ON CONFLICT DO NOTHING",
        None,
        &[layer.into()],
    )?;
    Ok(())
}

/// Drops tables of retired builds that no one holds, except those retired
/// in this transaction.
pub fn drop_retired(client: &mut SpiClient<'_>) -> SqlResult<()> {
    let retired = client.select(
        "SELECT r.relation, c.oid IS NOT NULL,
                pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
           FROM gridkit.retired_relation r
           LEFT JOIN pg_catalog.pg_class c ON c.oid = r.relation
           LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE r.retired_by <> pg_catalog.pg_current_xact_id()",
        None,
        &[],
    )?;
    let mut found: Vec<(pg_sys::Oid, bool, Option<String>)> = Vec::new();
    for row in retired {
        found.push((
            row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::Oid::INVALID),
            row.get::<bool>(2)?.unwrap_or(false),
            row.get::<String>(3)?,
        ));
    }
    for (oid, exists, name) in found {
        if exists {
            // SAFETY: a conditional lock never waits; we keep it to the end of
            // the transaction, as DROP would.
            let locked =
                unsafe { pg_sys::ConditionalLockRelationOid(oid, pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE) };
            if !locked {
                continue; // a reader holds it; a later refresh drops it
            }
            if let Some(name) = name {
                client.update(&format!("ALTER EXTENSION gridkit DROP TABLE {name}; DROP TABLE {name}"), None, &[])?;
            }
        }
        client.update("DELETE FROM gridkit.retired_relation WHERE relation = $1", None, &[oid.into()])?;
    }
    Ok(())
}
