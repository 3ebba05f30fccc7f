//! Per-node aggregates of point attributes.
//!
//! Numeric aggregates combine bottom-up (a cluster's state is its children's
//! states combined), so each point is read once. `mode` counts each cluster's
//! points directly: a point is counted once per cluster above it, at most
//! once per zoom.

use crate::Pyramid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggFn {
    /// Number of non-NULL values.
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// The most frequent value; on a tie the smallest code.
    Mode,
}

impl AggFn {
    pub fn parse(name: &str) -> Option<AggFn> {
        Some(match name {
            "count" => AggFn::Count,
            "sum" => AggFn::Sum,
            "avg" => AggFn::Avg,
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "mode" => AggFn::Mode,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            AggFn::Count => "count",
            AggFn::Sum => "sum",
            AggFn::Avg => "avg",
            AggFn::Min => "min",
            AggFn::Max => "max",
            AggFn::Mode => "mode",
        }
    }

    /// Whether the aggregate needs numbers (all but count and mode).
    pub fn is_numeric(self) -> bool {
        matches!(self, AggFn::Sum | AggFn::Avg | AggFn::Min | AggFn::Max)
    }
}

/// One input value per point (`None` for NULL).
pub enum Column {
    Numbers(Vec<Option<f64>>),
    /// Values interned as codes; for `mode`, code order is value order.
    Codes(Vec<Option<u32>>),
}

impl Column {
    fn is_null(&self, i: usize) -> bool {
        match self {
            Column::Numbers(v) => v[i].is_none(),
            Column::Codes(v) => v[i].is_none(),
        }
    }
}

/// One result per node (`None`: no non-NULL input).
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregated {
    Numbers(Vec<Option<f64>>),
    Codes(Vec<Option<u32>>),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AggError {
    #[error("{0} needs a numeric attribute")]
    NeedsNumbers(&'static str),
    #[error("mode needs interned codes")]
    NeedsCodes,
    #[error("the column has {got} values for {expected} points")]
    Length { got: usize, expected: usize },
}

/// Computes `f` of `column` for every node of `pyramid`.
pub fn aggregate(pyramid: &Pyramid, f: AggFn, column: &Column) -> Result<Aggregated, AggError> {
    let n = pyramid.point_count;
    let len = match column {
        Column::Numbers(v) => v.len(),
        Column::Codes(v) => v.len(),
    };
    if len != n {
        return Err(AggError::Length { got: len, expected: n });
    }
    match (f, column) {
        (AggFn::Mode, Column::Codes(codes)) => Ok(Aggregated::Codes(mode(pyramid, codes))),
        (AggFn::Mode, Column::Numbers(_)) => Err(AggError::NeedsCodes),
        (AggFn::Count, _) => {
            let mut counts = vec![0u64; pyramid.nodes.len()];
            for (i, c) in counts.iter_mut().enumerate().take(n) {
                *c = u64::from(!column.is_null(i));
            }
            combine(pyramid, &mut counts, |a, b| a + b);
            Ok(Aggregated::Numbers(counts.into_iter().map(|c| Some(c as f64)).collect()))
        }
        (_, Column::Codes(_)) => Err(AggError::NeedsNumbers(f.name())),
        (_, Column::Numbers(values)) => {
            let mut states: Vec<State> = vec![State::EMPTY; pyramid.nodes.len()];
            for (s, v) in states.iter_mut().zip(values) {
                if let Some(v) = *v {
                    *s = State { count: 1, sum: v, min: v, max: v };
                }
            }
            combine(pyramid, &mut states, State::merge);
            Ok(Aggregated::Numbers(
                states
                    .into_iter()
                    .map(|s| {
                        (s.count > 0).then(|| match f {
                            AggFn::Sum => s.sum,
                            AggFn::Avg => s.sum / s.count as f64,
                            AggFn::Min => s.min,
                            AggFn::Max => s.max,
                            AggFn::Count | AggFn::Mode => unreachable!("handled above"),
                        })
                    })
                    .collect(),
            ))
        }
    }
}

#[derive(Clone, Copy)]
struct State {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl State {
    const EMPTY: State = State { count: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY };
    fn merge(a: State, b: State) -> State {
        State { count: a.count + b.count, sum: a.sum + b.sum, min: a.min.min(b.min), max: a.max.max(b.max) }
    }
}

/// Fills every cluster's entry from its children's (children come first).
fn combine<T: Copy>(pyramid: &Pyramid, values: &mut [T], merge: impl Fn(T, T) -> T) {
    for node in pyramid.point_count..pyramid.nodes.len() {
        let children = pyramid.children(node as u32);
        let mut acc = values[children[0] as usize];
        for &c in &children[1..] {
            acc = merge(acc, values[c as usize]);
        }
        values[node] = acc;
    }
}

fn mode(pyramid: &Pyramid, codes: &[Option<u32>]) -> Vec<Option<u32>> {
    let mut out: Vec<Option<u32>> = Vec::with_capacity(pyramid.nodes.len());
    out.extend_from_slice(codes);
    let size = codes.iter().flatten().max().map_or(0, |&m| m as usize + 1);
    let mut counts = vec![0u32; size];
    let mut touched: Vec<u32> = Vec::new();
    for node in pyramid.point_count..pyramid.nodes.len() {
        for &leaf in pyramid.leaves(node as u32) {
            if let Some(c) = codes[leaf as usize] {
                if counts[c as usize] == 0 {
                    touched.push(c);
                }
                counts[c as usize] += 1;
            }
        }
        let mut best: Option<(u32, u32)> = None; // (count, code)
        for &c in &touched {
            let k = counts[c as usize];
            if best.is_none_or(|(bk, bc)| k > bk || (k == bk && c < bc)) {
                best = Some((k, c));
            }
            counts[c as usize] = 0;
        }
        touched.clear();
        out.push(best.map(|(_, c)| c));
    }
    out
}
