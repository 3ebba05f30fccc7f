//! The layer registry: `gridkit.layer_register`, `gridkit.layer_drop` and the
//! per-backend cache of layers ready to serve.

pub mod cache;
pub mod plan;
pub mod registry;
pub mod tracking;

use pgrx::prelude::*;
use pgrx::JsonB;

use crate::error::*;
use crate::pg::postgis::Postgis;
use crate::pg::rows::first_value;
use registry::{declared_srid, regclass_arg, resolve_columns, Source};

/// Layer names appear in URLs and as MVT layer names: keep them plain.
fn check_layer_name(name: &str) -> SqlResult<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !first_ok || !rest_ok || name.len() > 63 {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid layer name \"{name}\""),
        )
        .detail("A layer name starts with a letter or underscore, continues with letters, digits, '_', '-' or '.', and has at most 63 characters."));
    }
    Ok(())
}

fn required<T>(value: Option<T>, what: &str) -> SqlResult<T> {
    value.ok_or_else(|| SqlError::new(ERRCODE_NULL_VALUE_NOT_ALLOWED, format!("{what} must not be NULL")))
}

/// The SRID of the first non-NULL geometry, for columns that declare none.
fn sample_srid(client: &pgrx::spi::SpiClient<'_>, postgis: &Postgis, table: &str, geom_column: &str) -> SqlResult<i32> {
    let col = plan::quote_ident(geom_column);
    let sql = format!("SELECT {}(t.{col}) FROM {table} AS t WHERE t.{col} IS NOT NULL LIMIT 1", postgis.f("st_srid"));
    let sampled = first_value::<i32>(client, &sql, &[])?;
    let hint = format!("Declare the column with an SRID, e.g. ALTER TABLE {table} ALTER COLUMN \"{geom_column}\" TYPE geometry(Geometry, 4326).");
    match sampled {
        None => Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("cannot tell the SRID of {table}.{geom_column}: the column declares none and has no rows"),
        )
        .hint(hint)),
        Some(0) => Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("geometries in {table}.{geom_column} have no SRID (0)"),
        )
        .hint(hint)),
        Some(srid) => Ok(srid),
    }
}

/// The regular expression `pg_get_indexdef` of an index on
/// `ST_Transform(column, 3857)` matches (the column regex-escaped).
fn transform_index_pattern(column: &str) -> String {
    let mut escaped = String::with_capacity(column.len());
    for c in column.chars() {
        if !(c.is_alphanumeric() || c == '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!(r#"^(\w+\.)?st_transform\(\(?"?{escaped}"?\)?, 3857\)$"#)
}

/// Whether a GiST or SP-GiST index leads with the geometry column (`native`)
/// or with ST_Transform(column, 3857).
fn has_spatial_index(
    client: &pgrx::spi::SpiClient<'_>,
    relid: pg_sys::Oid,
    column: &str,
    native: bool,
) -> SqlResult<bool> {
    Ok(first_value::<bool>(
        client,
        "SELECT EXISTS (
            SELECT 1 FROM pg_catalog.pg_index i
              JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_catalog.pg_am am ON am.oid = ic.relam
              LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = $1 AND am.amname IN ('gist', 'spgist')
               AND CASE WHEN $3 THEN a.attname = $2
                        ELSE i.indkey[0] = 0 AND pg_catalog.pg_get_indexdef(i.indexrelid, 1, false) ~* $4 END)",
        // The pattern is a parameter: in the query text its backslashes
        // would depend on standard_conforming_strings.
        &[relid.into(), column.into(), native.into(), transform_index_pattern(column).into()],
    )?
    .unwrap_or(false))
}

/// Who may register layers is who may execute `gridkit.layer_register`
/// (revoked from PUBLIC, granted to layer managers): this function, which
/// only that wrapper calls, is executable by anyone and checks it.
fn require_layer_register_privilege() -> SqlResult<()> {
    let allowed = Spi::get_one::<bool>(
        "SELECT pg_catalog.has_function_privilege(
             'gridkit.layer_register(text, regclass, name, name, text[], jsonb)'::pg_catalog.regprocedure, 'EXECUTE')",
    )?
    .unwrap_or(false);
    if allowed {
        Ok(())
    } else {
        Err(SqlError::new(ERRCODE_INSUFFICIENT_PRIVILEGE, "permission denied for function layer_register"))
    }
}

