//! Reading query results: single values, and a query's rows in batches as
//! raw datums.
//!
//! Rows come straight from the executor's slots. The caller says how it
//! reads each column ([`Col`]); the result types are checked against that
//! when the executor starts the query, so no datum is read as the wrong
//! type. Reads are read-only SPI, so they run on replicas and
//! never need a transaction id. Everything detoasted while decoding is freed
//! every `BATCH_ROWS` rows, so memory stays bounded.

use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use std::ffi::CString;
use std::ptr::NonNull;

use crate::error::*;
use pgrx::datum::DatumWithOid;
use pgrx::pg_guard;
use pgrx::spi::{SpiClient, SpiTupleTable};

pub const BATCH_ROWS: std::ffi::c_long = 4096;

/// A prepared SPI plan; kept for the life of the backend or freed when dropped.
///
/// pgrx's prepared statements cannot choose between custom and generic plans,
/// so this prepares with `SPI_prepare_cursor` directly.
pub struct Plan {
    plan: NonNull<pg_sys::_SPI_plan>,
    /// The role a plan over derived tables runs as (see [`Plan::run_as`]).
    run_as: Option<pg_sys::Oid>,
}

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
            Ok(Plan { plan, run_as: None })
        }
    }

    /// Makes every run of this plan execute as `role` (with restricted
    /// security: no SET ROLE, no temporary objects), for queries of ours
    /// over tables a build made, which only their owner may read. The
    /// caller decides first that its user may see what they hold
    /// (`crate::access`).
    pub fn run_as(mut self, role: pg_sys::Oid) -> Plan {
        self.run_as = Some(role);
        self
    }

    pub fn as_ptr(&self) -> *mut pg_sys::_SPI_plan {
        self.plan.as_ptr()
    }

    /// Checks at preparation that the statement returns exactly `columns`
    /// (as [`for_each_row`] does again at every start): a statement text
    /// that came in as an argument is refused before it first runs.
    pub fn check_result_types(&self, columns: &[Col]) -> SqlResult<()> {
        let mismatch = || {
            SqlError::new(
                ERRCODE_DATATYPE_MISMATCH,
                format!("the statement must return {} column(s) of the expected types", columns.len()),
            )
        };
        // SAFETY: a prepared plan of one statement has one plan source,
        // whose result descriptor lives as long as the plan.
        unsafe {
            let sources = pg_sys::SPI_plan_get_plan_sources(self.as_ptr());
            if sources.is_null() || (*sources).length != 1 {
                return Err(mismatch());
            }
            let source = pg_sys::list_nth(sources, 0) as *mut pg_sys::CachedPlanSource;
            let desc = (*source).resultDesc;
            if desc.is_null() || result_mismatch((*desc).attrs.as_slice((*desc).natts as usize), columns).is_some() {
                return Err(mismatch());
            }
        }
        Ok(())
    }
}

impl Drop for Plan {
    fn drop(&mut self) {
        // SAFETY: the plan is ours and freed once. An unkept plan lives in
        // the SPI procedure's context; it is dropped before disconnecting.
        unsafe { pg_sys::SPI_freeplan(self.plan.as_ptr()) };
    }
}

/// How a caller of [`for_each_row`] reads a result column's datums. The
/// query's result types are checked against these when the executor
/// starts it, so the raw reads that follow rest on a check this module
/// makes, not on SQL written in another file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Int8,
    Int4,
    Int2,
    Float8,
    Float4,
    Bool,
    Tid,
    TimestampTz,
    /// Any variable-length type (text, bytea, geometry): read as bytes.
    Varlena,
}

impl Col {
    /// Whether a column of type `type_oid` (a domain counts as its base
    /// type) is read correctly as `self`.
    fn accepts(self, type_oid: pg_sys::Oid) -> bool {
        // SAFETY: catalog lookups of a type the executor is returning.
        let base = unsafe { pg_sys::getBaseType(type_oid) };
        match self {
            Col::Int8 => base == pg_sys::INT8OID,
            Col::Int4 => base == pg_sys::INT4OID,
            Col::Int2 => base == pg_sys::INT2OID,
            Col::Float8 => base == pg_sys::FLOAT8OID,
            Col::Float4 => base == pg_sys::FLOAT4OID,
            Col::Bool => base == pg_sys::BOOLOID,
            Col::Tid => base == pg_sys::TIDOID,
            Col::TimestampTz => base == pg_sys::TIMESTAMPTZOID,
            // SAFETY: as above.
            Col::Varlena => (unsafe { pg_sys::get_typlen(base) }) == -1,
        }
    }
}

