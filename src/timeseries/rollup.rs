//! Rollups: tables of per-bucket aggregate state kept up to date
//! incrementally. The shapes and SQL text come from
//! `gridkit_timeseries::rollup`; this module checks arguments against the
//! catalog, runs the DDL and refreshes.
//!
//! A refresh materializes the buckets between the old and the new
//! watermark plus the buckets that statement triggers on the source logged
//! as changed (`gridkit.rollup_invalidation`, one row per statement and
//! rollup with the changed rows' time range). Refreshes of one rollup take
//! turns (an advisory lock); the log rows a refresh consumes are deleted in
//! its transaction, so a change committed meanwhile is left for the next.

use gridkit_sqltext::{quote_ident, quote_literal};
use gridkit_timeseries::rollup::{parse_aggregates, ColumnType, SourceRollup, TypeKind};
use gridkit_timeseries::{spans, Bucket, Rollup, RollupError, Source};
use pgrx::datum::{Interval, TimestampWithTimeZone};
use pgrx::pg_sys::{self, Oid};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;

use crate::error::*;
use crate::layers::registry::{regclass_arg, Source as Relation};
use crate::pg::rows::first_value;

/// Advisory lock class of rollup refreshes: "roll" in ASCII.
const LOCK_CLASS: i32 = 0x726f_6c6c;

/// A rollup's registry row, with its checked definition.
struct Registered {
    name: String,
    table: String,
    source: Oid,
    source_sql: String,
    /// The source rollup's table when built from a rollup.
    source_is_rollup: bool,
    /// The source's columns (of the raw table at the bottom of the chain).
    source_columns: Vec<crate::layers::registry::Column>,
    watermark: Option<TimestampWithTimeZone>,
    rollup: Rollup,
    time_sql: String,
    /// A Citus source's change table (the shards' log), qualified.
    citus_changes: Option<String>,
}

fn unknown_rollup(name: &str) -> SqlError {
    SqlError::new(ERRCODE_UNDEFINED_OBJECT, format!("rollup \"{name}\" does not exist"))
        .hint("See SELECT name FROM gridkit.rollups; create one with gridkit.rollup_create().")
}

fn definition_error(e: RollupError) -> SqlError {
    let code = match e {
        RollupError::NoColumn(_) => ERRCODE_UNDEFINED_COLUMN,
        _ => ERRCODE_INVALID_PARAMETER_VALUE,
    };
    SqlError::new(code, e.to_string())
}

/// The columns of a relation as rollups see them: type text and how the
/// values add up (domains by their base type).
fn column_types(rel: &Relation) -> Vec<(String, ColumnType)> {
    rel.columns
        .iter()
        .map(|c| {
            let kind = match c.base_type {
                pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => TypeKind::Integer,
                pg_sys::FLOAT4OID | pg_sys::FLOAT8OID => TypeKind::Floating,
                pg_sys::NUMERICOID => TypeKind::Numeric,
                _ => TypeKind::Other,
            };
            (c.name.clone(), ColumnType { sql: c.type_name.clone(), kind })
        })
        .collect()
}

fn bucket_of(client: &SpiClient<'_>, interval: &Interval) -> SqlResult<Bucket> {
    match Bucket::from_interval(interval.months(), interval.days(), interval.micros()) {
        Ok(b) => Ok(b),
        Err(e) => {
            let shown = first_value::<String>(client, "SELECT $1::text", &[(*interval).into()])?.unwrap_or_default();
            Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("{shown} {e}")))
        }
    }
}

fn stored_bucket(client: &SpiClient<'_>, interval: Option<Interval>) -> SqlResult<Bucket> {
    let interval =
        interval.ok_or_else(|| SqlError::new(ERRCODE_DATA_CORRUPTED, "gridkit.rollup holds a NULL bucket"))?;
    bucket_of(client, &interval)
}