/// Registers (or replaces) a layer. Called by the SQL wrapper
/// `gridkit.layer_register`, which gives the arguments their SQL types and defaults.
#[pg_extern(schema = "gridkit", name = "_layer_register", volatile)]
fn layer_register(
    name: Option<&str>,
    source: Option<pg_sys::Oid>,
    geom_column: Option<&str>,
    id_column: Option<&str>,
    attributes: Option<Array<&str>>,
    options: Option<JsonB>,
) {
    (|| -> SqlResult<Option<crate::derived::Kind>> {
        crate::pg::standby::require_primary("gridkit.layer_register")?;
        let name = required(name, "layer name")?;
        let relid = required(source, "source")?;
        let geom_column = required(geom_column, "geom_column")?;
        let id_column = required(id_column, "id_column")?;
        let attributes: Vec<String> = required(attributes, "attributes")?
            .iter()
            .map(|a| required(a, "an attribute name").map(str::to_string))
            .collect::<SqlResult<_>>()?;
        let options = required(options, "options")?.0;
        check_layer_name(name)?;
        let parsed = gridkit_options::LayerOptions::parse(&options)
            .map_err(|e| SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("layer \"{name}\": {e}")))?;

        // Hold the source still while we look at it.
        unsafe { pg_sys::LockRelationOid(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
        // The source's owner (or a superuser) registers it; the registry,
        // triggers and builds are then written as gridkit's owner. A layer
        // of that name on another source is that source's manager's.
        require_layer_register_privilege()?;
        crate::access::require_layer_manager(relid, name)?;
        let replaced = Spi::get_one_with_args::<pg_sys::Oid>(
            "SELECT source::oid FROM gridkit.layer WHERE name = $1",
            &[name.into()],
        );
        if let Ok(Some(previous)) = replaced {
            if previous != relid && crate::access::relation_owner(previous).is_some() {
                crate::access::require_layer_manager(previous, name)?;
            }
        }
        let source_owner = crate::access::relation_owner(relid).unwrap_or(pg_sys::Oid::INVALID);
        let _gridkit = crate::access::AsRole::extension_owner()?;

        Spi::connect_mut(|client| -> SqlResult<Option<crate::derived::Kind>> {
            let postgis = Postgis::find(client)?;
            let source = Source::load(client, relid)?.ok_or_else(|| {
                SqlError::new(ERRCODE_UNDEFINED_TABLE, format!("relation with oid {relid:?} does not exist"))
            })?;
            let table = source.qualified_name.clone();
            if !source.is_tileable_kind() {
                return Err(SqlError::new(
                    ERRCODE_WRONG_OBJECT_TYPE,
                    format!("{table} is {}; a layer's source must be a table, view or materialized view", source.kind_name()),
                ));
            }
            let columns = resolve_columns(&source, &postgis, geom_column, id_column, &attributes)?;
            if let Some(cluster) = &parsed.cluster {
                plan::check_cluster(cluster, &columns.attributes)
                    .map_err(|e| SqlError { message: format!("layer \"{name}\": {}", e.message), ..e })?;
            }
            plan::check_attribute_options(&parsed, &columns.attributes)
                .map_err(|e| SqlError { message: format!("layer \"{name}\": {}", e.message), ..e })?;

            let srid = match declared_srid(client, &postgis, &columns.geom)? {
                // Reading a row runs the source's code (a view's): as its owner.
                0 => {
                    let _as_owner = crate::access::AsRole::switch(source_owner);
                    sample_srid(client, &postgis, &table, geom_column)?
                }
                declared => declared,
            };
            let known = first_value::<bool>(
                client,
                &format!("SELECT EXISTS (SELECT 1 FROM {} WHERE srid = $1)", postgis.f("spatial_ref_sys")),
                &[srid.into()],
            )?
            .unwrap_or(false);
            if !known {
                return Err(SqlError::new(
                    ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("SRID {srid} of {table}.{geom_column} is not in spatial_ref_sys"),
                ));
            }

            // Sources in 4326 and 3857 are filtered on the column; others on
            // ST_Transform(column, 3857) (see plan.rs), which wants its own index.
            let native = matches!(srid, 4326 | 3857 | 900913);
            if source.has_indexes() && !has_spatial_index(client, relid, geom_column, native)? {
                let indexed = if native {
                    format!("\"{geom_column}\"")
                } else {
                    format!("{}(\"{geom_column}\", 3857)", postgis.f("st_transform"))
                };
                notice(format!(
                    "gridkit: {table} has no GiST index on {indexed}; every tile will read all of it. \
                     CREATE INDEX ON {table} USING gist ({indexed});"
                ));
            }

            client.update(
                "INSERT INTO gridkit.layer (name, source, source_name, geom_column, id_column, attributes, options, srid)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (name) DO UPDATE SET
                    source = EXCLUDED.source, source_name = EXCLUDED.source_name,
                    geom_column = EXCLUDED.geom_column, id_column = EXCLUDED.id_column,
                    attributes = EXCLUDED.attributes, options = EXCLUDED.options,
                    srid = EXCLUDED.srid, registered_at = now()",
                None,
                &[
                    name.into(),
                    regclass_arg(relid),
                    table.as_str().into(),
                    geom_column.into(),
                    id_column.into(),
                    attributes.clone().into(),
                    JsonB(options).into(),
                    srid.into(),
                ],
            )?;
            tracking::sync(client, name, relid)?;
            // A clustered layer is served from its pyramid, a generalized one
            // from its bands: rebuild them now, unless they still match.
            let row = client
                .select(
                    "SELECT coalesce(stale, false), clustered FROM gridkit.layer_status() WHERE layer = $1",
                    Some(1),
                    &[name.into()],
                )?
                .first();
            let stale = !row.is_empty() && row.get::<bool>(1)?.unwrap_or(false);
            let clustered = !row.is_empty() && row.get::<bool>(2)?.unwrap_or(false);
            Ok(match (stale, clustered) {
                (false, _) => None,
                (true, true) => Some(crate::derived::Kind::Pyramid),
                (true, false) => Some(crate::derived::Kind::Generalization),
            })
        })
    })()
    .and_then(|rebuild| {
        let name = name.unwrap_or_default();
        match rebuild {
            None => Ok(()),
            Some(crate::derived::Kind::Pyramid) => {
                crate::layers::registry::managing_layer(name, || crate::cluster::build::refresh(name)).map(drop)
            }
            Some(crate::derived::Kind::Generalization) => {
                crate::layers::registry::managing_layer(name, || crate::generalize::build::refresh(name)).map(drop)
            }
        }
    })
    .or_raise()
}

/// A layer's options as gridkit applies them, defaults filled in (one
/// place decides them: the option parser): `min_zoom`, `clustered`,
/// `cluster_max_zoom` (NULL unless clustered), `max_age` (NULL: the
/// server's default). For the api's layer list and TileJSON.
#[pg_extern(schema = "gridkit", name = "_layer_settings", immutable, strict, parallel_safe)]
fn layer_settings(options: JsonB) -> JsonB {
    let parsed = parsed_options(&options);
    JsonB(serde_json::json!({
        "min_zoom": parsed.zoom.min_zoom,
        "clustered": parsed.cluster.is_some(),
        "cluster_max_zoom": parsed.cluster.as_ref().map(|c| c.max_zoom),
        "max_age": parsed.max_age,
    }))
}

/// What a cluster build depends on of a layer's options (defaults spelled
/// out, `LayerOptions::cluster_settings`) and the layout it writes; part of
/// `gridkit._pyramid_settings`.
#[pg_extern(schema = "gridkit", name = "_cluster_build_settings", immutable, strict, parallel_safe)]
fn cluster_build_settings(options: JsonB) -> JsonB {
    let mut settings = parsed_options(&options).cluster_settings();
    settings["layout"] = crate::cluster::layout::VERSION.into();
    JsonB(settings)
}

/// What generalized bands depend on of a layer's options
/// (`LayerOptions::band_settings`) and the layout they are written in; part
/// of `gridkit._generalization_settings`.
#[pg_extern(schema = "gridkit", name = "_band_build_settings", immutable, strict, parallel_safe)]
fn band_build_settings(options: JsonB) -> JsonB {
    let mut settings = parsed_options(&options).band_settings();
    settings["layout"] = crate::generalize::layout::VERSION.into();
    JsonB(settings)
}

fn parsed_options(options: &JsonB) -> gridkit_options::LayerOptions {
    gridkit_options::LayerOptions::parse(&options.0)
        .map_err(|e| SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, e.to_string()))
        .or_raise()
}