/// Runs `plan` with `args` (`None` for NULL) and calls `f(values, nulls)`
/// for every row, whose columns are read as `columns` says (checked when
/// the query starts: a mismatch is an error, never a misread datum). A
/// `read_only` run reads the statement's snapshot; otherwise it takes a
/// fresh one. Must be called while connected to SPI.
///
/// Rows are handed over straight from the executor's slot (a `DestReceiver`
/// of ours), not copied into an SPI tuple table first: for a million rows
/// the copies cost more than reading them. No portal either: for a tile of
/// a few features, creating and dropping one costs as much as our own
/// work. Whatever `f` allocates (detoasted values) goes into a context
/// reset every `BATCH_ROWS` rows.
pub fn for_each_row(
    plan: &Plan,
    args: &[Option<pg_sys::Datum>],
    read_only: bool,
    columns: &[Col],
    mut f: impl FnMut(&[pg_sys::Datum], &[bool]),
) {
    for_each_row_while(plan, args, read_only, columns, |values, nulls| {
        f(values, nulls);
        true
    });
}

/// `for_each_row`, stopping the query as soon as `f` returns false.
pub fn for_each_row_while(
    plan: &Plan,
    args: &[Option<pg_sys::Datum>],
    read_only: bool,
    columns: &[Col],
    mut f: impl FnMut(&[pg_sys::Datum], &[bool]) -> bool,
) {
    let batch_context = PgMemoryContexts::new("gridkit row batch");
    let f: &mut dyn FnMut(&[pg_sys::Datum], &[bool]) -> bool = &mut f;
    let mut receiver = RowReceiver {
        base: pg_sys::DestReceiver {
            receiveSlot: Some(receive_slot),
            rStartup: Some(startup),
            rShutdown: Some(nothing),
            rDestroy: Some(nothing),
            mydest: pg_sys::CommandDest::DestNone,
        },
        columns: columns.to_vec(),
        // SAFETY: only used during this call, while `f` is alive (the
        // transmute erases its lifetime for the C struct).
        f: unsafe { std::mem::transmute::<&mut dyn FnMut(&[pg_sys::Datum], &[bool]) -> bool, RowFn>(f) },
        context: batch_context.value(),
        rows: 0,
        nulls: vec![true; columns.len()],
    };
    // SAFETY: SPI is connected and the plan was prepared for these argument
    // types; datum arguments stay alive in the caller. The receiver outlives
    // the execution, which is the only place it is called from.
    unsafe {
        let params = pg_sys::makeParamList(args.len() as i32);
        let slots = (*params).params.as_mut_slice(args.len());
        for (i, (slot, arg)) in slots.iter_mut().zip(args).enumerate() {
            *slot = pg_sys::ParamExternData {
                value: arg.unwrap_or(pg_sys::Datum::from(0usize)),
                isnull: arg.is_none(),
                pflags: pg_sys::PARAM_FLAG_CONST as u16,
                ptype: pg_sys::SPI_getargtypeid(plan.as_ptr(), i as i32),
            };
        }
        let options = pg_sys::SPIExecuteOptions {
            params,
            read_only,
            allow_nonatomic: false,
            must_return_tuples: false,
            tcount: 0,
            dest: &mut receiver.base,
            owner: std::ptr::null_mut(),
        };
        let role = plan.run_as.map(crate::access::AsRole::switch);
        let status = pg_sys::SPI_execute_plan_extended(plan.as_ptr(), &options);
        drop(role);
        pg_sys::pfree(params.cast());
        // Errors raise; a negative status is a misuse of SPI.
        assert!(status >= 0, "SPI_execute_plan_extended failed ({status})");
    }
    drop(batch_context);
}

type RowFn = &'static mut dyn FnMut(&[pg_sys::Datum], &[bool]) -> bool;

/// A `DestReceiver` that calls a Rust closure per row. `base` comes first,
/// so a pointer to it is a pointer to the whole.
#[repr(C)]
struct RowReceiver {
    base: pg_sys::DestReceiver,
    columns: Vec<Col>,
    f: RowFn,
    context: pg_sys::MemoryContext,
    rows: std::ffi::c_long,
    nulls: Vec<bool>,
}

