//! `gridkit.demo_generate`: loads the demo data set (crates/demo) into schema
//! `demo` and registers each table as a layer.
//!
//! Rows go in by chunks: one `INSERT … SELECT FROM unnest(arrays)` per chunk,
//! never one statement per row. Each chunk's arrays live in a memory context
//! that is reset after the chunk, so memory stays bounded at any scale.

use gridkit_demo::Demo;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

use crate::error::*;
use crate::pg::postgis::Postgis;
use crate::pg::rows::{col, insert_chunks};

/// Marks schema `demo` as ours; we only ever drop a schema carrying it.
const MARKER: &str = "gridkit demo data";
const CHUNK_ROWS: usize = 50_000;
/// Lines are chunked by vertices too, so a chunk's WKB stays small.
const CHUNK_VERTICES: usize = 2_000_000;

fn check_scale(scale: f64) -> SqlResult<()> {
    if !(scale.is_finite() && scale > 0.0 && scale <= 10_000.0) {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("scale must be greater than 0 and at most 10000, not {scale}"),
        ));
    }
    Ok(())
}

/// Drops the schema `demo` if we made it; refuses to touch anyone else's.
fn reset_schema(client: &mut SpiClient<'_>, scale: f64, seed: i32) -> SqlResult<()> {
    let existing = client
        .select(
            "SELECT coalesce(pg_catalog.obj_description(oid, 'pg_namespace'), '')
               FROM pg_catalog.pg_namespace WHERE nspname = 'demo'",
            Some(1),
            &[],
        )?
        .first();
    if !existing.is_empty() {
        let comment = existing.get::<String>(1)?.unwrap_or_default();
        if !comment.starts_with(MARKER) {
            return Err(SqlError::new(
                ERRCODE_DUPLICATE_SCHEMA,
                "schema \"demo\" already exists and was not created by gridkit.demo_generate",
            )
            .hint("Rename or drop that schema first; demo_generate only replaces a demo schema it made."));
        }
        client.update("DROP SCHEMA demo CASCADE", None, &[])?;
    }
    client.update("CREATE SCHEMA demo", None, &[])?;
    client.update(
        &format!(
            "COMMENT ON SCHEMA demo IS '{MARKER} (scale {scale}, seed {seed}); gridkit.demo_generate drops and rebuilds this schema'"
        ),
        None,
        &[],
    )?;
    Ok(())
}

