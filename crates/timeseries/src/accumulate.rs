//! A rollup's state for a range of raw rows, accumulated in Rust: what
//! `INSERT ... SELECT bucket, keys, count(*), gridkit._exact_sum(v), ...
//! GROUP BY` computes, for the rollups whose types allow it, at a fraction
//! of the cost of PostgreSQL's hash aggregate (one closure per row instead
//! of a function call per aggregate and row).
//!
//! Every state equals the SQL aggregate's result bit for bit: counts, sums
//! as exact decimals (`sum(v::numeric)`), and min/max by PostgreSQL's float
//! order (NaN above everything, `-0` equal to `0`, a tie keeping the later
//! row as `float8smaller` does). Group keys compare by their bytes, which is
//! PostgreSQL's equality for integers, booleans and text under a
//! deterministic collation (the caller's to check).

use rustc_hash::FxHashMap;

use crate::exact_sum::{ExactSum, FLOAT4_DIGITS, FLOAT8_DIGITS};
use crate::Bucket;

/// A source column's type, for the types native accumulation handles
/// (domains by their base type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeType {
    Int2,
    Int4,
    Int8,
    Bool,
    Float4,
    Float8,
    /// text or varchar under a deterministic collation.
    Text,
}

impl NativeType {
    /// As a group-by column: floats are not (-0 = 0 and NaN = NaN in SQL,
    /// not in bytes).
    pub fn key(self) -> Option<KeyType> {
        Some(match self {
            NativeType::Int2 => KeyType::Int2,
            NativeType::Int4 => KeyType::Int4,
            NativeType::Int8 => KeyType::Int8,
            NativeType::Bool => KeyType::Bool,
            NativeType::Text => KeyType::Text,
            NativeType::Float4 | NativeType::Float8 => return None,
        })
    }

    /// As an aggregated column: numbers only.
    pub fn input(self) -> Option<InputType> {
        Some(match self {
            NativeType::Int2 => InputType::Int2,
            NativeType::Int4 => InputType::Int4,
            NativeType::Int8 => InputType::Int8,
            NativeType::Float4 => InputType::Float4,
            NativeType::Float8 => InputType::Float8,
            NativeType::Bool | NativeType::Text => return None,
        })
    }
}

/// A group-by column's type, as far as native accumulation handles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Int2,
    Int4,
    Int8,
    Bool,
    /// text or varchar under a deterministic collation.
    Text,
}

/// An aggregated column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputType {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
}

impl InputType {
    fn is_float(self) -> bool {
        matches!(self, InputType::Float4 | InputType::Float8)
    }
}

/// One state column and the input column (index into the inputs) it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateOp {
    /// `count(*)`
    Rows,
    Count(usize),
    Sum(usize),
    SumSq(usize),
    Min(usize),
    Max(usize),
    /// `count(*) FILTER (WHERE v > 75)`
    HighRisk(usize),
}

/// What a native refresh reads and keeps: the query's columns after the
/// first (keys, then inputs) and the state columns in the table's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativePlan {
    /// Set when the query's first column is the raw time and the bucket is
    /// computed here (UTC buckets of fixed width); otherwise the query
    /// gives the bucket start.
    pub utc_bucket: Option<Bucket>,
    pub keys: Vec<(String, KeyType)>,
    pub inputs: Vec<(String, InputType)>,
    pub states: Vec<StateOp>,
}

/// A group-by value of one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRef<'a> {
    Null,
    /// int2, int4, int8 or bool, widened.
    Int(i64),
    Text(&'a [u8]),
}

/// A group-by value kept with its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyValue {
    Null,
    Int(i64),
    Text(Box<[u8]>),
}

/// An input value of one row; float4 widened exactly to f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
}

/// A number kept by min or max.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extreme {
    Int(i64),
    Float(f64),
}

/// One state's running value.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    Count(i64),
    /// Sum of integers (or of their squares); `None` until a value comes.
    IntSum(Option<i128>),
    FloatSum(ExactSum),
    Extreme(Option<Extreme>),
}

/// A group: its bucket (PostgreSQL microseconds), keys and states.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub bucket: i64,
    pub keys: Vec<KeyValue>,
    pub states: Vec<State>,
}

