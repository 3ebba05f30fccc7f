//! Traffic-safety indices in SQL: one minute (`safety_index`) and a time
//! range of a minute-level table in one pass (`safety_compute`). Formulas
//! are in `gridkit_indices::safety` and docs/INDICES.md; this module reads
//! the constants, streams the source rows through them and writes the
//! target in chunks.

use gridkit_indices::safety::{self, Constants, Minute};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

use crate::error::*;
use crate::layers::registry::Source as Relation;
use crate::pg::rows::{col, first_value, for_each_row, insert_chunks, Col, Plan, Planning};

/// The source columns `safety_compute` reads (names users know).
const SOURCE_COLUMNS: [&str; 8] =
    ["ts", "intersection_id", "vru_events", "vehicle_events", "volume", "avg_speed", "speed_variance", "hard_braking"];
/// The target columns it writes, with the types COPY writes them in (and
/// the INSERT of any other target converts from).
const TARGET_COLUMNS: [(&str, pg_sys::Oid, &str); 11] = [
    ("ts", pg_sys::TIMESTAMPTZOID, "timestamptz"),
    ("intersection_id", pg_sys::INT4OID, "int4"),
    ("traffic_volume", pg_sys::INT4OID, "int4"),
    ("vru_event_count", pg_sys::INT4OID, "int4"),
    ("vehicle_event_count", pg_sys::INT4OID, "int4"),
    ("vru_index", pg_sys::FLOAT8OID, "float8"),
    ("vru_index_eb", pg_sys::FLOAT8OID, "float8"),
    ("vehicle_index", pg_sys::FLOAT8OID, "float8"),
    ("vehicle_index_eb", pg_sys::FLOAT8OID, "float8"),
    ("combined_index", pg_sys::FLOAT8OID, "float8"),
    ("combined_index_eb", pg_sys::FLOAT8OID, "float8"),
];

/// One row of the target, in `TARGET_COLUMNS` order.
struct Score {
    ts: i64,
    intersection: i32,
    /// traffic_volume, vru_event_count, vehicle_event_count.
    counts: [i32; 3],
    /// vru_index, vru_index_eb, vehicle_index, vehicle_index_eb,
    /// combined_index, combined_index_eb.
    indices: [f64; 6],
}

fn input_error(e: gridkit_indices::InputError) -> SqlError {
    SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, e.to_string())
}

/// The constants valid at `at` (the most recently computed when validity
/// periods overlap).
fn constants_valid_at(client: &SpiClient<'_>, at: TimestampWithTimeZone) -> SqlResult<Constants> {
    let row = client
        .select(
            "SELECT vru_events_max, vehicle_events_max, volume_max, speed_variance_max, hard_braking_max, speed_p85
               FROM gridkit.safety_constants
              WHERE valid_from <= $1 AND $1 < valid_until
              ORDER BY computed_at DESC, id DESC LIMIT 1",
            Some(1),
            &[at.into()],
        )?
        .first();
    if row.is_empty() {
        let shown = first_value::<String>(client, "SELECT $1::text", &[at.into()])?.unwrap_or_default();
        return Err(SqlError::new(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("no safety constants are valid at {shown}"),
        )
        .hint("Compute them with gridkit.safety_constants_compute(source, valid_from, valid_until)."));
    }
    let get = |i: usize| -> SqlResult<f64> { Ok(row.get::<f64>(i)?.unwrap_or(0.0)) };
    Ok(Constants {
        vru_events_max: get(1)?,
        vehicle_events_max: get(2)?,
        volume_max: get(3)?,
        speed_variance_max: get(4)?,
        hard_braking_max: get(5)?,
        speed_p85: get(6)?,
    })
}

/// The safety indices of one intersection-minute. NULL counts give NULL
/// indices; NULL speeds count as no speeding and no variance.
#[pg_extern(schema = "gridkit", stable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn safety_index(
    vru_events: Option<i32>,
    vehicle_events: Option<i32>,
    volume: Option<i32>,
    avg_speed: Option<f64>,
    speed_variance: Option<f64>,
    hard_braking: Option<i32>,
    constants_at: default!(Option<TimestampWithTimeZone>, "now()"),
) -> TableIterator<
    'static,
    (name!(vru_index, Option<f64>), name!(vehicle_index, Option<f64>), name!(combined_index, Option<f64>)),
> {
    let (Some(vru), Some(vehicle), Some(volume), Some(braking), Some(at)) =
        (vru_events, vehicle_events, volume, hard_braking, constants_at)
    else {
        return TableIterator::once((None, None, None));
    };
    let minute = Minute {
        vru_events: vru.into(),
        vehicle_events: vehicle.into(),
        volume: volume.into(),
        avg_speed,
        speed_variance,
        hard_braking: braking.into(),
    };
    minute.check().map_err(input_error).or_raise();
    let c = Spi::connect(|client| constants_valid_at(client, at)).or_raise();
    let i = safety::indices(&minute, &c);
    TableIterator::once((Some(i.vru), Some(i.vehicle), Some(i.combined)))
}

