//! `gridkit._rollup_log()`: the statement trigger that logs what a write to
//! a rollup source changed, `gridkit.rollup_invalidation` rows per
//! statement and rollup with the changed rows' time ranges: one per
//! stretch of hours holding changed rows (`gridkit_timeseries::changes`),
//! so a statement touching June and September has two buckets rewritten,
//! not every bucket between.
//!
//! The times come from the statement's transition tables, read here
//! straight from their tuplestores: `min`/`max` in SQL over the same rows
//! cost a quarter of a second per million rows, a fifth of what the
//! triggers add to a COPY. The function is declared in sql/rollup.sql
//! (SECURITY DEFINER: whoever may write the source may log its changes).
//!
//! On a hash-distributed Citus table the trigger runs on each shard, on
//! the worker that holds it, inside the worker's part of the distributed
//! transaction; the rollups are registered on the coordinator only. There
//! it logs the range once, untied to any rollup, into the shard of the
//! source's `<source>_rollup_changes` table that is colocated with the
//! written shard (found by the distribution value of a row the statement
//! wrote), so the log commits or aborts with the write on the same node,
//! and a refresh on the coordinator takes the rows back in its own
//! distributed transaction (src/timeseries/rollup.rs).

use pgrx::pg_sys;
use pgrx::prelude::*;

use gridkit_timeseries::changes::{ChangedTimes, MAX_RANGES};

use crate::error::*;
use crate::pg::rows::{Plan, Planning};

/// The distribution value of one written row: its attribute, its type and,
/// once a row was read, a copy of its value in the current memory context.
struct ShardKey {
    attnum: i32,
    type_oid: pg_sys::Oid,
    by_value: bool,
    length: i16,
    value: Option<pg_sys::Datum>,
}

/// A copy of `value` (of a type passed by value or with length `length`:
/// fixed, -1 varlena, -2 C string) in the current memory context, to
/// outlive the slot it was read from (PostgreSQL's datumCopy, which pgrx
/// does not bind).
///
/// # Safety
/// `value` is a valid datum of such a type.
unsafe fn copy_datum(value: pg_sys::Datum, by_value: bool, length: i16) -> pg_sys::Datum {
    if by_value {
        return value;
    }
    // SAFETY: the caller guarantees a valid by-reference datum of this length class.
    unsafe {
        let source = value.cast_mut_ptr::<u8>();
        match length {
            -1 => pg_sys::Datum::from(pg_sys::pg_detoast_datum_copy(source.cast())),
            -2 => pg_sys::Datum::from(pg_sys::pstrdup(source.cast())),
            n => {
                let copy = pg_sys::palloc(n as usize).cast::<u8>();
                std::ptr::copy_nonoverlapping(source, copy, n as usize);
                pg_sys::Datum::from(copy)
            }
        }
    }
}

/// Every non-null value of timestamptz attribute `attnum` in a transition
/// table, into `times`, read through a read pointer of our own
/// (other triggers of the statement read the same tuplestore); and the
/// first row's `key`, when one is asked for.
///
/// # Safety
/// `store` is a live transition tuplestore whose tuples have descriptor
/// `desc`; `key`'s attribute is one of that descriptor's.
unsafe fn time_range(
    store: *mut pg_sys::Tuplestorestate,
    desc: pg_sys::TupleDesc,
    attnum: i32,
    times: &mut ChangedTimes,
    mut key: Option<&mut ShardKey>,
) {
    // SAFETY: the caller guarantees a live tuplestore of tuples with descriptor `desc`; the slot is made and dropped here.
    unsafe {
        if store.is_null() {
            return;
        }
        let reader = pg_sys::tuplestore_alloc_read_pointer(store, pg_sys::EXEC_FLAG_REWIND as i32);
        pg_sys::tuplestore_select_read_pointer(store, reader);
        pg_sys::tuplestore_rescan(store);
        let slot = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsMinimalTuple);
        let mut rows = 0u32;
        while pg_sys::tuplestore_gettupleslot(store, true, false, slot) {
            let mut null = false;
            let t = pg_sys::slot_getattr(slot, attnum, &mut null).value() as i64;
            if !null {
                times.add(t);
            }
            if let Some(k) = key.as_deref_mut().filter(|k| k.value.is_none()) {
                let mut key_null = false;
                let v = pg_sys::slot_getattr(slot, k.attnum, &mut key_null);
                if !key_null {
                    k.value = Some(copy_datum(v, k.by_value, k.length));
                }
            }
            rows = rows.wrapping_add(1);
            if rows.is_multiple_of(65536) {
                pg_sys::check_for_interrupts!();
            }
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
    }
}