/// A comma-separated list of registered layers (`api.tilejson`), checked
/// as grid_tile and the server check theirs: 22023 for a malformed list,
/// 42704 for a layer that does not exist.
#[pg_extern(schema = "gridkit", name = "_layer_list", stable)]
fn layer_list(layer: Option<&str>) -> Vec<String> {
    (|| -> SqlResult<Vec<String>> {
        let names = gridkit_tilecoord::split_layers(layer.unwrap_or(""))?;
        let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
        let known: Vec<String> = pgrx::Spi::connect(|client| -> SqlResult<Vec<String>> {
            let rows = client.select(
                "SELECT l.name FROM gridkit.layer l WHERE l.name = ANY($1)",
                None,
                &[names.clone().into()],
            )?;
            let mut known = Vec::with_capacity(names.len());
            for row in rows {
                known.extend(row.get::<String>(1)?);
            }
            Ok(known)
        })?;
        if let Some(missing) = names.iter().find(|n| !known.contains(n)) {
            return Err(SqlError::new(ERRCODE_UNDEFINED_OBJECT, format!("layer \"{missing}\" does not exist")));
        }
        Ok(names)
    })()
    .or_raise()
}

/// What the current role may read of `layer` (`crate::access`): `full`
/// (derived data may serve it), `row_filtered` (it sees a subset: tiles are
/// made from its own rows) or `denied`.
#[pg_extern(schema = "gridkit", stable, strict)]
fn layer_access(layer: &str) -> &'static str {
    (|| -> SqlResult<&'static str> {
        let plan = cache::get(layer)?;
        Ok(crate::access::decision_name(plan.access.decide()))
    })()
    .or_raise()
}