/// How `safety_compute` adjusts the indices.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Blend,
    EmpiricalBayes,
}

/// The rows of one computation, column by column.
#[derive(Default)]
struct Rows {
    ts: Vec<i64>,
    intersection: Vec<i32>,
    /// (intersection, hour of day in the time zone): the blend's groups.
    intersection_hour: Vec<(i32, u8)>,
    minutes: Vec<Minute>,
}

/// Computes the safety indices of every row of `source` in [`from`, `to`)
/// and writes them to `target`, replacing what it held for the range.
/// Returns the rows written.
#[pg_extern(schema = "gridkit", name = "_safety_compute")]
#[allow(clippy::too_many_arguments)]
fn safety_compute(
    source: pg_sys::Oid,
    target: pg_sys::Oid,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    method: &str,
    k: f64,
    timezone: &str,
) -> i64 {
    crate::pg::standby::require_primary("gridkit.safety_compute").or_raise();
    Spi::connect_mut(|client| -> SqlResult<i64> {
        let method = match method {
            "blend" => Method::Blend,
            "empirical_bayes" => Method::EmpiricalBayes,
            other => {
                return Err(SqlError::new(
                    ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("method must be 'blend' or 'empirical_bayes', not '{other}'"),
                ))
            }
        };
        if !(k.is_finite() && k > 0.0) {
            return Err(input_error(gridkit_indices::InputError::BadK(k)));
        }
        crate::timeseries::partitions::check_window(from, to)?;
        let source_sql = table_with(client, source, &SOURCE_COLUMNS, "source")?.qualified_name;
        let target = table_with(client, target, &TARGET_COLUMNS.map(|(name, ..)| name), "target")?;
        let constants = constants_valid_at(client, from)?;
        constants.check().map_err(input_error)?;
        client.select("SELECT pg_catalog.timezone($1, pg_catalog.now())", None, &[timezone.into()])?;

        let mut phases = crate::derived::Phases::start("safety_compute".into());
        let rows = read(&source_sql, from, to, timezone)?;
        phases.mark("read");
        if let Some(bad) = rows.minutes.iter().find_map(|m| m.check().err()) {
            return Err(input_error(bad).hint("Fix or exclude the source rows with negative or non-finite values."));
        }
        let raw: Vec<safety::Indices> = rows.minutes.iter().map(|m| safety::indices(m, &constants)).collect();
        let adjusted = match method {
            // The baseline: the intersection's mean for that hour of day
            // over the range.
            Method::Blend => safety::blend_with_group_means(&rows.intersection_hour, &rows.minutes, &raw, k),
            Method::EmpiricalBayes => safety::empirical_bayes(&rows.intersection, &rows.minutes, &constants),
        };

        phases.mark("compute");
        client.update(
            &format!("DELETE FROM {} WHERE ts >= $1 AND ts < $2", target.qualified_name),
            None,
            &[from.into(), to.into()],
        )?;
        phases.mark("delete");
        // Written in (intersection, time) order, the key order of a target made
        // by safety_target_create: its index then grows at a few places rather
        // than at random ones, each page written once.
        let mut order: Vec<usize> = (0..rows.ts.len()).collect();
        order.sort_unstable_by_key(|&i| (rows.intersection[i], rows.ts[i]));
        let score = |i: usize| {
            let (m, r, a) = (&rows.minutes[i], &raw[i], &adjusted[i]);
            Score {
                ts: rows.ts[i],
                intersection: rows.intersection[i],
                counts: [m.volume as i32, m.vru_events as i32, m.vehicle_events as i32],
                indices: [r.vru, a.vru, r.vehicle, a.vehicle, r.combined, a.combined],
            }
        };
        let names = TARGET_COLUMNS.map(|(name, ..)| name);
        let by_copy = copy_into(&target);
        let written = if by_copy {
            crate::pg::copy_in::copy_rows(target.relid, &names, order.len(), &mut |n, row| {
                let s = score(order[n]);
                row.timestamptz(s.ts);
                row.int4(s.intersection);
                s.counts.into_iter().for_each(|c| row.int4(c));
                s.indices.into_iter().for_each(|v| row.float8(v));
            })? as i64
        } else {
            let arrays: Vec<String> =
                TARGET_COLUMNS.iter().enumerate().map(|(k, (_, _, ty))| format!("${}::{ty}[]", k + 1)).collect();
            insert_chunks(
                client,
                &order,
                &format!(
                    "INSERT INTO {} ({}) SELECT * FROM unnest({})",
                    target.qualified_name,
                    names.join(", "),
                    arrays.join(", ")
                ),
                (50_000, usize::MAX),
                |_| 1,
                |c| {
                    // Each row built once, then read column by column.
                    let scores: Vec<Score> = c.iter().map(|&i| score(i)).collect();
                    let ts = |s: &Score| {
                        TimestampWithTimeZone::try_from(s.ts).unwrap_or(TimestampWithTimeZone::negative_infinity())
                    };
                    let mut cols = vec![col(&scores, ts), col(&scores, |s| s.intersection)];
                    cols.extend((0..3).map(|k| col(&scores, move |s| s.counts[k])));
                    cols.extend((0..6).map(|k| col(&scores, move |s| s.indices[k])));
                    cols
                },
            )?
        };
        phases.mark(if by_copy { "write (COPY)" } else { "write (INSERT)" });
        phases.report();
        Ok(written)
    })
    .or_raise()
}

