//! Fixed-radius neighbour queries on a square grid.
//!
//! Every query of a pyramid level has the same radius, so a grid whose cells
//! are one radius wide answers it from 3 × 3 cells. Entries are ordered by
//! cell (column-major), then by item, so the three cells of one column are
//! one contiguous run. When the points' bounding box has not many more
//! cells than there are points (every level of a pyramid over real data),
//! a counting sort places them and a table of cell starts finds a run in
//! one lookup; otherwise the entries are sorted by cell key and a run is
//! found by binary search. No hash map, no tree: a query is a few array
//! lookups and a scan of the points it must look at anyway.

/// Offset that makes cell coordinates non-negative in a key.
const OFFSET: i64 = 1 << 31;

pub struct Grid {
    cell: f64,
    layout: Layout,
    /// The item and its position, per entry.
    entries: Vec<(u32, [f64; 2])>,
}

enum Layout {
    /// A slot per cell of the bounding box: cell `(cx, cy)` holds entries
    /// `starts[s]..starts[s + 1]`, `s = (cx - x0) * rows + (cy - y0)`.
    Dense { x0: i64, y0: i64, cols: i64, rows: i64, starts: Vec<u32> },
    /// Cell key of each entry, ascending.
    Sparse { keys: Vec<u64> },
}

fn coord(v: f64, cell: f64) -> i64 {
    // `as` truncates toward zero (saturating): one step down for negative
    // non-integers makes it a floor without a call to libm's `floor`.
    let q = v / cell;
    let t = q as i64;
    let floor = if (t as f64) > q { t - 1 } else { t };
    // Clamped so that far-away coordinates still make valid keys.
    floor.clamp(-OFFSET + 2, OFFSET - 2)
}

fn key(cx: i64, cy: i64) -> u64 {
    (((cx + OFFSET) as u64) << 32) | ((cy + OFFSET) as u64)
}

impl Grid {
    /// Indexes `points` (item `i` at `points[i]`) for queries of radius up
    /// to `radius`.
    pub fn new(points: impl ExactSizeIterator<Item = [f64; 2]>, radius: f64) -> Grid {
        Grid::build(points, radius, true)
    }

    fn build(points: impl ExactSizeIterator<Item = [f64; 2]>, radius: f64, allow_dense: bool) -> Grid {
        // A hair wider than the radius, so rounding in the division can never
        // put a neighbour two cells away.
        let cell = radius * (1.0 + 1e-9);
        let positions: Vec<[f64; 2]> = points.collect();
        let cells: Vec<(i64, i64)> = positions.iter().map(|p| (coord(p[0], cell), coord(p[1], cell))).collect();
        let (mut x0, mut y0, mut x1, mut y1) = (i64::MAX, i64::MAX, i64::MIN, i64::MIN);
        for &(cx, cy) in &cells {
            (x0, y0, x1, y1) = (x0.min(cx), y0.min(cy), x1.max(cx), y1.max(cy));
        }
        if cells.is_empty() {
            (x0, y0, x1, y1) = (0, 0, 0, 0);
        }
        // Coordinates are clamped to ±2^31, so these fit; their product may not.
        let (cols, rows) = (x1 - x0 + 1, y1 - y0 + 1);
        let dense = allow_dense && (cols as i128) * (rows as i128) <= 2 * cells.len() as i128 + 4096;
        if dense {
            let slot = |(cx, cy): (i64, i64)| ((cx - x0) * rows + (cy - y0)) as usize;
            let mut starts = vec![0u32; (cols * rows) as usize + 1];
            for &c in &cells {
                starts[slot(c) + 1] += 1;
            }
            for s in 1..starts.len() {
                starts[s] += starts[s - 1];
            }
            let mut fill = starts.clone();
            let mut entries = vec![(0u32, [0.0f64; 2]); cells.len()];
            for (i, &c) in cells.iter().enumerate() {
                let at = &mut fill[slot(c)];
                entries[*at as usize] = (i as u32, positions[i]);
                *at += 1;
            }
            return Grid { cell, layout: Layout::Dense { x0, y0, cols, rows, starts }, entries };
        }
        // Sort small (key, item) pairs, then gather the positions.
        let mut order: Vec<(u64, u32)> =
            cells.iter().enumerate().map(|(i, &(cx, cy))| (key(cx, cy), i as u32)).collect();
        order.sort_unstable();
        Grid {
            cell,
            layout: Layout::Sparse { keys: order.iter().map(|e| e.0).collect() },
            entries: order.iter().map(|&(_, i)| (i, positions[i as usize])).collect(),
        }
    }

