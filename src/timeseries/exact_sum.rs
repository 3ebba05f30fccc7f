//! `gridkit._exact_sum(v)` and `gridkit._exact_sum_squares(v)` over `real`
//! and `double precision`: the same `numeric` as `sum(v::numeric)` and
//! `sum(v::numeric * v::numeric)`, which rollups keep as mergeable state,
//! without a `numeric` per row (`gridkit_timeseries::exact_sum`). The
//! aggregates themselves are declared in sql/rollup.sql.

use gridkit_timeseries::exact_sum::{ExactSum, Special, FLOAT4_DIGITS, FLOAT8_DIGITS};
use pgrx::prelude::*;
use pgrx::{pg_sys, AnyNumeric, Internal, PgMemoryContexts};

use crate::error::*;

/// The aggregate's memory context: the state must outlive the per-row
/// context the transition function runs in.
fn aggregate_context(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::MemoryContext {
    let mut context = std::ptr::null_mut();
    // SAFETY: fcinfo is the call's own; AggCheckCallContext only reads it.
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut context) } == 0 {
        SqlError::new(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            "exact sum support functions can only be called by their aggregates",
        )
        .raise();
    }
    context
}

/// The state in `state`, created in the aggregate's context on first use.
fn state_of(state: &mut Internal, fcinfo: pg_sys::FunctionCallInfo) -> &mut ExactSum {
    if !state.initialized() {
        let context = aggregate_context(fcinfo);
        // SAFETY: the new value lives (and is dropped) with the aggregate
        // context, which outlives every call that sees this state.
        *state = unsafe { PgMemoryContexts::For(context).switch_to(|_| Internal::new(ExactSum::default())) };
    }
    // SAFETY: every Internal these functions see was made above or by
    // _exact_sum_deserialize, always as an ExactSum.
    unsafe { state.get_mut::<ExactSum>() }.expect("initialized above")
}

fn step(mut state: Internal, v: Option<f64>, digits: u32, square: bool, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    if let Some(v) = v {
        state_of(&mut state, fcinfo).add_float(v, digits, square);
    }
    state
}

/// One transition function per aggregate and argument type (pgrx needs a
/// Rust function per SQL overload).
macro_rules! step_function {
    ($rust:ident, $sql:literal, $ty:ty, $digits:expr, $square:expr) => {
        #[pg_extern(schema = "gridkit", name = $sql, parallel_safe)]
        fn $rust(state: Internal, v: Option<$ty>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
            step(state, v.map(f64::from), $digits, $square, fcinfo)
        }
    };
}

step_function!(exact_sum_step8, "_exact_sum_step", f64, FLOAT8_DIGITS, false);
step_function!(exact_sum_step4, "_exact_sum_step", f32, FLOAT4_DIGITS, false);
step_function!(exact_sum_squares_step8, "_exact_sum_squares_step", f64, FLOAT8_DIGITS, true);
step_function!(exact_sum_squares_step4, "_exact_sum_squares_step", f32, FLOAT4_DIGITS, true);

/// The sum as `numeric`; NULL when no value was added.
#[pg_extern(schema = "gridkit", name = "_exact_sum_final", parallel_safe)]
fn exact_sum_final(state: Internal) -> Option<AnyNumeric> {
    // SAFETY: see state_of.
    numeric_of(unsafe { state.get::<ExactSum>() }?)
}

/// An exact sum as `numeric`; `None` when no value was added.
pub fn numeric_of(sum: &ExactSum) -> Option<AnyNumeric> {
    if !sum.any {
        return None;
    }
    let parse = |text: &str| {
        AnyNumeric::try_from(text)
            .map_err(|e| SqlError::new(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, format!("exact sum {text}: {e}")))
            .or_raise()
    };
    if let Some(special) = sum.special() {
        return Some(parse(match special {
            Special::NaN => "NaN",
            Special::Infinity => "Infinity",
            Special::NegativeInfinity => "-Infinity",
        }));
    }
    let mut total = parse(&sum.accumulated_text());
    for term in &sum.overflow {
        total += parse(&term.to_numeric_text());
    }
    Some(total)
}

/// Merges two partial states (parallel aggregation).
#[pg_extern(schema = "gridkit", name = "_exact_sum_combine", parallel_safe)]
fn exact_sum_combine(mut into: Internal, from: Internal, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: see state_of.
    if let Some(other) = unsafe { from.get::<ExactSum>() } {
        let other = other.clone();
        state_of(&mut into, fcinfo).merge(&other);
    }
    into
}

#[pg_extern(schema = "gridkit", name = "_exact_sum_serialize", strict, parallel_safe)]
fn exact_sum_serialize(state: Internal) -> Vec<u8> {
    // SAFETY: see state_of.
    unsafe { state.get::<ExactSum>() }.map(ExactSum::to_bytes).unwrap_or_default()
}

#[pg_extern(schema = "gridkit", name = "_exact_sum_deserialize", strict, parallel_safe)]
fn exact_sum_deserialize(bytes: &[u8], _unused: Internal) -> Internal {
    let sum = ExactSum::from_bytes(bytes)
        .ok_or_else(|| SqlError::new(ERRCODE_DATA_CORRUPTED, "malformed exact sum state"))
        .or_raise();
    Internal::new(sum)
}
