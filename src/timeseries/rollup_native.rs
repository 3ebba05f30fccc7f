//! A refresh range aggregated in Rust: the raw rows come from the executor
//! (bucket, keys, values), `gridkit_timeseries::accumulate` folds them
//! into state, and one INSERT from arrays writes the groups. It gives the
//! same rows as the rollup's `INSERT ... SELECT ... GROUP BY` (07_rollups
//! compares the two) in about half the time, for the rollups whose types
//! it handles (`Rollup::native_plan`); the others, and ranges whose groups
//! outgrow the hash-aggregate memory limit, keep the SQL statement.

use gridkit_timeseries::accumulate::{
    Accumulator, Extreme, Group, InputType, KeyRef, KeyType, KeyValue, NativePlan, NativeType, State, Value,
};
use gridkit_timeseries::Rollup;
use pgrx::datum::{DatumWithOid, TimestampWithTimeZone};
use pgrx::pg_sys::{self, Oid};
use pgrx::spi::SpiClient;
use pgrx::AnyNumeric;

use crate::derived::Phases;
use crate::error::*;
use crate::layers::registry::{regclass_arg, Column};
use crate::pg::rows::{first_value, for_each_row_while, insert_chunks, varlena_bytes, Col, Plan, Planning};
use crate::timeseries::exact_sum::numeric_of;

/// Groups written per INSERT.
const CHUNK_GROUPS: usize = 10_000;

/// The type of a source column as native accumulation sees it.
fn native_type(column: &Column) -> Option<NativeType> {
    Some(match column.base_type {
        pg_sys::INT2OID => NativeType::Int2,
        pg_sys::INT4OID => NativeType::Int4,
        pg_sys::INT8OID => NativeType::Int8,
        pg_sys::BOOLOID => NativeType::Bool,
        pg_sys::FLOAT4OID => NativeType::Float4,
        pg_sys::FLOAT8OID => NativeType::Float8,
        pg_sys::TEXTOID | pg_sys::VARCHAROID => NativeType::Text,
        _ => return None,
    })
}

/// How rollup `rollup` over `source` (its columns) can be refreshed in
/// Rust, if it can. Text keys need a deterministic collation (then equal
/// means equal bytes) and a UTF-8 database (they are written back as Rust
/// strings).
pub fn plan(client: &SpiClient<'_>, rollup: &Rollup, source: Oid, columns: &[Column]) -> SqlResult<Option<NativePlan>> {
    let Some(plan) = rollup.native_plan(|name| columns.iter().find(|c| c.name == name).and_then(native_type)) else {
        return Ok(None);
    };
    let text_keys: Vec<String> =
        plan.keys.iter().filter(|(_, t)| *t == KeyType::Text).map(|(k, _)| k.clone()).collect();
    if !text_keys.is_empty() {
        // SAFETY: reads the session's database encoding.
        if unsafe { pg_sys::GetDatabaseEncoding() } != pg_sys::pg_enc::PG_UTF8 as i32 {
            return Ok(None);
        }
        let deterministic = first_value::<bool>(
            client,
            "SELECT pg_catalog.bool_and(coalesce(c.collisdeterministic, true))
               FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_collation c ON c.oid = a.attcollation
              WHERE a.attrelid = $1 AND a.attname = ANY ($2)",
            &[regclass_arg(source), text_keys.into()],
        )?;
        if deterministic != Some(true) {
            return Ok(None);
        }
    }
    Ok(Some(plan))
}

