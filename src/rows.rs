//! Reading query results: single values, and a cursor's rows in batches as
//! raw datums.
//!
//! One `heap_deform_tuple` per row and no per-column type checks: the query
//! text fixes every column's type, and the caller decodes each by that type.
//! Reads are read-only SPI, so they run on replicas and never need a
//! transaction id.
//! Each batch's tuple table and everything detoasted while decoding it are
//! freed before the next batch, so memory stays bounded by one batch.

use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use std::ffi::CString;
use std::ptr::NonNull;

use crate::error::*;
use pgrx::datum::DatumWithOid;
use pgrx::spi::{SpiClient, SpiTupleTable};

pub const BATCH_ROWS: std::ffi::c_long = 4096;

/// A prepared SPI plan; kept for the life of the backend or freed when dropped.
///
/// pgrx's prepared statements cannot choose between custom and generic plans,
/// so this prepares with `SPI_prepare_cursor` directly.
pub struct Plan(NonNull<pg_sys::_SPI_plan>);

/// When to plan a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planning {
    /// Planned afresh for every execution, with the arguments' values.
    Custom,
    /// Planned once for any arguments.
    Generic,
}

impl Plan {
    /// Prepares `sql` with parameters of `types`. A `kept` plan survives the
    /// SPI connection (and lives until dropped). Must be called while
    /// connected to SPI.
    pub fn prepare(sql: &str, types: &[pg_sys::Oid], planning: Planning, kept: bool) -> SqlResult<Plan> {
        let text = CString::new(sql).map_err(|_| SqlError::new(ERRCODE_INTERNAL_ERROR, "query text contains NUL"))?;
        let mut types = types.to_vec();
        let options = match planning {
            Planning::Generic => pg_sys::CURSOR_OPT_GENERIC_PLAN,
            Planning::Custom => pg_sys::CURSOR_OPT_CUSTOM_PLAN,
        };
        // SAFETY: SPI is connected; the text and types outlive the call.
        unsafe {
            let plan =
                pg_sys::SPI_prepare_cursor(text.as_ptr(), types.len() as i32, types.as_mut_ptr(), options as i32);
            let status = pg_sys::SPI_result;
            let plan = NonNull::new(plan).ok_or_else(|| {
                SqlError::new(ERRCODE_INTERNAL_ERROR, format!("SPI_prepare_cursor failed ({status})"))
            })?;
            if kept {
                pg_sys::SPI_keepplan(plan.as_ptr());
            }
            Ok(Plan(plan))
        }
    }

    pub fn as_ptr(&self) -> *mut pg_sys::_SPI_plan {
        self.0.as_ptr()
    }
}

impl Drop for Plan {
    fn drop(&mut self) {
        // SAFETY: the plan is ours and freed once. An unkept plan lives in
        // the SPI procedure's context; it is dropped before disconnecting.
        unsafe { pg_sys::SPI_freeplan(self.0.as_ptr()) };
    }
}

/// Runs `plan` with `args` (`None` for NULL) through a cursor and calls
/// `f(values, nulls)` for every row. A `read_only` cursor reads the
/// statement's snapshot; otherwise it takes a fresh one. Must be called while
/// connected to SPI.
pub fn for_each_row(
    plan: &Plan,
    args: &[Option<pg_sys::Datum>],
    read_only: bool,
    natts: usize,
    mut f: impl FnMut(&[pg_sys::Datum], &[bool]),
) {
    let mut params: Vec<pg_sys::Datum> = args.iter().map(|a| a.unwrap_or(pg_sys::Datum::from(0usize))).collect();
    let param_nulls: Vec<std::ffi::c_char> =
        args.iter().map(|a| if a.is_some() { b' ' } else { b'n' } as std::ffi::c_char).collect();
    let mut values = vec![pg_sys::Datum::from(0usize); natts];
    let mut nulls = vec![true; natts];
    let mut batch_context = PgMemoryContexts::new("gridkit row batch");
    // SAFETY: SPI is connected and the plan was prepared for these argument
    // types; datum arguments stay alive in the caller. Each fetch leaves its rows in SPI_tuptable, which we read before
    // any other SPI call and then free.
    unsafe {
        let portal = pg_sys::SPI_cursor_open(
            std::ptr::null(),
            plan.as_ptr(),
            params.as_mut_ptr(),
            param_nulls.as_ptr(),
            read_only,
        );
        loop {
            pg_sys::SPI_cursor_fetch(portal, true, BATCH_ROWS);
            let n = pg_sys::SPI_processed as usize;
            let table = pg_sys::SPI_tuptable;
            if n == 0 || table.is_null() {
                if !table.is_null() {
                    pg_sys::SPI_freetuptable(table);
                }
                break;
            }
            let tupdesc = (*table).tupdesc;
            assert_eq!((*tupdesc).natts as usize, natts, "cursor returned an unexpected number of columns");
            batch_context.switch_to(|_| {
                for i in 0..n {
                    let tuple = *(*table).vals.add(i);
                    pg_sys::heap_deform_tuple(tuple, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
                    f(&values, &nulls);
                }
            });
            pg_sys::SPI_freetuptable(table);
            batch_context.reset();
            pg_sys::check_for_interrupts!();
            if n < BATCH_ROWS as usize {
                break; // a short batch is the last one
            }
        }
        pg_sys::SPI_cursor_close(portal);
    }
}

/// The bytes of a text or bytea datum (detoasted into the current context).
///
/// # Safety
/// `datum` must be a non-null varlena datum.
pub unsafe fn varlena_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    let v = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
    pgrx::varlena::varlena_to_byte_slice(v)
}

/// The first column of the first row of `sql`, or `None` when the query
/// returns no row or NULL.
pub fn first_value<T: FromDatum + IntoDatum>(
    client: &SpiClient<'_>,
    sql: &str,
    args: &[DatumWithOid<'_>],
) -> SqlResult<Option<T>> {
    let table: SpiTupleTable<'_> = client.select(sql, Some(1), args)?;
    if table.is_empty() {
        return Ok(None);
    }
    Ok(table.first().get::<T>(1)?)
}
