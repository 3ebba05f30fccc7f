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

use crate::error::SqlResult;
use crate::layers::plan::KeptPlan;
use pgrx::datum::DatumWithOid;
use pgrx::spi::{SpiClient, SpiTupleTable};

pub const BATCH_ROWS: std::ffi::c_long = 4096;

/// Runs `plan` with float8 arguments `args` through a read-only cursor and
/// calls `f(values, nulls)` for every row. Must be called while connected to SPI.
pub fn for_each_row(plan: &KeptPlan, args: &[f64], natts: usize, mut f: impl FnMut(&[pg_sys::Datum], &[bool])) {
    let mut params: Vec<pg_sys::Datum> = args.iter().map(|a| a.into_datum().expect("a float8 is never NULL")).collect();
    let param_nulls = vec![b' ' as std::ffi::c_char; args.len()];
    let mut values = vec![pg_sys::Datum::from(0usize); natts];
    let mut nulls = vec![true; natts];
    let mut batch_context = PgMemoryContexts::new("gridkit row batch");
    // SAFETY: SPI is connected and the plan was prepared for these argument
    // types. Each fetch leaves its rows in SPI_tuptable, which we read before
    // any other SPI call and then free.
    unsafe {
        let portal =
            pg_sys::SPI_cursor_open(std::ptr::null(), plan.as_ptr(), params.as_mut_ptr(), param_nulls.as_ptr(), true);
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