/// Aggregates the rows of `source` in [`lower`, `upper`) (SQL literals) and
/// inserts their groups into `table`. Returns the groups written, or `None`
/// (nothing written) when they would need more memory than a hash
/// aggregate may use: the caller runs the SQL statement, which can spill.
#[allow(clippy::too_many_arguments)]
pub fn refresh_range(
    client: &mut SpiClient<'_>,
    rollup: &Rollup,
    plan: &NativePlan,
    table: &str,
    source: &str,
    lower: &str,
    upper: &str,
    phases: &mut Phases,
) -> SqlResult<Option<i64>> {
    let select = Plan::prepare(&rollup.native_select_sql(plan, source, lower, upper), &[], Planning::Custom, false)?;
    // SAFETY: reads settings.
    let budget = unsafe { pg_sys::get_hash_memory_limit() };
    let mut acc = Accumulator::new(plan.clone());
    let (nkeys, ninputs) = (plan.keys.len(), plan.inputs.len());
    let key_types: Vec<KeyType> = plan.keys.iter().map(|(_, t)| *t).collect();
    let input_types: Vec<InputType> = plan.inputs.iter().map(|(_, t)| *t).collect();
    let mut inputs = vec![Value::Null; ninputs];
    let mut over_budget = false;
    let mut null_bucket = false;
    let columns: Vec<Col> = std::iter::once(Col::TimestampTz)
        .chain(key_types.iter().map(|t| match t {
            KeyType::Int2 => Col::Int2,
            KeyType::Int4 => Col::Int4,
            KeyType::Int8 => Col::Int8,
            KeyType::Bool => Col::Bool,
            KeyType::Text => Col::Varlena,
        }))
        .chain(input_types.iter().map(|t| match t {
            InputType::Int2 => Col::Int2,
            InputType::Int4 => Col::Int4,
            InputType::Int8 => Col::Int8,
            InputType::Float4 => Col::Float4,
            InputType::Float8 => Col::Float8,
        }))
        .collect();
    for_each_row_while(&select, &[], false, &columns, |values, nulls| {
        if nulls[0] {
            // Rows with a NULL time fail the range condition; never here.
            null_bucket = true;
            return false;
        }
        let keys = key_types.iter().enumerate().map(|(j, ty)| {
            let (d, null) = (values[1 + j], nulls[1 + j]);
            if null {
                return KeyRef::Null;
            }
            match ty {
                KeyType::Int2 => KeyRef::Int(d.value() as i16 as i64),
                KeyType::Int4 => KeyRef::Int(d.value() as i32 as i64),
                KeyType::Int8 => KeyRef::Int(d.value() as i64),
                KeyType::Bool => KeyRef::Int((d.value() != 0) as i64),
                // SAFETY: a non-null text datum; detoasted into the row
                // batch context, which outlives this row.
                KeyType::Text => KeyRef::Text(unsafe { varlena_bytes(d) }),
            }
        });
        for (i, ty) in input_types.iter().enumerate() {
            let (d, null) = (values[1 + nkeys + i], nulls[1 + nkeys + i]);
            inputs[i] = if null {
                Value::Null
            } else {
                match ty {
                    InputType::Int2 => Value::Int(d.value() as i16 as i64),
                    InputType::Int4 => Value::Int(d.value() as i32 as i64),
                    InputType::Int8 => Value::Int(d.value() as i64),
                    InputType::Float4 => Value::Float(f32::from_bits(d.value() as u32) as f64),
                    InputType::Float8 => Value::Float(f64::from_bits(d.value() as u64)),
                }
            };
        }
        acc.add(values[0].value() as i64, keys, &inputs);
        if acc.bytes() > budget {
            over_budget = true;
            return false;
        }
        true
    });
    drop(select);
    if null_bucket {
        return Err(SqlError::new(ERRCODE_INTERNAL_ERROR, "a refresh read a row without a bucket"));
    }
    if over_budget {
        return Ok(None);
    }
    phases.mark("aggregate in Rust");
    let groups = acc.into_groups();
    let sql = rollup.native_insert_sql(table);
    insert_chunks(client, &groups, &sql, (CHUNK_GROUPS, usize::MAX), |_| 1, |chunk| arguments(plan, chunk))?;
    Ok(Some(groups.len() as i64))
}

