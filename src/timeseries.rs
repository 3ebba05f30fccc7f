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