/// What a rollup over `source` reads: the raw table's columns, and the
/// source rollup when `source` is one.
fn source_of(client: &SpiClient<'_>, source: Oid, time_column: &str) -> SqlResult<Source> {
    let parent = client
        .select(
            "SELECT r.bucket, r.timezone, r.group_by, r.raw_source, r.time_column::text
               FROM gridkit.rollup r WHERE r.relid = $1",
            Some(1),
            &[regclass_arg(source)],
        )?
        .first();
    if !parent.is_empty() {
        let bucket = stored_bucket(client, parent.get::<Interval>(1)?)?;
        let zone = parent.get::<String>(2)?.unwrap_or_default();
        let group_by = parent.get::<Vec<String>>(3)?.unwrap_or_default();
        let raw = parent.get::<Oid>(4)?.unwrap_or(Oid::INVALID);
        let raw_time = parent.get::<String>(5)?.unwrap_or_default();
        let states = Relation::require(client, source)?
            .columns
            .into_iter()
            .map(|c| c.name)
            .filter(|n| n.starts_with('_'))
            .collect();
        return Ok(Source {
            time_column: raw_time,
            columns: column_types(&Relation::require(client, raw)?),
            rollup: Some(SourceRollup { bucket, zone, group_by, states }),
        });
    }
    let rel = Relation::require(client, source)?;
    if !rel.is_table() {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("{} is not a table; a rollup's source is a table or another rollup", rel.qualified_name),
        )
        .hint("Statement triggers on the source record what changed; views cannot have them."));
    }
    let cols = column_types(&rel);
    match cols.iter().find(|(n, _)| n == time_column) {
        None => {
            return Err(SqlError::new(
                ERRCODE_UNDEFINED_COLUMN,
                format!("column \"{time_column}\" of {} does not exist", rel.qualified_name),
            ))
        }
        Some((_, t)) if t.sql != "timestamp with time zone" => {
            return Err(SqlError::new(
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!(
                    "column \"{time_column}\" is {}; a rollup's time column must be timestamp with time zone",
                    t.sql
                ),
            ))
        }
        Some(_) => {}
    }
    Ok(Source { time_column: time_column.to_string(), columns: cols, rollup: None })
}

fn load(client: &SpiClient<'_>, name: &str) -> SqlResult<Registered> {
    let row = client
        .select(
            "SELECT r.relid::oid, r.source::oid, r.source_rollup IS NOT NULL, r.time_column::text, r.bucket,
                    r.group_by, r.aggregates, r.timezone, r.watermark, r.citus_changes::text
               FROM gridkit.rollup r WHERE r.name = $1",
            Some(1),
            &[name.into()],
        )?
        .first();
    if row.is_empty() {
        return Err(unknown_rollup(name));
    }
    let relid = row.get::<Oid>(1)?.unwrap_or(Oid::INVALID);
    let source = row.get::<Oid>(2)?.unwrap_or(Oid::INVALID);
    let source_is_rollup = row.get::<bool>(3)?.unwrap_or(false);
    let time_column = row.get::<String>(4)?.unwrap_or_default();
    let bucket = stored_bucket(client, row.get::<Interval>(5)?)?;
    let group_by = row.get::<Vec<String>>(6)?.unwrap_or_default();
    let aggregates = row.get::<JsonB>(7)?.map(|j| j.0).unwrap_or_default();
    let zone = row.get::<String>(8)?.unwrap_or_default();
    let watermark = row.get::<TimestampWithTimeZone>(9)?;
    let citus_changes = row.get::<String>(10)?;
    let table = Relation::require(client, relid)?.qualified_name;
    let source_rel = Relation::require(client, source)?;
    let src = source_of(client, source, &time_column)?;
    let aggregates = parse_aggregates(&aggregates).map_err(definition_error)?;
    let rollup = Rollup::new(bucket, &zone, &group_by, aggregates, &src).map_err(|e| {
        definition_error(e).hint(format!("The source of rollup \"{name}\" changed; drop and recreate the rollup."))
    })?;
    let time_sql = if source_is_rollup { quote_ident("bucket") } else { quote_ident(&time_column) };
    Ok(Registered {
        name: name.to_string(),
        table,
        source,
        source_sql: source_rel.qualified_name,
        source_is_rollup,
        source_columns: source_rel.columns,
        watermark,
        rollup,
        time_sql,
        citus_changes,
    })
}