/// The relation, once it is known to have the columns `safety_compute`
/// reads or writes.
fn table_with(client: &SpiClient<'_>, relid: pg_sys::Oid, wanted: &[&str], what: &str) -> SqlResult<Relation> {
    let rel = Relation::require(client, relid)?;
    let missing: Vec<&str> = wanted.iter().copied().filter(|w| !rel.columns.iter().any(|c| c.name == *w)).collect();
    if !missing.is_empty() {
        return Err(SqlError::new(
            ERRCODE_UNDEFINED_COLUMN,
            format!("the {what} table {} lacks column(s) {}", rel.qualified_name, missing.join(", ")),
        )
        .hint(format!("A {what} table has the columns {}; see docs/INDICES.md.", wanted.join(", "))));
    }
    Ok(rel)
}

/// Whether the target takes the computed values as they are (the columns
/// `safety_target_create` makes), so COPY can write them; any other column
/// types go through an INSERT that converts them.
fn copy_into(target: &Relation) -> bool {
    TARGET_COLUMNS.iter().all(|(name, ty, _)| target.columns.iter().any(|c| c.name == *name && c.base_type == *ty))
        && crate::pg::copy_in::can_copy_into(target.relid, target.relkind)
}

/// Reads the range's rows straight from the executor (no per-row SPI).
fn read(source: &str, from: TimestampWithTimeZone, to: TimestampWithTimeZone, timezone: &str) -> SqlResult<Rows> {
    let sql = format!(
        "SELECT ts::timestamptz, intersection_id::int4, vru_events::float8, vehicle_events::float8, volume::float8,
                avg_speed::float8, speed_variance::float8, hard_braking::float8,
                pg_catalog.date_part('hour', pg_catalog.timezone($3, ts))::int4
           FROM {source} WHERE ts >= $1 AND ts < $2 AND intersection_id IS NOT NULL"
    );
    let plan = Plan::prepare(
        &sql,
        &[pg_sys::TIMESTAMPTZOID, pg_sys::TIMESTAMPTZOID, pg_sys::TEXTOID],
        Planning::Custom,
        false,
    )?;
    let mut rows = Rows::default();
    let mut null_count: Option<&'static str> = None;
    let args = [from.into_datum(), to.into_datum(), timezone.into_datum()];
    let float = |d: pg_sys::Datum| f64::from_bits(d.value() as u64);
    let columns = [
        Col::TimestampTz,
        Col::Int4,
        Col::Float8,
        Col::Float8,
        Col::Float8,
        Col::Float8,
        Col::Float8,
        Col::Float8,
        Col::Int4,
    ];
    for_each_row(&plan, &args, true, &columns, |v, nulls| {
        for (i, name) in [(2, "vru_events"), (3, "vehicle_events"), (4, "volume"), (7, "hard_braking")] {
            if nulls[i] && null_count.is_none() {
                null_count = Some(name);
            }
        }
        rows.ts.push(v[0].value() as i64);
        rows.intersection.push(v[1].value() as i32);
        rows.intersection_hour.push((v[1].value() as i32, v[8].value() as u8));
        rows.minutes.push(Minute {
            vru_events: if nulls[2] { 0.0 } else { float(v[2]) },
            vehicle_events: if nulls[3] { 0.0 } else { float(v[3]) },
            volume: if nulls[4] { 0.0 } else { float(v[4]) },
            avg_speed: (!nulls[5]).then(|| float(v[5])),
            speed_variance: (!nulls[6]).then(|| float(v[6])),
            hard_braking: if nulls[7] { 0.0 } else { float(v[7]) },
        });
    });
    if let Some(name) = null_count {
        return Err(SqlError::new(
            ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("source column {name} holds NULL in the range"),
        )
        .hint("Counts must be present (0 when nothing happened); only avg_speed and speed_variance may be NULL."));
    }
    Ok(rows)
}