/// PostgreSQL's float order: NaN equals NaN and is above every number.
fn float_cmp(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

impl Extreme {
    fn cmp(self, other: Extreme) -> std::cmp::Ordering {
        match (self, other) {
            (Extreme::Int(a), Extreme::Int(b)) => a.cmp(&b),
            (Extreme::Float(a), Extreme::Float(b)) => float_cmp(a, b),
            // One column has one type.
            (Extreme::Int(a), Extreme::Float(b)) => float_cmp(a as f64, b),
            (Extreme::Float(a), Extreme::Int(b)) => float_cmp(a, b as f64),
        }
    }
}

/// Groups and their states for the rows added so far.
pub struct Accumulator {
    plan: NativePlan,
    index: FxHashMap<Box<[u8]>, usize>,
    groups: Vec<Group>,
    scratch: Vec<u8>,
    bytes: usize,
}

/// A key's encoding: the bucket, then per key a tag and the value, text
/// length-prefixed, so different keys never encode alike.
fn encode<'a>(out: &mut Vec<u8>, bucket: i64, keys: impl Iterator<Item = KeyRef<'a>>) {
    out.clear();
    out.extend_from_slice(&bucket.to_le_bytes());
    for k in keys {
        match k {
            KeyRef::Null => out.push(0),
            KeyRef::Int(v) => {
                out.push(1);
                out.extend_from_slice(&v.to_le_bytes());
            }
            KeyRef::Text(t) => {
                out.push(2);
                out.extend_from_slice(&(t.len() as u64).to_le_bytes());
                out.extend_from_slice(t);
            }
        }
    }
}

impl Accumulator {
    pub fn new(plan: NativePlan) -> Accumulator {
        Accumulator { plan, index: FxHashMap::default(), groups: Vec::new(), scratch: Vec::new(), bytes: 0 }
    }

    fn new_states(&self) -> Vec<State> {
        self.plan
            .states
            .iter()
            .map(|op| match *op {
                StateOp::Rows | StateOp::Count(_) | StateOp::HighRisk(_) => State::Count(0),
                StateOp::Sum(i) | StateOp::SumSq(i) if self.plan.inputs[i].1.is_float() => {
                    State::FloatSum(ExactSum::default())
                }
                StateOp::Sum(_) | StateOp::SumSq(_) => State::IntSum(None),
                StateOp::Min(_) | StateOp::Max(_) => State::Extreme(None),
            })
            .collect()
    }