/// The same decision for a relation and every one of its columns, for what
/// gridkit derives from whole rows (latest values, rollups): `full`,
/// `row_filtered` or `denied`.
#[pg_extern(schema = "gridkit", name = "_relation_access", stable, strict)]
fn relation_access(relation: pgrx::pg_sys::Oid) -> &'static str {
    (|| -> SqlResult<&'static str> {
        let facts = pgrx::Spi::connect(|client| -> SqlResult<_> {
            let source = registry::Source::load(client, relation)?;
            Ok(source.map(|s| s.access_facts(&s.columns)))
        })?;
        Ok(facts.map_or("denied", |facts| crate::access::decision_name(facts.decide())))
    })()
    .or_raise()
}

/// The MVT field type of each property a layer's tiles carry, as TileJSON
/// names them, from the types the encoder gives them (`AttrKind`): its
/// attributes and, for a clustered layer, the cluster properties.
#[pg_extern(schema = "gridkit", name = "_layer_fields", stable, strict)]
fn layer_fields(layer: &str) -> JsonB {
    (|| -> SqlResult<JsonB> {
        let plan = cache::get(layer)?;
        let mut fields = serde_json::Map::new();
        for a in &plan.attributes {
            let kind = match a.kind {
                plan::AttrKind::Int | plan::AttrKind::Float | plan::AttrKind::Double => "Number",
                plan::AttrKind::Bool => "Boolean",
                plan::AttrKind::Text => "String",
            };
            fields.insert(a.name.clone(), kind.into());
        }
        if let Some(cluster) = &plan.cluster {
            // A count of a text attribute is a number in cluster features.
            for (i, f) in &cluster.aggregates {
                if matches!(f, gridkit_options::cluster::AggFn::Count) {
                    fields.insert(plan.attributes[*i].name.clone(), "Number".into());
                }
            }
            for name in ["point_count", "cluster_id", "expansion_zoom"] {
                fields.insert(name.into(), "Number".into());
            }
        }
        Ok(JsonB(serde_json::Value::Object(fields)))
    })()
    .or_raise()
}

/// Removes a layer from the registry. Its source is not touched.
#[pg_extern(schema = "gridkit", volatile)]
fn layer_drop(name: Option<&str>) {
    crate::pg::standby::require_primary("gridkit.layer_drop").or_raise();
    let name = required(name, "layer name").or_raise();
    let dropped = crate::layers::registry::managing_layer(name, || {
        Spi::connect_mut(|client| -> SqlResult<bool> {
            // Its derived tables are dropped by a later build, once unused.
            crate::derived::retire(client, crate::derived::Kind::Pyramid, name)?;
            crate::derived::retire(client, crate::derived::Kind::Generalization, name)?;
            let dropped = !client
                .update("DELETE FROM gridkit.layer WHERE name = $1 RETURNING 1", None, &[name.into()])?
                .is_empty();
            tracking::drop_unused_triggers(client)?;
            crate::derived::drop_retired(client)?;
            Ok(dropped)
        })
    })
    .or_raise();
    if !dropped {
        registry::unknown_layer(name).raise();
    }
}

#[pg_schema]
mod gridkit {
    use pgrx::prelude::*;

    /// Statement trigger on `gridkit.layer`: tells every backend, at commit,
    /// that cached layer plans are stale.
    #[pg_trigger]
    fn _layer_registry_changed<'a>(
        trigger: &'a PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relid()?) };
        Ok(None)
    }
}