/// Creates the rollup table, its realtime view and the source's triggers;
/// returns the table.
#[pg_extern(schema = "gridkit", name = "_rollup_create")]
fn rollup_create(
    name: &str,
    source: Oid,
    time_column: &str,
    bucket_width: Interval,
    group_by: Vec<String>,
    aggregates: JsonB,
    timezone: &str,
) -> Oid {
    crate::pg::standby::require_primary("gridkit.rollup_create").or_raise();
    Spi::connect_mut(|client| -> SqlResult<Oid> {
        if name.is_empty() || name.len() > 54 {
            return Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, "a rollup name must be 1 to 54 bytes")
                .hint("The realtime view adds _realtime to it."));
        }
        if first_value::<bool>(client, "SELECT true FROM gridkit.rollup WHERE name = $1", &[name.into()])?.is_some() {
            return Err(SqlError::new(ERRCODE_DUPLICATE_OBJECT, format!("rollup \"{name}\" already exists"))
                .hint(format!("Drop it first: SELECT gridkit.rollup_drop('{name}');")));
        }
        // An unknown zone raises PostgreSQL's own 22023 here.
        client.select("SELECT pg_catalog.timezone($1, pg_catalog.now())", None, &[timezone.into()])?;
        let bucket = bucket_of(client, &bucket_width)?;
        let src = source_of(client, source, time_column)?;
        let parsed = parse_aggregates(&aggregates.0).map_err(definition_error)?;
        let rollup = Rollup::new(bucket, timezone, &group_by, parsed, &src).map_err(definition_error)?;
        let source_rel = Relation::require(client, source)?;
        let table = format!("{}.{}", source_rel.schema, quote_ident(name));
        let view = format!("{}.{}", source_rel.schema, quote_ident(&format!("{name}_realtime")));
        let (parent, live_from) = match &src.rollup {
            Some(_) => {
                let row = client
                    .select(
                        "SELECT r.name, r.realtime::text FROM gridkit.rollup r WHERE r.relid = $1",
                        Some(1),
                        &[regclass_arg(source)],
                    )?
                    .first();
                (row.get::<String>(1)?, row.get::<String>(2)?.unwrap_or_default())
            }
            None => (None, source_rel.qualified_name.clone()),
        };
        let citus_changes = match &src.rollup {
            Some(_) => None,
            None => crate::pg::citus::rollup_changes_table(client, &source_rel)?,
        };
        if src.rollup.is_none() {
            index_time_column(client, &source_rel, time_column)?;
        }
        client.update(&rollup.create_table_sql(&table), None, &[])?;
        let relid =
            first_value::<Oid>(client, "SELECT $1::regclass::oid", &[table.as_str().into()])?.unwrap_or(Oid::INVALID);
        client.update(
            "INSERT INTO gridkit.rollup (name, relid, realtime, source, source_rollup, raw_source, time_column,
                                         bucket, group_by, aggregates, timezone, citus_changes)
             SELECT $1, $2, $2, $3, $4, coalesce((SELECT p.raw_source FROM gridkit.rollup p WHERE p.name = $4), $3),
                    coalesce((SELECT p.time_column FROM gridkit.rollup p WHERE p.name = $4), $5::name),
                    $6, $7, $8, $9, $10::regclass",
            None,
            &[
                name.into(),
                regclass_arg(relid),
                regclass_arg(source),
                parent.clone().into(),
                time_column.into(),
                bucket_width.into(),
                group_by.clone().into(),
                JsonB(aggregates.0.clone()).into(),
                timezone.into(),
                citus_changes.into(),
            ],
        )?;
        let watermark = format!("(SELECT w.watermark FROM gridkit.rollup w WHERE w.name = {})", quote_literal(name));
        // The view reads the source and the rollup as its owner; the guard
        // asks about its reader, who must be able to read every row the
        // buckets aggregate (gridkit._rollup_readable raises 42501 if not).
        let guard = format!("(SELECT gridkit._rollup_readable({}))", quote_literal(name));
        // A view over the rollup's local table: Citus need not try (and
        // warn that it cannot) to create it on the workers.
        let view_sql = rollup.realtime_view_sql(&view, &table, &live_from, &watermark, &guard);
        crate::pg::citus::node_local_ddl(client, |client| {
            client.update(&view_sql, None, &[])?;
            Ok(())
        })?;
        client.update(
            &format!(
                "UPDATE gridkit.rollup SET realtime = {}::regclass WHERE name = $1;
                 SELECT gridkit.ts_create({}::regclass, 'bucket', {}, 3);
                 SELECT gridkit._rollup_watch({}::regclass, {})",
                quote_literal(&view),
                quote_literal(&table),
                quote_literal(bucket.partition_interval()),
                quote_literal(&source_rel.qualified_name),
                quote_literal(if src.rollup.is_some() { "bucket" } else { time_column }),
            ),
            None,
            &[name.into()],
        )?;
        Ok(relid)
    })
    .or_raise()
}