/// The rollups of a table, or of the table it is a partition of (a
/// statement naming a partition fires the partition's triggers).
const ROLLUPS: &str = "FROM gridkit.rollup r
                       WHERE r.source = $1::regclass
                          OR r.source IN (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = $1)";

thread_local! {
    /// The log statement, planned once per backend: a trigger of a
    /// one-row INSERT costs little more than the statement itself.
    static LOG_PLAN: std::cell::OnceCell<Plan> = const { std::cell::OnceCell::new() };
}

/// Logs [`lower`, `upper`] for every rollup of table `relid`.
fn log_range(relid: pg_sys::Oid, lower: TimestampWithTimeZone, upper: TimestampWithTimeZone) -> SqlResult<()> {
    Spi::connect(|_| -> SqlResult<()> {
        LOG_PLAN.with(|cell| -> SqlResult<()> {
            if cell.get().is_none() {
                let sql = format!(
                    "INSERT INTO gridkit.rollup_invalidation (rollup, lower, upper) SELECT r.name, $2, $3 {ROLLUPS}"
                );
                let plan = Plan::prepare(
                    &sql,
                    &[pg_sys::OIDOID, pg_sys::TIMESTAMPTZOID, pg_sys::TIMESTAMPTZOID],
                    Planning::Generic,
                    true,
                )?;
                let _ = cell.set(plan);
            }
            let plan = cell.get().expect("set above");
            let mut args = [
                pg_sys::Datum::from(relid),
                pg_sys::Datum::from(lower.into_inner()),
                pg_sys::Datum::from(upper.into_inner()),
            ];
            let nulls = [b' ' as std::ffi::c_char; 3];
            // SAFETY: SPI is connected; the plan takes these three types.
            let status =
                unsafe { pg_sys::SPI_execute_plan(plan.as_ptr(), args.as_mut_ptr(), nulls.as_ptr(), false, 0) };
            if status != pg_sys::SPI_OK_INSERT as i32 {
                return Err(SqlError::new(ERRCODE_INTERNAL_ERROR, format!("logging a change failed (SPI {status})")));
            }
            // SAFETY: read right after the statement it counts.
            if unsafe { pg_sys::SPI_processed } == 0 {
                // Triggers with no rollup behind them: a table distributed
                // by Citus after its rollups were made (its shards got the
                // coordinator's triggers, and no rollup is registered on a
                // worker). Logging nothing would leave the rollups wrong.
                return Err(SqlError::new(
                    ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "gridkit: this table has rollup triggers but no rollup on this node to log its change for",
                )
                .hint("A table distributed by Citus after rollups were made on it: drop its rollups and create them again on the coordinator."));
            }
            Ok(())
        })
    })
}

/// Logs [`lower`, `upper`] in the colocated shard of `changes` (on a Citus
/// worker, see the module comment).
fn log_range_on_shard(
    changes: &str,
    key: &ShardKey,
    value: pg_sys::Datum,
    lower: TimestampWithTimeZone,
    upper: TimestampWithTimeZone,
) -> SqlResult<()> {
    Spi::connect_mut(|client| -> SqlResult<()> {
        // SAFETY: `value` is a datum of type `key.type_oid`, copied into
        // this call's memory context.
        let value = unsafe { pgrx::datum::DatumWithOid::new(value, key.type_oid) };
        client.update(
            "SELECT gridkit._rollup_log_shard($1::regclass, $2, $3, $4)",
            None,
            &[changes.into(), value, lower.into(), upper.into()],
        )?;
        Ok(())
    })
}

