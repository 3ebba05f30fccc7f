//! `history`'s dynamic statements (sql/series.sql) run from plans kept for
//! the life of the backend, one per statement text.
//!
//! A history call is a few small statements over partitioned tables;
//! planning them afresh (a raw count over a month of daily partitions, a
//! read over the rollup's partitions and the live source) cost more than
//! running them. Kept as generic plans with every value a parameter, the
//! partitions outside the range are pruned when the executor starts instead.
//! Permissions are checked, and row-level security applied, for the user
//! running each call, as for any plan PostgreSQL caches.

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::datum::TimestampWithTimeZone;
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::*;
use crate::pg::rows::{for_each_row, Col, Plan, Planning};

/// Statement shapes kept per backend before the cache starts over (one per
/// source, key columns and rollup tier in use).
const MAX_PLANS: usize = 256;

thread_local! {
    static PLANS: RefCell<HashMap<String, Plan>> = RefCell::new(HashMap::new());
}

/// Runs `sql` (its parameters all `text`, cast in the statement) with
/// `args` from the kept plan for that text, preparing it on first use;
/// `f` sees every row, whose columns must be `columns`. Must be called
/// while connected to SPI.
///
/// The functions are internal but callable by anyone (`history` runs as its
/// caller): a statement is run read-only with the caller's rights, and one
/// returning other types than these is refused before it runs, so the
/// values are never read as the wrong type.
fn run_kept(
    sql: &str,
    args: &[Option<String>],
    columns: &[Col],
    f: impl FnMut(&[pg_sys::Datum], &[bool]),
) -> SqlResult<()> {
    let known = PLANS.with(|p| p.borrow().contains_key(sql));
    if !known {
        let planning = Spi::connect(crate::pg::citus::loaded)?;
        let planning = if planning { Planning::Custom } else { Planning::Generic };
        let plan = Plan::prepare(sql, &vec![pg_sys::TEXTOID; args.len()], planning, true)?;
        plan.check_result_types(columns)?;
        PLANS.with(|p| {
            let mut plans = p.borrow_mut();
            if plans.len() >= MAX_PLANS {
                plans.clear();
            }
            plans.insert(sql.to_string(), plan);
        });
    }
    let datums: Vec<Option<pg_sys::Datum>> =
        args.iter().map(|a| a.as_deref().and_then(IntoDatum::into_datum)).collect();
    PLANS.with(|p| {
        let plans = p.borrow();
        let plan = plans.get(sql).expect("prepared above");
        for_each_row(plan, &datums, true, columns, f);
    });
    Ok(())
}

/// The rows of a history statement: bucket, avg, min, max, count.
#[pg_extern(schema = "gridkit", name = "_history_rows", stable)]
fn history_rows(
    sql: &str,
    args: Vec<Option<String>>,
) -> TableIterator<
    'static,
    (
        name!(bucket, Option<TimestampWithTimeZone>),
        name!(avg, Option<f64>),
        name!(min, Option<f64>),
        name!(max, Option<f64>),
        name!(count, Option<i64>),
    ),
> {
    type Row = (Option<TimestampWithTimeZone>, Option<f64>, Option<f64>, Option<f64>, Option<i64>);
    let rows = Spi::connect(|_| -> SqlResult<Vec<Row>> {
        let mut rows = Vec::new();
        let columns = [Col::TimestampTz, Col::Float8, Col::Float8, Col::Float8, Col::Int8];
        run_kept(sql, &args, &columns, |v, nulls| {
            let float = |i: usize| (!nulls[i]).then(|| f64::from_bits(v[i].value() as u64));
            rows.push((
                (!nulls[0]).then(|| TimestampWithTimeZone::try_from(v[0].value() as i64).ok()).flatten(),
                float(1),
                float(2),
                float(3),
                (!nulls[4]).then(|| v[4].value() as i64),
            ));
        })?;
        Ok(rows)
    })
    .or_raise();
    TableIterator::new(rows)
}

/// The single bigint a history statement returns (a row count).
#[pg_extern(schema = "gridkit", name = "_history_count", stable)]
fn history_count(sql: &str, args: Vec<Option<String>>) -> Option<i64> {
    Spi::connect(|_| -> SqlResult<Option<i64>> {
        let mut n = None;
        run_kept(sql, &args, &[Col::Int8], |v, nulls| n = (!nulls[0]).then(|| v[0].value() as i64))?;
        Ok(n)
    })
    .or_raise()
}