/// Gives the source a BRIN index on its time column unless an index leads
/// with it: each refresh reads one time range, and without an index that is
/// a scan of every partition the range touches. BRIN is small and cheap to
/// keep on rows that arrive in time order.
fn index_time_column(client: &mut SpiClient<'_>, source: &Relation, time_column: &str) -> SqlResult<()> {
    let indexed = first_value::<bool>(
        client,
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a
                          ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                        WHERE i.indrelid = $1 AND a.attname = $2)",
        &[regclass_arg(source.relid), time_column.into()],
    )?;
    if indexed != Some(true) {
        let table = &source.qualified_name;
        client.update(&format!("CREATE INDEX ON {table} USING brin ({})", quote_ident(time_column)), None, &[])?;
        notice(format!(
            "gridkit: created a BRIN index on {table} ({time_column}) so that refreshes read only the time ranges they need"
        ));
    }
    Ok(())
}

/// A bucket range to (re)materialize; a `None` lower end is open.
type Range = spans::Span<TimestampWithTimeZone>;

/// Materializes what changed in rollup `name`; returns the rows written.
#[pg_extern(schema = "gridkit")]
fn rollup_refresh(name: &str) -> i64 {
    crate::pg::standby::require_primary("gridkit.rollup_refresh").or_raise();
    Spi::connect_mut(|client| refresh(client, name)).or_raise()
}