/// Attribute `name` of the trigger's relation if it has type `type_oid`
/// (any type when `None`), with its type, by-value flag and length.
///
/// # Safety
/// `relation` is the trigger's open relation.
unsafe fn attribute(
    relation: pg_sys::Relation,
    name: &str,
    type_oid: Option<pg_sys::Oid>,
) -> Option<(i32, pg_sys::Oid, bool, i16)> {
    // SAFETY: the caller guarantees an open relation; attnum is checked against its descriptor.
    unsafe {
        let desc = (*relation).rd_att;
        let name = std::ffi::CString::new(name).ok()?;
        let attnum = pg_sys::attnameAttNum(relation, name.as_ptr(), false);
        if attnum <= 0 || attnum > (*desc).natts {
            return None;
        }
        let a = &(*desc).attrs.as_slice((*desc).natts as usize)[attnum as usize - 1];
        type_oid.is_none_or(|t| a.atttypid == t).then_some((attnum, a.atttypid, a.attbyval, a.attlen))
    }
}

#[pg_trigger(sql = false)]
fn _rollup_log<'a>(trigger: &'a PgTrigger<'a>) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let relid = trigger.relid()?;
    if matches!(trigger.op()?, PgTriggerOperation::Truncate) {
        log_range(relid, TimestampWithTimeZone::negative_infinity(), TimestampWithTimeZone::positive_infinity())
            .or_raise();
        return Ok(None);
    }
    let args = trigger.extra_args()?;
    let column = args.first().cloned().unwrap_or_default();
    // On a Citus shard: the source's change table and distribution column.
    let on_shard = args.get(1).zip(args.get(2));
    let data = trigger.trigger_data();
    let mut times = ChangedTimes::new();
    // `what` as the message names the column, `role` as the hint does.
    let missing = |what: &str, role: &str, column: &str| {
        let table =
            format!("{}.{}", trigger.table_schema().unwrap_or_default(), trigger.table_name().unwrap_or_default());
        SqlError::new(
            ERRCODE_UNDEFINED_COLUMN,
            format!("gridkit: rollup source {table} has no {what} column \"{column}\""),
        )
        .hint(format!("Drop and recreate its rollups: the {role} column was renamed, dropped or changed type."))
    };
    // SAFETY: the trigger's relation, its descriptor and its transition
    // tables are alive for the call; the tuplestores hold tuples of that
    // descriptor.
    let key = unsafe {
        let Some((attnum, ..)) = attribute(data.tg_relation, &column, Some(pg_sys::TIMESTAMPTZOID)) else {
            missing("timestamptz", "time", &column).raise();
        };
        let mut key = on_shard.map(|(_, key_column)| match attribute(data.tg_relation, key_column, None) {
            Some((attnum, type_oid, by_value, length)) => ShardKey { attnum, type_oid, by_value, length, value: None },
            None => missing("distribution", "distribution", key_column).raise(),
        });
        let desc = (*data.tg_relation).rd_att;
        time_range(data.tg_oldtable, desc, attnum, &mut times, key.as_mut());
        time_range(data.tg_newtable, desc, attnum, &mut times, key.as_mut());
        key
    };
    if times.is_empty() {
        return Ok(None);
    }
    let bound = |t: i64| {
        TimestampWithTimeZone::try_from(t)
            .map_err(|_| SqlError::new(ERRCODE_DATETIME_FIELD_OVERFLOW, "time out of range"))
            .or_raise()
    };
    let value = key.as_ref().and_then(|k| k.value);
    for (lo, hi) in times.ranges(MAX_RANGES) {
        match (on_shard, key.as_ref(), value) {
            (Some((changes, _)), Some(key), Some(value)) => {
                log_range_on_shard(changes, key, value, bound(lo), bound(hi))
            }
            // Rows with a time but no distribution value: Citus stores none.
            (Some(_), ..) => Ok(()),
            (None, ..) => log_range(relid, bound(lo), bound(hi)),
        }
        .or_raise();
    }
    Ok(None)
}
