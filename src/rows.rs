//! Reading query results: single values, and a cursor's rows in batches as
//! raw datums.
//!
//! One `heap_deform_tuple` per row and no per-column type checks: the query
//! text fixes every column's type, and the caller decodes each by that type.
//! Each batch's tuple table and everything detoasted while decoding it are
//! freed before the next batch, so memory stays bounded by one batch.

use pgrx::prelude::*;
use pgrx::spi::SpiCursor;
use pgrx::PgMemoryContexts;

use crate::error::SqlResult;
use pgrx::datum::DatumWithOid;
use pgrx::spi::{SpiClient, SpiTupleTable};

pub const BATCH_ROWS: i64 = 4096;

/// Calls `f(values, nulls)` for every row the cursor returns.
pub fn for_each_row(
    cursor: &mut SpiCursor<'_>,
    natts: usize,
    mut f: impl FnMut(&[pg_sys::Datum], &[bool]),
) -> SqlResult<()> {
    let mut values = vec![pg_sys::Datum::from(0usize); natts];
    let mut nulls = vec![true; natts];
    let mut batch_context = PgMemoryContexts::new("gridkit row batch");
    loop {
        let n = cursor.fetch(BATCH_ROWS)?.len();
        // SAFETY: the fetch above left its result in SPI_tuptable; we read it
        // before any other SPI call and free it once done.
        unsafe {
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
        }
        pg_sys::check_for_interrupts!();
    }
    Ok(())
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