fn refresh(client: &mut SpiClient<'_>, name: &str) -> SqlResult<i64> {
    client.update(
        "SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))",
        None,
        &[LOCK_CLASS.into(), name.into()],
    )?;
    let mut phases = crate::derived::Phases::start(format!("rollup_refresh('{name}')"));
    let r = load(client, name)?;
    phases.mark("load");
    // The new watermark: the start of the current bucket; a rollup of a
    // rollup goes no further than its source has materialized.
    let limit = if r.source_is_rollup {
        first_value::<TimestampWithTimeZone>(
            client,
            "SELECT least(pg_catalog.now(), p.watermark) FROM gridkit.rollup r
               JOIN gridkit.rollup p ON p.name = r.source_rollup WHERE r.name = $1",
            &[name.into()],
        )?
    } else {
        first_value::<TimestampWithTimeZone>(client, "SELECT pg_catalog.now()", &[])?
    };
    let new_watermark = match limit {
        Some(t) if t.is_finite() => first_value::<TimestampWithTimeZone>(
            client,
            &format!("SELECT {}", r.rollup.start_sql("$1::timestamptz")),
            &[t.into()],
        )?,
        _ => None,
    };
    let old = r.watermark;

    // Changed buckets behind the old watermark (those after it are in the
    // window below or still live), after the first bucket the source still
    // fully holds (retention may have dropped older raw rows: those buckets
    // keep what they have).
    let mut ranges: Vec<Range> = Vec::new();
    let start = |e: &str| r.rollup.start_sql(e);
    let horizon = first_value::<TimestampWithTimeZone>(
        client,
        "SELECT t.dropped_before FROM gridkit.ts_table t WHERE t.relid = $1",
        &[regclass_arg(r.source)],
    )?;
    // The start of the first bucket starting at or after `e`.
    let bucket_at_or_after =
        |e: &str| format!("CASE WHEN {s} = {e} THEN {e} ELSE {n} END", s = start(e), n = r.rollup.next_sql(&start(e)));
    let horizon = match horizon {
        Some(h) => {
            first_value::<TimestampWithTimeZone>(client, &format!("SELECT {}", bucket_at_or_after("$1")), &[h.into()])?
        }
        None => None,
    };
    // Ranges below the horizon restored from archives hold their raw rows
    // again: their whole buckets are re-materialized.
    let restored: Vec<(TimestampWithTimeZone, TimestampWithTimeZone)> = if horizon.is_some() {
        let mut spans = Vec::new();
        for row in client.select(
            &format!(
                "SELECT {}, {} FROM gridkit._archive_restored_spans($1) s",
                bucket_at_or_after("s.lower"),
                start("s.upper")
            ),
            None,
            &[regclass_arg(r.source)],
        )? {
            if let (Some(lo), Some(hi)) = (row.get::<TimestampWithTimeZone>(1)?, row.get::<TimestampWithTimeZone>(2)?) {
                if lo.into_inner() < hi.into_inner() {
                    spans.push((lo, hi));
                }
            }
        }
        spans
    } else {
        Vec::new()
    };
    if let Some(changes) = &r.citus_changes {
        // What the shards logged, for every rollup of the source, in this
        // refresh's distributed transaction.
        client.update("SELECT gridkit._rollup_take_citus_changes($1::regclass)", None, &[changes.as_str().into()])?;
    }
    let invalid = client.update(
        &format!(
            "WITH consumed AS (DELETE FROM gridkit.rollup_invalidation WHERE rollup = $1 RETURNING lower, upper)
             SELECT CASE WHEN lower = '-infinity' THEN NULL ELSE {lo} END,
                    {hi}
               FROM consumed WHERE lower < $2",
            lo = start("lower"),
            hi = r.rollup.next_sql(&start("least(upper, $2 - interval '1 microsecond')")),
        ),
        None,
        &[name.into(), old.unwrap_or(TimestampWithTimeZone::negative_infinity()).into()],
    )?;
    let mut ignored = 0usize;
    for row in invalid {
        let lo = row.get::<TimestampWithTimeZone>(1)?;
        let Some(hi) = row.get::<TimestampWithTimeZone>(2)? else { continue };
        let held = spans::held_parts((lo, hi), horizon, &restored, TimestampWithTimeZone::into_inner);
        if held.is_empty() {
            ignored += 1;
        }
        ranges.extend(held);
    }
    if ignored > 0 {
        notice(format!(
            "gridkit: rollup \"{name}\": {ignored} change(s) to buckets whose raw rows retention has dropped were not applied"
        ));
    }
    if let Some(new) = new_watermark {
        if old.is_none_or(|o| o.into_inner() < new.into_inner()) {
            ranges.push((old, new));
        }
    }
    let ranges = spans::merge(ranges, TimestampWithTimeZone::into_inner);
    // (Its check of text keys' collation is a catalog query: only when
    // something is to be written.)
    // A Citus source is aggregated where its shards are: by the SQL
    // statement, which Citus pushes down, not by pulling its rows here.
    let native =
        if crate::gucs::ROLLUP_NATIVE.get() && !r.source_is_rollup && r.citus_changes.is_none() && !ranges.is_empty() {
            crate::timeseries::rollup_native::plan(client, &r.rollup, r.source, &r.source_columns)?
        } else {
            None
        };
    phases.mark("ranges");

    let mut written = 0i64;
    for (lo, hi) in ranges {
        let lo = match lo {
            Some(l) => Some(l),
            None => first_value::<TimestampWithTimeZone>(
                client,
                &format!(
                    "SELECT {} FROM (SELECT pg_catalog.min({}) AS t FROM {}) m",
                    start("m.t"),
                    r.time_sql,
                    r.source_sql
                ),
                &[],
            )?,
        };
        let delete_from = lo.unwrap_or(TimestampWithTimeZone::negative_infinity());
        // The table holds no bucket at or after the old watermark (refreshes
        // write below the watermark they set), so a range starting there,
        // the usual new hour, has nothing to delete.
        let beyond_watermark = matches!((lo, old), (Some(l), Some(o)) if l.into_inner() >= o.into_inner());
        if !beyond_watermark {
            client.update(
                &format!(
                    "DELETE FROM {} WHERE bucket >= {} AND bucket < {}",
                    r.table,
                    literal(client, delete_from)?,
                    literal(client, hi)?
                ),
                None,
                &[],
            )?;
        }
        phases.mark("delete");
        let Some(lo) = lo.filter(|l| l.into_inner() < hi.into_inner()) else { continue };
        // A short range gets its partitions up front. A long one (a first
        // refresh over years of history, most of it perhaps empty) writes
        // into the default partition, and only the partitions its rows
        // need are made afterwards: one per day of a minute rollup from
        // 1999 to today would exhaust the lock table.
        let short = first_value::<bool>(
            client,
            "SELECT $2 - $1 <= 8 * $3::interval",
            &[lo.into(), hi.into(), r.rollup.bucket.partition_interval().into()],
        )?
        .unwrap_or(false);
        if short {
            client.update(
                "SELECT gridkit._ts_make_range($1::regclass, $2, $3)",
                None,
                &[r.table.as_str().into(), lo.into(), hi.into()],
            )?;
        }
        phases.mark("partitions");
        // The bounds as literals, not parameters: the planner then prunes
        // partitions and picks the time index with real estimates (with
        // parameters it scanned every row of the partitions).
        let (lower, upper) = (literal(client, lo)?, literal(client, hi)?);
        // A long range (a first refresh) may hold more groups than memory
        // allows; the SQL statement can spill to disk.
        let native_written = match &native {
            Some(plan) if short => crate::timeseries::rollup_native::refresh_range(
                client,
                &r.rollup,
                plan,
                &r.table,
                &r.source_sql,
                &lower,
                &upper,
                &mut phases,
            )?,
            _ => None,
        };
        written += match native_written {
            Some(n) => n,
            None => {
                client.update(&r.rollup.insert_sql(&r.table, &r.source_sql, &lower, &upper), None, &[])?.len() as i64
            }
        };
        phases.mark("insert");
        if !short {
            client.update("SELECT gridkit.ts_move_default_rows($1::regclass)", None, &[r.table.as_str().into()])?;
            phases.mark("partitions");
        }
    }
    client.update(
        "UPDATE gridkit.rollup SET watermark = greatest(watermark, $2), refreshed_at = pg_catalog.now() WHERE name = $1",
        None,
        &[r.name.as_str().into(), new_watermark.into()],
    )?;
    phases.mark("watermark");
    phases.report();
    Ok(written)
}