#[pg_guard]
unsafe extern "C-unwind" fn receive_slot(slot: *mut pg_sys::TupleTableSlot, dest: *mut pg_sys::DestReceiver) -> bool {
    // SAFETY: the executor calls this with a valid slot and our receiver,
    // whose columns the query's descriptor matched at startup.
    unsafe {
        let r = &mut *(dest as *mut RowReceiver);
        let natts = r.columns.len();
        if ((*slot).tts_nvalid as usize) < natts {
            pg_sys::slot_getsomeattrs_int(slot, natts as i32);
        }
        let values = std::slice::from_raw_parts((*slot).tts_values, natts);
        r.nulls.copy_from_slice(std::slice::from_raw_parts((*slot).tts_isnull, natts));
        let old = pg_sys::MemoryContextSwitchTo(r.context);
        let more = (r.f)(values, &r.nulls);
        pg_sys::MemoryContextSwitchTo(old);
        r.rows += 1;
        if r.rows == BATCH_ROWS {
            r.rows = 0;
            pg_sys::MemoryContextReset(r.context);
            pg_sys::check_for_interrupts!();
        }
        // false stops the executor.
        more
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn startup(dest: *mut pg_sys::DestReceiver, _operation: i32, typeinfo: pg_sys::TupleDesc) {
    // SAFETY: the executor calls this with our receiver and the query's descriptor.
    let (r, attrs) = unsafe {
        let r = &*(dest as *mut RowReceiver);
        (r, (*typeinfo).attrs.as_slice((*typeinfo).natts as usize))
    };
    if let Some(mismatch) = result_mismatch(attrs, &r.columns) {
        pgrx::ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("gridkit: a query of its own returned {mismatch}")
        );
    }
}

/// How a result's columns differ from what the reader expects, if they do.
fn result_mismatch(attrs: &[pg_sys::FormData_pg_attribute], columns: &[Col]) -> Option<String> {
    if attrs.len() != columns.len() {
        return Some(format!("{} columns, not {}", attrs.len(), columns.len()));
    }
    attrs
        .iter()
        .zip(columns)
        .enumerate()
        .find(|(_, (a, c))| !c.accepts(a.atttypid))
        .map(|(i, (a, c))| format!("type oid {} in column {}, not {c:?}", a.atttypid, i + 1))
}

#[pg_guard]
unsafe extern "C-unwind" fn nothing(_dest: *mut pg_sys::DestReceiver) {}

/// The bytes of a text or bytea datum (detoasted into the current context).
///
/// # Safety
/// `datum` must be a non-null varlena datum.
pub unsafe fn varlena_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    // SAFETY: the caller guarantees a non-null varlena datum.
    unsafe {
        let v = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
        pgrx::varlena::varlena_to_byte_slice(v)
    }
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

/// Runs `sql` (an `INSERT ... SELECT FROM unnest($1, ...)`) once per chunk
/// of `rows` with the arguments `args` builds: at most `max_rows` rows and
/// `max_weight` of `weight` per chunk. Returns the rows.
pub fn insert_chunks<R>(
    client: &mut SpiClient<'_>,
    rows: &[R],
    sql: &str,
    (max_rows, max_weight): (usize, usize),
    weight: impl Fn(&R) -> usize,
    args: impl Fn(&[R]) -> Vec<DatumWithOid<'static>>,
) -> SqlResult<i64> {
    let mut context = PgMemoryContexts::new("gridkit insert chunk");
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut load = 0;
        while end < rows.len() && end - start < max_rows && load < max_weight {
            load += weight(&rows[end]);
            end += 1;
        }
        // SAFETY: everything allocated in the context (the argument arrays) is
        // no longer needed once the statement has run.
        unsafe {
            context.switch_to(|_| client.update(sql, None, &args(&rows[start..end])))?;
            context.reset();
        }
        start = end;
        pg_sys::check_for_interrupts!();
    }
    Ok(rows.len() as i64)
}

/// One column of a chunk as an array argument.
pub fn col<T: IntoDatum + 'static, R>(rows: &[R], f: impl Fn(&R) -> T) -> DatumWithOid<'static> {
    rows.iter().map(f).collect::<Vec<T>>().into()
}