    /// Appends to `out` every item within `sqrt(r2)` of `p` (distance ≤,
    /// as rstar's `locate_within_distance`), by cell column, then row, then
    /// item. `r2` must not exceed the square of the grid's radius.
    pub fn within(&self, p: [f64; 2], r2: f64, mut keep: impl FnMut(u32) -> bool, out: &mut Vec<u32>) {
        let (cx, cy) = (coord(p[0], self.cell), coord(p[1], self.cell));
        for col in cx - 1..=cx + 1 {
            let run = match &self.layout {
                Layout::Dense { x0, y0, cols, rows, starts } => {
                    let (lo_row, hi_row) = ((cy - 1).max(*y0), (cy + 1).min(y0 + rows - 1));
                    if col < *x0 || col >= x0 + cols || lo_row > hi_row {
                        continue;
                    }
                    let base = (col - x0) * rows;
                    starts[(base + lo_row - y0) as usize] as usize..starts[(base + hi_row - y0) as usize + 1] as usize
                }
                Layout::Sparse { keys } => {
                    let lo = keys.partition_point(|&k| k < key(col, cy - 1));
                    lo..lo + keys[lo..].partition_point(|&k| k <= key(col, cy + 1))
                }
            };
            for &(item, q) in &self.entries[run] {
                let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
                if dx * dx + dy * dy <= r2 && keep(item) {
                    out.push(item);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_points_within_the_radius() {
        // A deterministic scatter, dense in places, across cell borders.
        let mut next = crate::test_uniform(12345u64);
        let pts: Vec<[f64; 2]> =
            (0..3000).map(|i| if i % 3 == 0 { [next() * 0.01, next() * 0.01] } else { [next(), next()] }).collect();
        for r in [0.001, 0.013, 0.2] {
            let g = Grid::new(pts.iter().copied(), r);
            for (i, p) in pts.iter().enumerate().step_by(7) {
                let mut got = Vec::new();
                g.within(*p, r * r, |_| true, &mut got);
                got.sort_unstable();
                let want: Vec<u32> = (0..pts.len() as u32)
                    .filter(|&j| {
                        let q = pts[j as usize];
                        (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2) <= r * r
                    })
                    .collect();
                assert_eq!(got, want, "point {i}, radius {r}");
            }
        }
    }

    #[test]
    fn dense_and_sparse_layouts_answer_alike() {
        let mut next = crate::test_uniform(777u64);
        let pts: Vec<[f64; 2]> = (0..2000).map(|_| [0.3 + next() * 0.05, 0.6 + next() * 0.05]).collect();
        let r = 0.002;
        let (dense, sparse) = (Grid::build(pts.iter().copied(), r, true), Grid::build(pts.iter().copied(), r, false));
        assert!(matches!(dense.layout, Layout::Dense { .. }));
        assert!(matches!(sparse.layout, Layout::Sparse { .. }));
        for p in pts.iter().step_by(5).chain([[0.0, 0.0], [0.3, 0.6], [0.35, 0.65]].iter()) {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            dense.within(*p, r * r, |_| true, &mut a);
            sparse.within(*p, r * r, |_| true, &mut b);
            assert_eq!(a, b, "same items in the same order");
        }
    }

    #[test]
    fn far_and_negative_coordinates_are_fine() {
        let pts = [[-5.0, -5.0], [-5.0005, -5.0], [1e12, 1e12], [0.0, 0.0]];
        let g = Grid::new(pts.iter().copied(), 0.001);
        let mut got = Vec::new();
        g.within([-5.0, -5.0], 1e-6, |_| true, &mut got);
        got.sort_unstable();
        assert_eq!(got, vec![0, 1]);
        got.clear();
        g.within([1e12, 1e12], 1e-6, |j| j != 2, &mut got);
        assert!(got.is_empty());
    }
}
