//! The bucket spans a rollup refresh rewrites: the changes recorded behind
//! its watermark and the new buckets before the next one, each clipped to
//! what retention left of the raw rows, then joined so that no bucket is
//! rewritten twice.

/// Buckets in [lower, upper) of times `T`; a `None` lower starts at the
/// first bucket the source holds. Each function orders times by `us`, their
/// microseconds (the extension's timestamps stay timestamps).
pub type Span<T> = (Option<T>, T);

/// What of `span` the raw rows still hold, when retention has dropped those
/// before `horizon` (the start of the first bucket the source fully holds):
/// its buckets from the horizon on, or `None` when none are left.
pub fn after_horizon<T: Copy>(span: Span<T>, horizon: Option<T>, us: impl Fn(T) -> i64) -> Option<Span<T>> {
    let (lower, upper) = span;
    let lower = match (lower, horizon) {
        (None, h) => h,
        (Some(l), Some(h)) if us(l) < us(h) => Some(h),
        (l, _) => l,
    };
    match lower {
        Some(l) if us(l) >= us(upper) => None,
        _ => Some((lower, upper)),
    }
}

/// What of `span` the raw rows hold when retention dropped those before
/// `horizon` but some older ranges were restored from archives since:
/// its part from the horizon on, and its overlap with each of `restored`
/// (bucket-aligned, below the horizon), in order.
pub fn held_parts<T: Copy>(
    span: Span<T>,
    horizon: Option<T>,
    restored: &[(T, T)],
    us: impl Fn(T) -> i64,
) -> Vec<Span<T>> {
    let mut parts = Vec::new();
    for &(lo, hi) in restored {
        let lower = match span.0 {
            Some(l) if us(l) > us(lo) => l,
            _ => lo,
        };
        let upper = if us(span.1) < us(hi) { span.1 } else { hi };
        if us(lower) < us(upper) {
            parts.push((Some(lower), upper));
        }
    }
    parts.extend(after_horizon(span, horizon, &us));
    parts.sort_by_key(|s| s.0.map_or(i64::MIN, &us));
    parts
}

/// The spans sorted by lower end, those that overlap or touch joined.
pub fn merge<T: Copy>(mut spans: Vec<Span<T>>, us: impl Fn(T) -> i64) -> Vec<Span<T>> {
    let lower = |s: &Span<T>| s.0.map_or(i64::MIN, &us);
    spans.sort_by_key(lower);
    let mut out: Vec<Span<T>> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if lower(&s) <= us(last.1) => {
                if us(s.1) > us(last.1) {
                    last.1 = s.1;
                }
            }
            _ => out.push(s),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(spans: Vec<Span<i64>>) -> Vec<Span<i64>> {
        super::merge(spans, |t| t)
    }

    fn after_horizon(span: Span<i64>, horizon: Option<i64>) -> Option<Span<i64>> {
        super::after_horizon(span, horizon, |t| t)
    }

    #[test]
    fn restored_ranges_below_the_horizon_are_held_again() {
        let held = |span, horizon, restored: &[(i64, i64)]| super::held_parts(span, horizon, restored, |t| t);
        // Nothing restored: what the horizon leaves.
        assert_eq!(held((Some(3), 10), Some(4), &[]), vec![(Some(4), 10)]);
        assert_eq!(held((Some(3), 10), Some(12), &[]), vec![]);
        // A change over [0, 100) with [10, 20) and [30, 40) restored and the
        // horizon at 50: those two, then from 50.
        assert_eq!(
            held((Some(0), 100), Some(50), &[(10, 20), (30, 40)]),
            vec![(Some(10), 20), (Some(30), 40), (Some(50), 100)]
        );
        // An open start; a change inside a restored range; one beside it.
        assert_eq!(held((None, 15), Some(50), &[(10, 20)]), vec![(Some(10), 15)]);
        assert_eq!(held((Some(12), 18), Some(50), &[(10, 20)]), vec![(Some(12), 18)]);
        assert_eq!(held((Some(20), 30), Some(50), &[(10, 20)]), vec![]);
    }

    #[test]
    fn spans_that_overlap_or_touch_are_joined_in_order() {
        assert_eq!(merge(vec![]), vec![]);
        assert_eq!(merge(vec![(Some(30), 40), (Some(0), 10), (Some(10), 20)]), vec![(Some(0), 20), (Some(30), 40)]);
        // One inside another; an open start swallows what it reaches.
        assert_eq!(merge(vec![(Some(0), 100), (Some(10), 20)]), vec![(Some(0), 100)]);
        assert_eq!(merge(vec![(Some(50), 60), (None, 50), (Some(70), 80)]), vec![(None, 60), (Some(70), 80)]);
        assert_eq!(merge(vec![(Some(5), 9), (Some(5), 7)]), vec![(Some(5), 9)]);
    }

    #[test]
    fn retention_clips_a_span_to_the_rows_it_left() {
        // No retention: as it is.
        assert_eq!(after_horizon((None, 10), None), Some((None, 10)));
        assert_eq!(after_horizon((Some(3), 10), None), Some((Some(3), 10)));
        // From the horizon on.
        assert_eq!(after_horizon((None, 10), Some(4)), Some((Some(4), 10)));
        assert_eq!(after_horizon((Some(3), 10), Some(4)), Some((Some(4), 10)));
        assert_eq!(after_horizon((Some(6), 10), Some(4)), Some((Some(6), 10)));
        // Entirely dropped: nothing to rewrite.
        assert_eq!(after_horizon((Some(3), 10), Some(10)), None);
        assert_eq!(after_horizon((None, 10), Some(12)), None);
    }
}
