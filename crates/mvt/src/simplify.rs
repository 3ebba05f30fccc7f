//! Douglas–Peucker simplification in tile space.
//!
//! Run on each line and ring before clipping and snapping, with a tolerance of
//! half a tile unit, it removes detail the tile cannot show. Half a unit moves
//! no point further than snapping to the grid may move it anyway (up to 0.71
//! unit), and, unlike a coarser tolerance, does not visibly shrink small
//! curved shapes (Douglas–Peucker always cuts convex curves inward). Without it, a dense
//! line (a vertex per transmission tower) snaps into a staircase of one-unit
//! steps: `ST_AsMVTGeom`, which only drops exactly collinear points, draws such
//! a line 30% longer than it is at low zoom. Simplifying whole geometries
//! before clipping also means two neighbouring tiles draw the same line along
//! their shared edge.

/// The tolerance the encoder uses: half a tile unit.
pub const DEFAULT_TOLERANCE: f64 = 0.5;

/// Squared distance from `p` to the segment `a–b` (to `a` when `a == b`).
fn segment_distance2(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 { 0.0 } else { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0) };
    let (qx, qy) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    qx * qx + qy * qy
}

/// Distance evaluations between calls of the interrupt check.
pub const INTERRUPT_EVERY: usize = 1 << 20;

/// Distance evaluations allowed per point and per doubling of the points
/// (see `Simplifier::simplify`).
const WORK_PER_POINT_LOG: usize = 16;

/// Scratch space reused between calls.
#[derive(Default)]
pub struct Simplifier {
    keep: Vec<bool>,
    stack: Vec<(usize, usize)>,
    /// Called every `INTERRUPT_EVERY` distance evaluations.
    pub interrupt: Option<fn()>,
}

impl Simplifier {
    /// Writes the points of `line` that Douglas–Peucker keeps at `tolerance`
    /// into `out`. The first and last points are always kept; a point is
    /// dropped when it lies within `tolerance` of the simplified path.
    pub fn simplify(&mut self, line: &[[f64; 2]], tolerance: f64, out: &mut Vec<[f64; 2]>) {
        out.clear();
        let n = line.len();
        if n <= 2 {
            out.extend_from_slice(line);
            return;
        }
        let tol2 = tolerance * tolerance;
        self.keep.clear();
        self.keep.resize(n, false);
        self.keep[0] = true;
        self.keep[n - 1] = true;
        self.stack.clear();
        self.stack.push((0, n - 1));
        // Douglas–Peucker is O(n log n) when splits are balanced but O(n²)
        // when each split peels off a few points (a spiral, a zigzag of
        // equal teeth). Past this many distance evaluations, the segments
        // still pending keep all their points: more points than needed, never
        // a wrong shape, and the cost stays O(n log n).
        let budget = WORK_PER_POINT_LOG * n * (usize::BITS - n.leading_zeros()) as usize;
        let mut work = 0usize;
        let mut since_check = 0usize;
        while let Some((first, last)) = self.stack.pop() {
            work += last - first;
            since_check += last - first;
            if since_check >= INTERRUPT_EVERY {
                since_check = 0;
                if let Some(check) = self.interrupt {
                    check();
                }
            }
            if work > budget {
                for keep in &mut self.keep[first..=last] {
                    *keep = true;
                }
                continue;
            }
            let (mut far, mut far_d2) = (0, tol2);
            for k in first + 1..last {
                let d2 = segment_distance2(line[k], line[first], line[last]);
                if d2 > far_d2 {
                    (far, far_d2) = (k, d2);
                }
            }
            if far != 0 {
                self.keep[far] = true;
                self.stack.push((first, far));
                self.stack.push((far, last));
            }
        }
        out.extend(line.iter().zip(&self.keep).filter(|(_, &k)| k).map(|(p, _)| *p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &[[f64; 2]], tol: f64) -> Vec<[f64; 2]> {
        let mut out = Vec::new();
        Simplifier::default().simplify(line, tol, &mut out);
        out
    }

    #[test]
    fn drops_wiggles_within_tolerance_and_keeps_real_bends() {
        let line = [[0.0, 0.0], [10.0, 0.4], [20.0, -0.4], [30.0, 0.45], [40.0, 0.0], [50.0, 3.0], [60.0, 0.0]];
        assert_eq!(run(&line, 1.0), vec![[0.0, 0.0], [40.0, 0.0], [50.0, 3.0], [60.0, 0.0]]);
    }

    #[test]
    fn ring_smaller_than_tolerance_collapses_to_its_ends() {
        let ring = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.0]];
        assert_eq!(run(&ring, 1.0).len(), 2);
        let square = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]];
        assert_eq!(run(&square, 1.0), square.to_vec());
    }

    #[test]
    fn a_line_that_would_make_douglas_peucker_quadratic_stays_within_its_budget() {
        // Equal teeth: every split peels one point off a long segment.
        let n = 200_000;
        let line: Vec<[f64; 2]> = (0..n).map(|i| [i as f64, if i % 2 == 0 { 0.0 } else { 100.0 }]).collect();
        let mut out = Vec::new();
        Simplifier::default().simplify(&line, 0.5, &mut out);
        assert_eq!(out.first(), line.first());
        assert_eq!(out.last(), line.last());
        // Nothing here is within tolerance of a chord: every point is kept,
        // whether by the splits or by the budget.
        assert_eq!(out.len(), n);
        // Balanced input is simplified as before.
        let wiggle: Vec<[f64; 2]> = (0..n).map(|i| [i as f64, (i as f64 * 0.001).sin() * 0.1]).collect();
        Simplifier::default().simplify(&wiggle, 0.5, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn zero_tolerance_only_drops_exactly_collinear_points() {
        let line = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 1.0]];
        assert_eq!(run(&line, 0.0), vec![[0.0, 0.0], [2.0, 0.0], [2.0, 1.0]]);
    }
}