    /// Adds one row: its time or bucket start (as the plan says), key
    /// values (as many as the plan's keys) and input values (as many as its
    /// inputs).
    pub fn add<'a>(&mut self, time: i64, keys: impl Iterator<Item = KeyRef<'a>> + Clone, inputs: &[Value]) {
        let bucket = match self.plan.utc_bucket {
            Some(b) => b.start_utc(time).unwrap_or(time),
            None => time,
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        encode(&mut scratch, bucket, keys.clone());
        let at = match self.index.get(scratch.as_slice()) {
            Some(&at) => at,
            None => {
                let group = Group {
                    bucket,
                    keys: keys
                        .map(|k| match k {
                            KeyRef::Null => KeyValue::Null,
                            KeyRef::Int(v) => KeyValue::Int(v),
                            KeyRef::Text(t) => KeyValue::Text(t.into()),
                        })
                        .collect(),
                    states: self.new_states(),
                };
                self.bytes += 2 * scratch.len()
                    + std::mem::size_of::<Group>()
                    + group.keys.len() * std::mem::size_of::<KeyValue>()
                    + group.states.len() * std::mem::size_of::<State>()
                    + 32;
                self.groups.push(group);
                self.index.insert(scratch.as_slice().into(), self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        self.scratch = scratch;
        let plan = &self.plan;
        let group = &mut self.groups[at];
        for (op, state) in plan.states.iter().zip(group.states.iter_mut()) {
            let input = |i: usize| (inputs[i], plan.inputs[i].1);
            match (*op, state) {
                (StateOp::Rows, State::Count(n)) => *n += 1,
                (StateOp::Count(i), State::Count(n)) => *n += i64::from(inputs[i] != Value::Null),
                (StateOp::HighRisk(i), State::Count(n)) => {
                    // NaN is above 75 too, as PostgreSQL orders floats.
                    let high = match inputs[i] {
                        Value::Null => false,
                        Value::Int(v) => v > 75,
                        Value::Float(v) => v.is_nan() || v > 75.0,
                    };
                    *n += i64::from(high);
                }
                (StateOp::Sum(i) | StateOp::SumSq(i), State::FloatSum(sum)) => {
                    if let (Value::Float(v), ty) = input(i) {
                        let digits = if ty == InputType::Float4 { FLOAT4_DIGITS } else { FLOAT8_DIGITS };
                        sum.add_float(v, digits, matches!(op, StateOp::SumSq(_)));
                    }
                }
                (StateOp::Sum(i) | StateOp::SumSq(i), State::IntSum(sum)) => {
                    if let Value::Int(v) = inputs[i] {
                        let v = i128::from(v);
                        let term = if matches!(op, StateOp::SumSq(_)) { v * v } else { v };
                        // The plan keeps squares of int8 out (they could
                        // overflow); int8 sums fit for any row count.
                        *sum = Some(sum.unwrap_or(0) + term);
                    }
                }
                (StateOp::Min(i) | StateOp::Max(i), State::Extreme(kept)) => {
                    let new = match inputs[i] {
                        Value::Null => continue,
                        Value::Int(v) => Extreme::Int(v),
                        Value::Float(v) => Extreme::Float(v),
                    };
                    // float8smaller/larger keep the old value only when it
                    // is strictly smaller/larger.
                    let keep_old = match (op, *kept) {
                        (_, None) => false,
                        (StateOp::Min(_), Some(old)) => old.cmp(new).is_lt(),
                        (_, Some(old)) => old.cmp(new).is_gt(),
                    };
                    if !keep_old {
                        *kept = Some(new);
                    }
                }
                _ => unreachable!("states are made from the same plan"),
            }
        }
    }

    /// Memory held, roughly: the caller gives up past its budget.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups, in the order they first appeared.
    pub fn into_groups(self) -> Vec<Group> {
        self.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> NativePlan {
        NativePlan {
            utc_bucket: None,
            keys: vec![("k".into(), KeyType::Int4), ("name".into(), KeyType::Text)],
            inputs: vec![("v".into(), InputType::Float4), ("n".into(), InputType::Int4)],
            states: vec![
                StateOp::Rows,
                StateOp::Count(0),
                StateOp::Sum(0),
                StateOp::SumSq(0),
                StateOp::Min(0),
                StateOp::Max(0),
                StateOp::HighRisk(0),
                StateOp::Sum(1),
                StateOp::SumSq(1),
                StateOp::Min(1),
            ],
        }
    }

    fn float_sum(values: &[f64], square: bool) -> State {
        let mut s = ExactSum::default();
        for v in values {
            s.add_float(*v, FLOAT4_DIGITS, square);
        }
        State::FloatSum(s)
    }

    #[test]
    fn groups_by_bucket_and_keys() {
        let mut acc = Accumulator::new(plan());
        let a = [KeyRef::Int(1), KeyRef::Text(b"x")];
        let b = [KeyRef::Int(1), KeyRef::Null];
        acc.add(0, a.iter().copied(), &[Value::Float(80.5), Value::Int(3)]);
        acc.add(0, b.iter().copied(), &[Value::Null, Value::Int(-4)]);
        acc.add(0, a.iter().copied(), &[Value::Float(1.25), Value::Null]);
        acc.add(3_600_000_000, a.iter().copied(), &[Value::Float(2.0), Value::Int(5)]);
        let groups = acc.into_groups();
        assert_eq!(groups.len(), 3);
        let g = &groups[0];
        assert_eq!((g.bucket, &g.keys[..]), (0, &[KeyValue::Int(1), KeyValue::Text(b"x".to_vec().into())][..]));
        assert_eq!(
            g.states,
            vec![
                State::Count(2),
                State::Count(2),
                float_sum(&[80.5, 1.25], false),
                float_sum(&[80.5, 1.25], true),
                State::Extreme(Some(Extreme::Float(1.25))),
                State::Extreme(Some(Extreme::Float(80.5))),
                State::Count(1),
                State::IntSum(Some(3)),
                State::IntSum(Some(9)),
                State::Extreme(Some(Extreme::Int(3))),
            ]
        );
        // A group whose values are all NULL: counts 0, sums and extremes NULL.
        let g = &groups[1];
        assert_eq!(g.keys, vec![KeyValue::Int(1), KeyValue::Null]);
        assert_eq!(g.states[1], State::Count(0));
        assert_eq!(g.states[2], State::FloatSum(ExactSum::default()));
        assert_eq!(g.states[4], State::Extreme(None));
        assert_eq!(g.states[7], State::IntSum(Some(-4)));
        assert_eq!(g.states[8], State::IntSum(Some(16)));
    }

    #[test]
    fn keys_that_look_alike_stay_apart() {
        let p = NativePlan {
            utc_bucket: Some(Bucket::Hours(1)),
            keys: vec![("a".into(), KeyType::Text), ("b".into(), KeyType::Text)],
            inputs: vec![],
            states: vec![StateOp::Rows],
        };
        let mut acc = Accumulator::new(p);
        acc.add(0, [KeyRef::Text(b"ab"), KeyRef::Text(b"")].into_iter(), &[]);
        acc.add(0, [KeyRef::Text(b"a"), KeyRef::Text(b"b")].into_iter(), &[]);
        acc.add(0, [KeyRef::Text(b""), KeyRef::Null].into_iter(), &[]);
        acc.add(0, [KeyRef::Null, KeyRef::Text(b"")].into_iter(), &[]);
        acc.add(0, [KeyRef::Text(b""), KeyRef::Text(b"")].into_iter(), &[]);
        assert_eq!(acc.len(), 5);
        // Times in one UTC hour are one bucket.
        acc.add(3_599_999_999, [KeyRef::Text(b""), KeyRef::Text(b"")].into_iter(), &[]);
        acc.add(3_600_000_000, [KeyRef::Text(b""), KeyRef::Text(b"")].into_iter(), &[]);
        assert_eq!(acc.len(), 6);
        assert_eq!(acc.into_groups()[5].bucket, 3_600_000_000);
    }

    #[test]
    fn extremes_follow_postgresql_float_order() {
        let p = NativePlan {
            utc_bucket: None,
            keys: vec![],
            inputs: vec![("v".into(), InputType::Float8)],
            states: vec![StateOp::Min(0), StateOp::Max(0), StateOp::HighRisk(0)],
        };
        let run = |values: &[f64]| {
            let mut acc = Accumulator::new(p.clone());
            for v in values {
                acc.add(0, std::iter::empty(), &[Value::Float(*v)]);
            }
            acc.into_groups().remove(0).states
        };
        let bits = |s: &State| match s {
            State::Extreme(Some(Extreme::Float(v))) => v.to_bits(),
            other => panic!("{other:?}"),
        };
        // NaN is the largest value, never the smallest unless alone.
        let s = run(&[3.0, f64::NAN, -1.0]);
        assert_eq!(s[0], State::Extreme(Some(Extreme::Float(-1.0))));
        assert!(matches!(s[1], State::Extreme(Some(Extreme::Float(v))) if v.is_nan()));
        assert_eq!(s[2], State::Count(1));
        // Infinities order as numbers.
        let s = run(&[f64::NEG_INFINITY, f64::INFINITY, f64::NAN]);
        assert_eq!(s[0], State::Extreme(Some(Extreme::Float(f64::NEG_INFINITY))));
        assert_eq!(s[2], State::Count(2));
        // -0 and 0 tie: the later row wins, as in float8smaller/larger.
        assert_eq!(bits(&run(&[-0.0, 0.0])[0]), 0.0f64.to_bits());
        assert_eq!(bits(&run(&[0.0, -0.0])[0]), (-0.0f64).to_bits());
        assert_eq!(bits(&run(&[0.0, -0.0])[1]), (-0.0f64).to_bits());
    }

    #[test]
    fn memory_grows_with_groups() {
        let mut acc = Accumulator::new(plan());
        for k in 0..100 {
            acc.add(0, [KeyRef::Int(k), KeyRef::Text(b"abc")].into_iter(), &[Value::Null, Value::Null]);
        }
        let hundred = acc.bytes();
        for _ in 0..10 {
            acc.add(0, [KeyRef::Int(5), KeyRef::Text(b"abc")].into_iter(), &[Value::Null, Value::Null]);
        }
        assert_eq!(acc.bytes(), hundred);
        assert!(hundred > 100 * std::mem::size_of::<Group>());
    }
}