/// A timestamptz as a SQL literal: in UTC from Rust, or (infinities, BC
/// and far years) PostgreSQL's text output, which round-trips within the
/// session's settings.
fn literal(client: &SpiClient<'_>, t: TimestampWithTimeZone) -> SqlResult<String> {
    if let Some(text) = gridkit_timeseries::utc_literal(t.into_inner()) {
        return Ok(text);
    }
    let text = first_value::<String>(client, "SELECT $1::text", &[t.into()])?.unwrap_or_default();
    Ok(format!("{}::timestamptz", quote_literal(&text)))
}

/// Live SQL per (rollup, lower, upper): the catalog stamp it was made
/// under, and the SQL.
type LiveSqlCache = std::collections::HashMap<(String, String, String), (String, String)>;

thread_local! {
    /// Building the live SQL reads the registry and both relations'
    /// columns, which cost more than the history call's own statements.
    static LIVE_SQL: std::cell::RefCell<LiveSqlCache> = std::cell::RefCell::new(LiveSqlCache::new());
}

/// SQL of rollup `name`'s buckets aggregated on the fly from its source's
/// rows in [`lower`, `upper`) (bucket boundaries), with the same columns as
/// its table: what `history` reads after the watermark. The bounds are
/// statement parameters (`$7::timestamptz`), so the statement's plan can be
/// kept for any range.
#[pg_extern(schema = "gridkit", name = "_rollup_live_sql", stable)]
fn rollup_live_sql_with_parameters(name: &str, lower: &str, upper: &str) -> String {
    Spi::connect(|client| -> SqlResult<String> {
        let is_parameter = |e: &str| {
            e.strip_prefix('$')
                .and_then(|rest| rest.strip_suffix("::timestamptz"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if !is_parameter(lower) || !is_parameter(upper) {
            return Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, "bounds must be parameters like $1::timestamptz"));
        }
        // Any change to the registry row (a refresh too), the source
        // rollup's row, the relations read (a rename) or the raw source's
        // columns changes the stamp. (A schema renamed in between breaks
        // the statement until the rollup's next refresh.)
        let stamp = first_value::<String>(
            client,
            "SELECT r.xmin::text || '/' || coalesce(p.xmin::text, '') || '/' ||
                    (SELECT pg_catalog.string_agg(c.oid::text || ':' || c.xmin::text, ',')
                       FROM pg_catalog.pg_class c WHERE c.oid IN (r.source, r.raw_source, p.realtime)) || '/' ||
                    (SELECT pg_catalog.string_agg(a.attname || ':' || a.xmin::text, ',' ORDER BY a.attnum)
                       FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.raw_source)
               FROM gridkit.rollup r LEFT JOIN gridkit.rollup p ON p.name = r.source_rollup WHERE r.name = $1",
            &[name.into()],
        )?;
        let key = (name.to_string(), lower.to_string(), upper.to_string());
        if let Some(stamp) = &stamp {
            let cached = LIVE_SQL.with(|c| c.borrow().get(&key).filter(|(s, _)| s == stamp).map(|(_, sql)| sql.clone()));
            if let Some(sql) = cached {
                return Ok(sql);
            }
        }
        let r = load(client, name)?;
        let from = if r.source_is_rollup {
            first_value::<String>(
                client,
                "SELECT p.realtime::text FROM gridkit.rollup r JOIN gridkit.rollup p ON p.name = r.source_rollup WHERE r.name = $1",
                &[name.into()],
            )?
            .unwrap_or_default()
        } else {
            r.source_sql.clone()
        };
        let sql = r.rollup.live_sql(&from, lower, upper);
        if let Some(stamp) = stamp {
            LIVE_SQL.with(|c| {
                let mut cache = c.borrow_mut();
                if cache.len() >= 256 {
                    cache.clear();
                }
                cache.insert(key, (stamp, sql.clone()));
            });
        }
        Ok(sql)
    })
    .or_raise()
}

/// Whether every rollup of `source` has materialized the buckets holding
/// the rows before `upper`, with no change to them pending: what retention
/// must know before it drops those rows.
#[pg_extern(schema = "gridkit", name = "_rollup_covers")]
fn rollup_covers(source: Oid, upper: TimestampWithTimeZone) -> bool {
    Spi::connect(|client| -> SqlResult<bool> {
        let names = client.select(
            "SELECT name FROM gridkit.rollup WHERE source = $1 ORDER BY name",
            None,
            &[regclass_arg(source)],
        )?;
        let names: Vec<String> = names.into_iter().filter_map(|r| r.get::<String>(1).ok().flatten()).collect();
        for name in names {
            let r = load(client, &name)?;
            let end = r.rollup.next_sql(&r.rollup.start_sql("($1 - interval '1 microsecond')"));
            // On a Citus source, also what the shards logged and no refresh
            // took yet.
            let on_shards = match &r.citus_changes {
                Some(changes) => format!("AND NOT EXISTS (SELECT 1 FROM {changes} c WHERE c.lower < {end})"),
                None => String::new(),
            };
            let covered = first_value::<bool>(
                client,
                &format!(
                    "SELECT coalesce(r.watermark >= {end}, false)
                            AND NOT EXISTS (SELECT 1 FROM gridkit.rollup_invalidation i
                                             WHERE i.rollup = r.name AND i.lower < {end})
                            {on_shards}
                       FROM gridkit.rollup r WHERE r.name = $2"
                ),
                &[upper.into(), name.as_str().into()],
            )?;
            if covered != Some(true) {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .or_raise()
}
