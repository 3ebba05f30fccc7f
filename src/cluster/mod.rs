//! Clustered point layers: the pyramid (build, refresh), clustered tiles and
//! click-through from a cluster to its members.

pub mod build;
pub mod points;
pub mod store;
pub mod tile;

use gridkit_cluster::ClusterId;
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::error::*;
use crate::layers::cache;
use crate::layers::plan::{LayerPlan, PyramidPlan};
use crate::rows::first_value;
use build::LEAF_CHUNK;

/// Builds or rebuilds the cluster pyramid of `layer`; returns the number of
/// points clustered. Readers keep the previous pyramid until this commits.
#[pg_extern(schema = "gridkit", volatile)]
fn cluster_refresh(layer: &str) -> i64 {
    build::refresh(layer).or_raise()
}

type Leaf = (Option<i64>, Option<f64>, Option<f64>, JsonB);

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
    tile::check_source_privilege(plan)?;
    let bad = |m: String| SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, m);
    let id = ClusterId::from_i64(cluster_id).ok_or_else(|| bad(format!("{cluster_id} is not a cluster id")))?;
    if !id.belongs_to_build(pyramid.build) {
        return Err(bad(format!("{cluster_id} is not a cluster of the current pyramid of layer \"{layer}\""))
            .hint("Cluster ids change when the pyramid is rebuilt; fetch the tile again."));
    }
    let count = Spi::connect(|client| {
        first_value::<i32>(
            client,
            &format!("SELECT point_count FROM {} WHERE cluster_id = $1 LIMIT 1", pyramid.storage),
            &[cluster_id.into()],
        )
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
    let chunk = i64::from(LEAF_CHUNK);
    let attributes: Vec<String> =
        plan.attributes.iter().map(|a| format!("'{}', {}", a.name.replace('\'', "''"), a.column)).collect();
    let json = if attributes.is_empty() {
        "'{}'::jsonb".to_string()
    } else {
        format!("pg_catalog.jsonb_build_object({})", attributes.join(", "))
    };
    let postgis = &plan.postgis_schema;
    let sql = format!(
        "WITH ids AS (
             SELECT u.id, u.o FROM (
                 SELECT e.id, (l.chunk::int8 * {chunk} + e.i - 1) AS o
                   FROM {leaves} l, pg_catalog.unnest(l.ids) WITH ORDINALITY AS e(id, i)
                  WHERE l.chunk BETWEEN $1 / {chunk} AND ($2 - 1) / {chunk}
             ) u WHERE u.o >= $1 AND u.o < $2
         )
         SELECT ids.id, {postgis}.st_x(g.p), {postgis}.st_y(g.p), CASE WHEN {id_col} IS NOT NULL THEN {json} END
           FROM ids
           LEFT JOIN {source} AS t ON {id_col} = ids.id
           LEFT JOIN LATERAL (SELECT {postgis}.st_transform({geom}, 4326) AS p) AS g ON true
          ORDER BY ids.o",
        leaves = pyramid.leaves,
        source = plan.source,
        id_col = plan.id_column,
        geom = plan.geom,
    );
    Spi::connect(|client| -> SqlResult<Vec<Leaf>> {
        let mut out = Vec::new();
        for row in client.select(&sql, None, &[lo.into(), hi.into()])? {
            let attrs = row.get::<JsonB>(4)?;
            // A member deleted since the build has no row any more.
            let Some(attrs) = attrs else { continue };
            out.push((row.get::<i64>(1)?, row.get::<f64>(2)?, row.get::<f64>(3)?, attrs));
        }
        Ok(out)
    })
}