/// One array per column of the groups: bucket, keys, states.
fn arguments(plan: &NativePlan, groups: &[Group]) -> Vec<DatumWithOid<'static>> {
    let mut args: Vec<DatumWithOid<'static>> = Vec::with_capacity(1 + plan.keys.len() + plan.states.len());
    let buckets: Vec<TimestampWithTimeZone> = groups
        .iter()
        .map(|g| {
            TimestampWithTimeZone::try_from(g.bucket)
                .map_err(|_| SqlError::new(ERRCODE_DATETIME_FIELD_OVERFLOW, "bucket out of range"))
                .or_raise()
        })
        .collect();
    args.push(buckets.into());
    for (j, (_, ty)) in plan.keys.iter().enumerate() {
        let int = |g: &Group| match &g.keys[j] {
            KeyValue::Int(v) => Some(*v),
            _ => None,
        };
        args.push(match ty {
            KeyType::Int2 => groups.iter().map(|g| int(g).map(|v| v as i16)).collect::<Vec<_>>().into(),
            KeyType::Int4 => groups.iter().map(|g| int(g).map(|v| v as i32)).collect::<Vec<_>>().into(),
            KeyType::Int8 => groups.iter().map(int).collect::<Vec<_>>().into(),
            KeyType::Bool => groups.iter().map(|g| int(g).map(|v| v != 0)).collect::<Vec<_>>().into(),
            KeyType::Text => groups
                .iter()
                .map(|g| match &g.keys[j] {
                    // Valid UTF-8: read from text in a UTF-8 database.
                    KeyValue::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .into(),
        });
    }
    for (s, op) in plan.states.iter().enumerate() {
        use gridkit_timeseries::accumulate::StateOp::*;
        let input_type = match *op {
            Rows => None,
            Count(i) | Sum(i) | SumSq(i) | Min(i) | Max(i) | HighRisk(i) => Some(plan.inputs[i].1),
        };
        let extreme = |g: &Group| match &g.states[s] {
            State::Extreme(e) => *e,
            _ => None,
        };
        let int = move |g: &Group| match extreme(g) {
            Some(Extreme::Int(v)) => Some(v),
            _ => None,
        };
        let float = move |g: &Group| match extreme(g) {
            Some(Extreme::Float(v)) => Some(v),
            _ => None,
        };
        args.push(match (op, input_type) {
            (Rows | Count(_) | HighRisk(_), _) => groups
                .iter()
                .map(|g| match &g.states[s] {
                    State::Count(n) => *n,
                    _ => 0,
                })
                .collect::<Vec<i64>>()
                .into(),
            (Sum(_) | SumSq(_), _) => groups
                .iter()
                .map(|g| match &g.states[s] {
                    State::FloatSum(sum) => numeric_of(sum),
                    State::IntSum(sum) => sum.map(numeric_of_i128),
                    _ => None,
                })
                .collect::<Vec<Option<AnyNumeric>>>()
                .into(),
            (Min(_) | Max(_), Some(InputType::Int2)) => {
                groups.iter().map(|g| int(g).map(|v| v as i16)).collect::<Vec<_>>().into()
            }
            (Min(_) | Max(_), Some(InputType::Int4)) => {
                groups.iter().map(|g| int(g).map(|v| v as i32)).collect::<Vec<_>>().into()
            }
            (Min(_) | Max(_), Some(InputType::Int8)) => groups.iter().map(int).collect::<Vec<_>>().into(),
            (Min(_) | Max(_), Some(InputType::Float4)) => {
                groups.iter().map(|g| float(g).map(|v| v as f32)).collect::<Vec<_>>().into()
            }
            (Min(_) | Max(_), _) => groups.iter().map(float).collect::<Vec<_>>().into(),
        });
    }
    args
}

fn numeric_of_i128(v: i128) -> AnyNumeric {
    match i64::try_from(v) {
        Ok(small) => AnyNumeric::from(small),
        Err(_) => AnyNumeric::try_from(v.to_string().as_str())
            .map_err(|e| SqlError::new(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, format!("sum {v}: {e}")))
            .or_raise(),
    }
}