fn load(client: &mut SpiClient<'_>, demo: &Demo, pg: &Postgis) -> SqlResult<Vec<(&'static str, i64)>> {
    let point = format!("{}({}(lon, lat), 4326)", pg.f("st_setsrid"), pg.f("st_makepoint"));
    let from_wkb = format!("{}(wkb, 4326)", pg.f("st_geomfromwkb"));
    let vertices = |wkb: &Vec<u8>| wkb.len() / 16;
    let mut counts = Vec::new();

    let isos = demo.isos();
    counts.push((
        "isos",
        insert_chunks(
            client,
            &isos,
            &format!(
                "INSERT INTO demo.isos SELECT id, code, name, {pg}.st_multi({from_wkb})
                    FROM unnest($1::int[], $2::text[], $3::text[], $4::bytea[]) AS u(id, code, name, wkb)",
                pg = pg.schema
            ),
            (CHUNK_ROWS, CHUNK_VERTICES),
            |r| vertices(&r.wkb),
            |c| vec![col(c, |r| r.id), col(c, |r| r.code), col(c, |r| r.name), col(c, |r| r.wkb.clone())],
        )?,
    ));

    let zones = demo.zones();
    counts.push(("zones", insert_chunks(
        client,
        &zones,
        &format!("INSERT INTO demo.zones SELECT id, code, iso, level, {pg}.st_multi({from_wkb})
                    FROM unnest($1::int[], $2::text[], $3::text[], $4::float8[], $5::bytea[]) AS u(id, code, iso, level, wkb)", pg = pg.schema),
        (CHUNK_ROWS, CHUNK_VERTICES), |r| vertices(&r.wkb),
        |c| vec![col(c, |r| r.id), col(c, |r| r.code), col(c, |r| r.iso_id), col(c, |r| r.congestion_level), col(c, |r| r.wkb.clone())],
    )?));

    let rows = demo.pnodes();
    counts.push(("pnodes", insert_chunks(
        client,
        &rows,
        &format!("INSERT INTO demo.pnodes SELECT id, name, iso, zone, kind, score, tier, {point}
                    FROM unnest($1::int8[], $2::float8[], $3::float8[], $4::text[], $5::text[], $6::int[], $7::text[], $8::float8[], $9::text[])
                      AS u(id, lon, lat, name, iso, zone, kind, score, tier)"),
        (CHUNK_ROWS, CHUNK_VERTICES), |_| 1,
        |c| vec![
            col(c, |r| r.id), col(c, |r| r.lon), col(c, |r| r.lat), col(c, |r| r.name.clone()), col(c, |r| r.iso_id),
            col(c, |r| r.zone_id), col(c, |r| r.node_type), col(c, |r| r.severity_score), col(c, |r| r.tier),
        ],
    )?));
    drop(rows);

    let rows = demo.data_centers();
    counts.push(("data_centers", insert_chunks(
        client,
        &rows,
        &format!("INSERT INTO demo.data_centers SELECT id, name, operator, capacity, status, iso, zone, {point}
                    FROM unnest($1::int8[], $2::float8[], $3::float8[], $4::text[], $5::text[], $6::float8[], $7::text[], $8::text[], $9::int[])
                      AS u(id, lon, lat, name, operator, capacity, status, iso, zone)"),
        (CHUNK_ROWS, CHUNK_VERTICES), |_| 1,
        |c| vec![
            col(c, |r| r.id), col(c, |r| r.lon), col(c, |r| r.lat), col(c, |r| r.name.clone()), col(c, |r| r.operator),
            col(c, |r| r.capacity_mw), col(c, |r| r.status), col(c, |r| r.iso_id), col(c, |r| r.zone_id),
        ],
    )?));
    drop(rows);

    let rows = demo.substations();
    counts.push((
        "substations",
        insert_chunks(
            client,
            &rows,
            &format!(
                "INSERT INTO demo.substations SELECT id, name, kv, iso, zone, {point}
                    FROM unnest($1::int8[], $2::float8[], $3::float8[], $4::text[], $5::int[], $6::text[], $7::int[])
                      AS u(id, lon, lat, name, kv, iso, zone)"
            ),
            (CHUNK_ROWS, CHUNK_VERTICES),
            |_| 1,
            |c| {
                vec![
                    col(c, |r| r.id),
                    col(c, |r| r.lon),
                    col(c, |r| r.lat),
                    col(c, |r| r.name.clone()),
                    col(c, |r| r.voltage_kv),
                    col(c, |r| r.iso_id),
                    col(c, |r| r.zone_id),
                ]
            },
        )?,
    ));
    drop(rows);

    let rows = demo.transmission_lines();
    counts.push(("transmission_lines", insert_chunks(
        client,
        &rows,
        &format!("INSERT INTO demo.transmission_lines SELECT id, kv, circuits, km, owner, iso, a, b, {from_wkb}
                    FROM unnest($1::int8[], $2::int[], $3::int[], $4::float8[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::bytea[])
                      AS u(id, kv, circuits, km, owner, iso, a, b, wkb)"),
        (CHUNK_ROWS, CHUNK_VERTICES), |r| vertices(&r.wkb),
        |c| vec![
            col(c, |r| r.id), col(c, |r| r.voltage_kv), col(c, |r| r.circuits), col(c, |r| r.length_km), col(c, |r| r.owner),
            col(c, |r| r.iso_id), col(c, |r| r.from_substation), col(c, |r| r.to_substation), col(c, |r| r.wkb.clone()),
        ],
    )?));
    drop(rows);

    let rows = demo.feeders();
    counts.push((
        "feeders",
        insert_chunks(
            client,
            &rows,
            &format!(
                "INSERT INTO demo.feeders SELECT id, sub, kv, phases, customers, km, {from_wkb}
                    FROM unnest($1::int8[], $2::int8[], $3::float8[], $4::int[], $5::int[], $6::float8[], $7::bytea[])
                      AS u(id, sub, kv, phases, customers, km, wkb)"
            ),
            (CHUNK_ROWS, CHUNK_VERTICES),
            |r| vertices(&r.wkb),
            |c| {
                vec![
                    col(c, |r| r.id),
                    col(c, |r| r.substation_id),
                    col(c, |r| r.voltage_kv),
                    col(c, |r| r.phases),
                    col(c, |r| r.customers),
                    col(c, |r| r.length_km),
                    col(c, |r| r.wkb.clone()),
                ]
            },
        )?,
    ));
    drop(rows);

    let rows = demo.der_locations();
    counts.push(("der_locations", insert_chunks(
        client,
        &rows,
        &format!("INSERT INTO demo.der_locations SELECT id, kind, kw, year, iso, zone, {point}
                    FROM unnest($1::int8[], $2::float8[], $3::float8[], $4::text[], $5::float8[], $6::int[], $7::text[], $8::int[])
                      AS u(id, lon, lat, kind, kw, year, iso, zone)"),
        (CHUNK_ROWS, CHUNK_VERTICES), |_| 1,
        |c| vec![
            col(c, |r| r.id), col(c, |r| r.lon), col(c, |r| r.lat), col(c, |r| r.der_type), col(c, |r| r.capacity_kw),
            col(c, |r| r.interconnection_year), col(c, |r| r.iso_id), col(c, |r| r.zone_id),
        ],
    )?));
    Ok(counts)
}

/// Each demo layer: the attributes its tiles carry, its options, and whether
/// its low zooms are generalized. Pricing nodes cluster within their ISO;
/// data centres cluster across the map; transmission lines show by voltage
/// (500 kV and up to zoom 4, then 345, 230, 115, everything from zoom 11).
const LAYERS: &[(&str, &str, &str, bool)] = &[
    ("isos", "{iso_id,name}", "{}", true),
    ("zones", "{zone_code,iso_id,congestion_level}", "{}", true),
    (
        "pnodes",
        "{name,iso_id,zone_id,node_type,severity_score,tier}",
        r#"{"cluster": {"radius": 40, "max_zoom": 9, "partition_by": "iso_id",
                        "aggregates": {"severity_score": "avg", "tier": "mode"}}}"#,
        false,
    ),
    (
        "data_centers",
        "{name,operator,capacity_mw,status,iso_id}",
        r#"{"cluster": {"radius": 40, "max_zoom": 9, "aggregates": {"capacity_mw": "sum", "status": "mode"}}}"#,
        false,
    ),
    ("substations", "{name,voltage_kv,iso_id}", r#"{"min_zoom": 5}"#, false),
    (
        "transmission_lines",
        "{voltage_kv,circuits,length_km,owner,iso_id}",
        r#"{"zoom_rules": [{"max_zoom": 4, "where": {"voltage_kv": {">=": 500}}},
                           {"max_zoom": 6, "where": {"voltage_kv": {">=": 345}}},
                           {"max_zoom": 8, "where": {"voltage_kv": {">=": 230}}},
                           {"max_zoom": 10, "where": {"voltage_kv": {">=": 115}}}],
            "rank": "voltage_kv"}"#,
        true,
    ),
    ("feeders", "{substation_id,voltage_kv,phases,customers}", r#"{"min_zoom": 9}"#, true),
    ("der_locations", "{der_type,capacity_kw,interconnection_year,iso_id}", r#"{"min_zoom": 6}"#, false),
];

/// Creates schema `demo` with the demo data set at `scale` (1 = 565 pricing
/// nodes, 1179 data centres, …) and registers each table as a layer of the
/// same name. Deterministic for a seed. Replaces a demo schema made earlier.
#[pg_extern(schema = "gridkit", volatile)]
fn demo_generate(
    scale: default!(f64, 1.0),
    seed: default!(i32, 42),
) -> TableIterator<'static, (name!(layer, String), name!(features, i64))> {
    crate::pg::standby::require_primary("gridkit.demo_generate").or_raise();
    check_scale(scale).or_raise();
    let demo = Demo::new(scale, seed as i64 as u64);
    let counts = Spi::connect_mut(|client| -> SqlResult<_> {
        let pg = Postgis::find(client)?;
        reset_schema(client, scale, seed)?;
        client.update(&include_str!("../sql/demo_schema.sql").replace("@postgis@", &pg.schema), None, &[])?;
        let counts = load(client, &demo, &pg)?;
        client.update(include_str!("../sql/demo_finish.sql"), None, &[])?;
        for (layer, attributes, options, generalize) in LAYERS {
            client.update(
                "SELECT gridkit.layer_register($1, $2::regclass, attributes => $3::text[], options => $4::jsonb)",
                None,
                &[(*layer).into(), format!("demo.{layer}").into(), (*attributes).into(), (*options).into()],
            )?;
            if *generalize {
                client.update("SELECT gridkit.generalize_refresh($1)", None, &[(*layer).into()])?;
            }
        }
        let mut counts = counts;
        // 100 intersections at scale 1 and above, fewer below (at least 10).
        let intersections = (100.0 * scale.min(1.0)).round().max(10.0) as i64;
        client.update(
            &include_str!("../sql/demo_timeseries.sql")
                .replace("@seed@", &seed.to_string())
                .replace("@intersections@", &intersections.to_string()),
            None,
            &[],
        )?;
        for table in ["observations", "safety_minutes", "safety_index"] {
            let n = client
                .select(&format!("SELECT count(*) FROM demo.{table}"), Some(1), &[])?
                .first()
                .get::<i64>(1)?
                .unwrap_or(0);
            counts.push((table, n));
        }
        Ok(counts)
    })
    .or_raise();
    TableIterator::new(counts.into_iter().map(|(l, n)| (l.to_string(), n)))
}
