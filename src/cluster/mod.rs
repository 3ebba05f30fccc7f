//! Clustered point layers: the pyramid (build, refresh), clustered tiles and
//! click-through from a cluster to its members.

pub mod build;
pub mod layout;
pub mod store;
pub mod tile;

use gridkit_cluster::ClusterId;
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::error::*;
use crate::layers::cache;
use crate::layers::plan::{LayerPlan, PyramidPlan};
use crate::pg::rows::{for_each_row, Plan, Planning};

/// Builds or rebuilds the cluster pyramid of `layer`; returns the number of
/// points clustered. Readers keep the previous pyramid until this commits.
#[pg_extern(schema = "gridkit", volatile)]
fn cluster_refresh(layer: &str) -> i64 {
    crate::pg::standby::require_primary("gridkit.cluster_refresh").or_raise();
    crate::layers::registry::managing_layer(layer, || build::refresh(layer)).or_raise()
}

type Leaf = (Option<i64>, Option<f64>, Option<f64>, JsonB);

type PyramidRow =
    (Option<i16>, Option<i64>, Option<i64>, Option<i32>, Option<i16>, Option<f64>, Option<f64>, Option<String>);

/// The clusters and lone points of a layer's pyramid, per zoom (x, y in Web
/// Mercator), for a caller that may read every row of the source.
#[allow(clippy::type_complexity)] // pgrx reads the column names from this signature
#[pg_extern(schema = "gridkit", stable)]
fn pyramid_rows(
    layer: &str,
) -> TableIterator<
    'static,
    (
        name!(level, Option<i16>),
        name!(cluster_id, Option<i64>),
        name!(source_id, Option<i64>),
        name!(point_count, Option<i32>),
        name!(expansion_zoom, Option<i16>),
        name!(x, Option<f64>),
        name!(y, Option<f64>),
        name!(part, Option<String>),
    ),
> {
    let mut rows: Vec<PyramidRow> = Vec::new();
    crate::derived::read_build_table(
        layer,
        crate::derived::Kind::Pyramid,
        SqlError::new(ERRCODE_UNDEFINED_OBJECT, format!("layer \"{layer}\" has no cluster pyramid")),
        "the cluster pyramid",
        layout::ROWS_SELECT,
        &layout::ROWS_COLUMNS,
        |v, nulls| {
            let some = |i: usize| (!nulls[i]).then(|| v[i].value());
            rows.push((
                some(0).map(|d| d as i16),
                some(1).map(|d| d as i64),
                some(2).map(|d| d as i64),
                some(3).map(|d| d as i32),
                some(4).map(|d| d as i16),
                some(5).map(|d| f64::from_bits(d as u64)),
                some(6).map(|d| f64::from_bits(d as u64)),
                // SAFETY: part is text.
                (!nulls[7])
                    .then(|| String::from_utf8_lossy(unsafe { crate::pg::rows::varlena_bytes(v[7]) }).into_owned()),
            ));
        },
    )
    .or_raise();
    TableIterator::new(rows)
}

/// The points of cluster `cluster_id` (from a tile of `layer`), in pyramid
/// order, with their current attributes and position.
#[allow(clippy::type_complexity)] // pgrx reads the column names from this signature
#[pg_extern(schema = "gridkit", stable)]
fn cluster_leaves(
    layer: &str,
    cluster_id: i64,
    limit: default!(i32, 100),
    offset: default!(i32, 0),
) -> TableIterator<
    'static,
    (name!(id, Option<i64>), name!(lon, Option<f64>), name!(lat, Option<f64>), name!(attributes, JsonB)),
> {
    TableIterator::new(leaves(layer, cluster_id, limit, offset).or_raise())
}

/// The zoom at which cluster `cluster_id` of `layer` splits into its children.
#[pg_extern(schema = "gridkit", stable)]
fn cluster_expansion_zoom(layer: &str, cluster_id: i64) -> i32 {
    (|| -> SqlResult<i32> {
        let plan = cache::get(layer)?;
        let (_, id, _) = find_cluster(&plan, cluster_id)?;
        Ok(i32::from(id.zoom) + 1)
    })()
    .or_raise()
}

