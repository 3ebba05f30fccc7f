//! The time ranges one writing statement changed, for the rollup change
//! log: one range per stretch of hours the rows fall in, so a statement
//! touching June and September logs two ranges (a refresh rewrites the
//! buckets of each), not one from June to September. Within a stretch the
//! range runs from its first to its last row's time exactly, so a one-row
//! insert logs one instant.

/// The cell the ranges are built from: an hour. Rows in hours with no row
/// between them fall in one range; an empty hour splits them.
const CELL_MICROS: i64 = 3_600_000_000;

/// Most ranges one statement logs: beyond it, the closest ranges are
/// joined (a refresh rewrites a little more, the log stays small).
pub const MAX_RANGES: usize = 64;

/// Times seen, as the earliest and latest time of each hour that has any.
#[derive(Debug, Default)]
pub struct ChangedTimes {
    /// (hour, earliest, latest), in the order first seen.
    cells: Vec<(i64, i64, i64)>,
}

impl ChangedTimes {
    pub fn new() -> ChangedTimes {
        ChangedTimes::default()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// One row's time (microseconds, any epoch).
    pub fn add(&mut self, t: i64) {
        let cell = t.div_euclid(CELL_MICROS);
        // Rows mostly come in time order: the last hour is the one to check.
        if let Some(last) = self.cells.last_mut().filter(|c| c.0 == cell) {
            last.1 = last.1.min(t);
            last.2 = last.2.max(t);
            return;
        }
        self.cells.push((cell, t, t));
        // Unordered rows: keep the list of hours short.
        if self.cells.len() >= 4096 && self.cells.len().is_power_of_two() {
            self.compact();
        }
    }

    fn compact(&mut self) {
        self.cells.sort_unstable_by_key(|c| c.0);
        let mut out: Vec<(i64, i64, i64)> = Vec::with_capacity(self.cells.len());
        for c in self.cells.drain(..) {
            match out.last_mut() {
                Some(last) if last.0 == c.0 => {
                    last.1 = last.1.min(c.1);
                    last.2 = last.2.max(c.2);
                }
                _ => out.push(c),
            }
        }
        self.cells = out;
    }

    /// The changed ranges, [earliest, latest] each, in time order: runs of
    /// consecutive hours joined, at most `max` (the smallest gaps joined
    /// first beyond it).
    pub fn ranges(mut self, max: usize) -> Vec<(i64, i64)> {
        self.compact();
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        let mut last_cell = i64::MIN;
        for (cell, lo, hi) in self.cells {
            match ranges.last_mut() {
                Some(r) if cell == last_cell + 1 => r.1 = hi,
                _ => ranges.push((lo, hi)),
            }
            last_cell = cell;
        }
        let max = max.max(1);
        if ranges.len() > max {
            // Keep the max - 1 widest gaps.
            let mut gaps: Vec<(i64, usize)> =
                ranges.windows(2).enumerate().map(|(i, w)| (w[1].0 - w[0].1, i)).collect();
            gaps.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut kept: Vec<usize> = gaps[..max - 1].iter().map(|g| g.1).collect();
            kept.sort_unstable();
            let mut joined = Vec::with_capacity(max);
            let mut start = 0;
            for split in kept.into_iter().chain(std::iter::once(ranges.len() - 1)) {
                joined.push((ranges[start].0, ranges[split].1));
                start = split + 1;
            }
            ranges = joined;
        }
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = CELL_MICROS;

    fn ranges(times: &[i64], max: usize) -> Vec<(i64, i64)> {
        let mut c = ChangedTimes::new();
        times.iter().for_each(|&t| c.add(t));
        c.ranges(max)
    }

    #[test]
    fn one_row_is_one_instant() {
        assert_eq!(ranges(&[5 * H + 17], MAX_RANGES), vec![(5 * H + 17, 5 * H + 17)]);
        assert!(ChangedTimes::new().ranges(MAX_RANGES).is_empty());
    }

    #[test]
    fn months_apart_are_two_ranges() {
        let june = 1000 * H;
        let september = june + 92 * 24 * H;
        let times = [september + 3, june + 10, june + H + 5, september + 1];
        assert_eq!(ranges(&times, MAX_RANGES), vec![(june + 10, june + H + 5), (september + 1, september + 3)]);
    }

    #[test]
    fn consecutive_hours_are_one_range_and_an_empty_hour_splits() {
        let minutes: Vec<i64> = (0..24 * 60).map(|m| m * 60_000_000).collect();
        assert_eq!(ranges(&minutes, MAX_RANGES), vec![(0, (24 * 60 - 1) * 60_000_000)]);
        assert_eq!(ranges(&[0, 2 * H], MAX_RANGES), vec![(0, 0), (2 * H, 2 * H)]);
        // Negative times (before the epoch) count the same way.
        assert_eq!(ranges(&[-1, 0], MAX_RANGES), vec![(-1, 0)]);
    }

    #[test]
    fn beyond_the_limit_the_closest_ranges_join() {
        // Rows every other hour, and one far away.
        let mut times: Vec<i64> = (0..10).map(|i| i * 2 * H).collect();
        times.push(1000 * H);
        let r = ranges(&times, 3);
        assert_eq!(r.len(), 3);
        assert_eq!(r.first().unwrap().0, 0);
        assert_eq!(r.last().unwrap(), &(1000 * H, 1000 * H));
        // Every time is still covered.
        for t in times {
            assert!(r.iter().any(|&(lo, hi)| lo <= t && t <= hi), "{t} not covered");
        }
    }

    #[test]
    fn unordered_rows_are_compacted_without_losing_any() {
        let times: Vec<i64> = (0..20_000).map(|i| ((i * 7919) % 10_000) * 2 * H + i % 5).collect();
        let r = ranges(&times, MAX_RANGES);
        assert_eq!(r.len(), MAX_RANGES);
        for t in times {
            assert!(r.iter().any(|&(lo, hi)| lo <= t && t <= hi));
        }
    }
}
