//! `gridkit._rollup_log()`: the statement trigger that logs what a write to
//! a rollup source changed, one `gridkit.rollup_invalidation` row per
//! statement and rollup with the changed rows' time range.
//!
//! The range comes from the statement's transition tables, read here
//! straight from their tuplestores: `min`/`max` in SQL over the same rows
//! cost a quarter of a second per million rows, a fifth of what the
//! triggers add to a COPY. The function is declared in sql/rollup.sql
//! (SECURITY DEFINER: whoever may write the source may log its changes).

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::*;
use crate::pg::rows::{Plan, Planning};

/// The smallest and largest non-null value of timestamptz attribute
/// `attnum` in a transition table, read through a read pointer of our own
/// (other triggers of the statement read the same tuplestore).
///
/// # Safety
/// `store` is a live transition tuplestore whose tuples have descriptor
/// `desc`.
unsafe fn time_range(
    store: *mut pg_sys::Tuplestorestate,
    desc: pg_sys::TupleDesc,
    attnum: i32,
    range: &mut Option<(i64, i64)>,
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
                *range = Some(match *range {
                    None => (t, t),
                    Some((lo, hi)) => (lo.min(t), hi.max(t)),
                });
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
            Ok(())
        })
    })
}

#[pg_trigger(sql = false)]
fn _rollup_log<'a>(trigger: &'a PgTrigger<'a>) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let relid = trigger.relid()?;
    if matches!(trigger.op()?, PgTriggerOperation::Truncate) {
        log_range(relid, TimestampWithTimeZone::negative_infinity(), TimestampWithTimeZone::positive_infinity())
            .or_raise();
        return Ok(None);
    }
    let column = trigger.extra_args()?.into_iter().next().unwrap_or_default();
    let data = trigger.trigger_data();
    let mut range = None;
    // SAFETY: the trigger's relation, its descriptor and its transition
    // tables are alive for the call; the tuplestores hold tuples of that
    // descriptor.
    unsafe {
        let desc = (*data.tg_relation).rd_att;
        let name = std::ffi::CString::new(column.as_str()).unwrap_or_default();
        let attnum = pg_sys::attnameAttNum(data.tg_relation, name.as_ptr(), false);
        let attnum = Some(attnum).filter(|&n| {
            n > 0 && (*desc).attrs.as_slice((*desc).natts as usize)[n as usize - 1].atttypid == pg_sys::TIMESTAMPTZOID
        });
        let Some(attnum) = attnum else {
            SqlError::new(
                ERRCODE_UNDEFINED_COLUMN,
                format!(
                    "gridkit: rollup source {}.{} has no timestamptz column \"{column}\"",
                    trigger.table_schema()?,
                    trigger.table_name()?
                ),
            )
            .hint("Drop and recreate its rollups: the time column was renamed, dropped or changed type.")
            .raise();
        };
        time_range(data.tg_oldtable, desc, attnum, &mut range);
        time_range(data.tg_newtable, desc, attnum, &mut range);
    }
    let Some((lo, hi)) = range else { return Ok(None) };
    let bound = |t: i64| {
        TimestampWithTimeZone::try_from(t)
            .map_err(|_| SqlError::new(ERRCODE_DATETIME_FIELD_OVERFLOW, "time out of range"))
            .or_raise()
    };
    log_range(relid, bound(lo), bound(hi)).or_raise();
    Ok(None)
}
