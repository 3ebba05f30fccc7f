//! Time-series tables: the partition arithmetic behind `sql/timeseries.sql`
//! (which creates, fills and drops partitions), from `crates/timeseries`.

use gridkit_timeseries::Step;
use pgrx::datum::{Interval, TimestampWithTimeZone};
use pgrx::prelude::*;

use crate::error::*;

fn step(interval: &Interval) -> SqlResult<Step> {
    Step::from_interval(interval.months(), interval.days(), interval.micros())
        .map_err(|e| SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, e.to_string()))
}

fn finite(ts: TimestampWithTimeZone) -> SqlResult<i64> {
    let raw = ts.into_inner();
    if raw == i64::MAX || raw == i64::MIN {
        return Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, "an infinite timestamp has no partition"));
    }
    Ok(raw)
}

/// Raises `22023` unless [`from`, `to`) is a finite, non-empty window.
pub fn check_window(from: TimestampWithTimeZone, to: TimestampWithTimeZone) -> SqlResult<()> {
    if !(from.is_finite() && to.is_finite() && from.into_inner() < to.into_inner()) {
        return Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, "\"from\" must be a finite time before \"to\""));
    }
    Ok(())
}

/// `check_window` for SQL callers: raises `22023` unless [`from`, `to`) is
/// a finite, non-empty window.
#[pg_extern(schema = "gridkit", immutable, parallel_safe, name = "_ts_check_window")]
fn ts_check_window(from: Option<TimestampWithTimeZone>, to: Option<TimestampWithTimeZone>) -> bool {
    match (from, to) {
        (Some(f), Some(t)) => check_window(f, t).map(|_| true).or_raise(),
        _ => SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, "\"from\" must be a finite time before \"to\"").raise(),
    }
}

fn timestamp(raw: i64) -> SqlResult<TimestampWithTimeZone> {
    TimestampWithTimeZone::try_from(raw)
        .map_err(|_| SqlError::new(ERRCODE_DATETIME_FIELD_OVERFLOW, "partition bound out of range"))
}

/// Raises `22023` unless `step` can be a partition interval.
#[pg_extern(schema = "gridkit", immutable, strict, parallel_safe)]
fn _ts_check_interval(step: Interval) -> bool {
    self::step(&step).map(|_| true).or_raise()
}

/// The start of the partition of `step` holding `ts` (UTC boundaries).
#[pg_extern(schema = "gridkit", immutable, strict, parallel_safe)]
fn _ts_partition_start(ts: TimestampWithTimeZone, step: Interval) -> TimestampWithTimeZone {
    (|| timestamp(self::step(&step)?.start(finite(ts)?)))().or_raise()
}

/// The start of the partition after the one starting at `start`.
#[pg_extern(schema = "gridkit", immutable, strict, parallel_safe)]
fn _ts_partition_next(start: TimestampWithTimeZone, step: Interval) -> TimestampWithTimeZone {
    (|| timestamp(self::step(&step)?.next(finite(start)?)))().or_raise()
}

/// The name suffix of the partition starting at `start`: `p20261123`, ...
#[pg_extern(schema = "gridkit", immutable, strict, parallel_safe)]
fn _ts_partition_suffix(start: TimestampWithTimeZone, step: Interval) -> String {
    (|| Ok(self::step(&step)?.suffix(finite(start)?)))().or_raise()
}

/// Runs `sql` (a statement gridkit's maintenance built, moving a table's
/// rows: parameters `lo` and `hi`) as the owner of `table`, with restricted
/// security, and returns the rows it processed.
///
/// Moving rows runs the table's own code: its triggers, check constraints,
/// generated columns and index expressions. Run as whoever calls maintenance
/// (pg_cron's superuser), that code would act with the caller's rights;
/// run as the owner, as VACUUM and REINDEX run index expressions, it can do
/// nothing its owner could not. The caller must have the owner's rights
/// already (be it, a member of it, or a superuser), so this grants none.
#[pg_extern(schema = "gridkit", name = "_ts_run_as_owner", volatile, strict)]
fn ts_run_as_owner(table: pg_sys::Oid, sql: &str, lo: TimestampWithTimeZone, hi: TimestampWithTimeZone) -> i64 {
    (|| -> SqlResult<i64> {
        let owner = crate::access::require_owner_rights(table, "move its rows")?;
        let _as_owner = crate::access::AsRole::switch(owner);
        Spi::connect_mut(|client| -> SqlResult<i64> {
            let done = client.update(sql, None, &[lo.into(), hi.into()])?;
            Ok(done.len() as i64)
        })
    })()
    .or_raise()
}