/// The pyramid of a clustered layer, the decoded id and the cluster's size.
fn find_cluster(plan: &LayerPlan, cluster_id: i64) -> SqlResult<(&PyramidPlan, ClusterId, i64)> {
    let layer = &plan.name;
    let c = plan.cluster.as_ref().ok_or_else(|| build::not_clustered(layer))?;
    let pyramid = c.pyramid.as_ref().ok_or_else(|| {
        SqlError::new(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("layer \"{layer}\" has no cluster pyramid for its current settings"),
        )
        .hint(format!("Build it with SELECT gridkit.cluster_refresh('{layer}');"))
    })?;
    plan.access.require_full(layer, "the clusters")?;
    let bad = |m: String| SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, m);
    let id = ClusterId::from_i64(cluster_id).ok_or_else(|| bad(format!("{cluster_id} is not a cluster id")))?;
    if !id.belongs_to_build(pyramid.build) {
        return Err(bad(format!("{cluster_id} is not a cluster of the current pyramid of layer \"{layer}\""))
            .hint("Cluster ids change when the pyramid is rebuilt; fetch the tile again."));
    }
    let count = Spi::connect(|_| -> SqlResult<Option<i32>> {
        let sql = layout::point_count_sql(&pyramid.storage);
        let query = Plan::prepare(&sql, &[pg_sys::INT8OID], Planning::Custom, false)?.run_as(pyramid.owner);
        let mut count = None;
        // SAFETY: point_count is int4 (checked at start), never NULL.
        for_each_row(&query, &[cluster_id.into_datum()], true, &layout::COUNT_COLUMNS, |v, _| {
            count = Some(v[0].value() as i32)
        });
        Ok(count)
    })?
    .ok_or_else(|| bad(format!("layer \"{layer}\" has no cluster {cluster_id}")))?;
    Ok((pyramid, id, i64::from(count)))
}

fn leaves(layer: &str, cluster_id: i64, limit: i32, offset: i32) -> SqlResult<Vec<Leaf>> {
    if !(1..=100_000).contains(&limit) {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("limit must be between 1 and 100000, not {limit}"),
        ));
    }
    if offset < 0 {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("offset must not be negative, not {offset}"),
        ));
    }
    let plan = cache::get(layer)?;
    let (pyramid, id, count) = find_cluster(&plan, cluster_id)?;
    let lo = i64::from(id.leaf_lo) + i64::from(offset);
    let hi = i64::from(id.leaf_lo) + count.min(i64::from(offset) + i64::from(limit));
    if lo >= hi {
        return Ok(Vec::new());
    }
    // The members' ids come from the build's leaves (read as their owner),
    // their rows from the source (read as the caller, who may read it all).
    let ids_sql = layout::member_ids_sql(&pyramid.leaves);
    // Attribute names go in as a parameter: nothing a user named is spliced
    // into the text but quoted identifiers.
    let names: Vec<String> = plan.attributes.iter().map(|a| a.name.clone()).collect();
    let pairs: Vec<String> =
        plan.attributes.iter().enumerate().map(|(i, a)| format!("$2[{}], {}", i + 1, a.column)).collect();
    let json = if pairs.is_empty() {
        "'{}'::jsonb".to_string()
    } else {
        format!("pg_catalog.jsonb_build_object({})", pairs.join(", "))
    };
    let postgis = &plan.postgis_schema;
    // No LATERAL over the source's columns: Citus plans such a join over a
    // distributed table with the lateral side empty.
    let sql = format!(
        "SELECT ids.id, {postgis}.st_x({postgis}.st_transform({geom}, 4326)),
                {postgis}.st_y({postgis}.st_transform({geom}, 4326)), CASE WHEN {id_col} IS NOT NULL THEN {json} END
           FROM pg_catalog.unnest($1::int8[]) WITH ORDINALITY AS ids(id, o)
           LEFT JOIN {source} AS t ON {id_col} = ids.id
          ORDER BY ids.o",
        source = plan.source,
        id_col = plan.id_column,
        geom = plan.geom,
    );
    Spi::connect(|client| -> SqlResult<Vec<Leaf>> {
        let ids_query = Plan::prepare(&ids_sql, &[pg_sys::INT8OID; 2], Planning::Custom, false)?.run_as(pyramid.owner);
        let mut ids: Vec<Option<i64>> = Vec::new();
        for_each_row(&ids_query, &[lo.into_datum(), hi.into_datum()], true, &layout::IDS_COLUMNS, |v, nulls| {
            ids.push((!nulls[0]).then(|| v[0].value() as i64));
        });
        let mut out = Vec::new();
        for row in client.select(&sql, None, &[ids.into(), names.clone().into()])? {
            let attrs = row.get::<JsonB>(4)?;
            // A member deleted since the build has no row any more.
            let Some(attrs) = attrs else { continue };
            out.push((row.get::<i64>(1)?, row.get::<f64>(2)?, row.get::<f64>(3)?, attrs));
        }
        Ok(out)
    })
}
