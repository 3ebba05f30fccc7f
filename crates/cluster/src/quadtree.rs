//! Quadtree cells of points by Morton key: one sort, then each cell of the
//! quadtree is a run of the sorted keys.

use std::ops::Range;

/// Bits per axis of a Morton key.
pub const MORTON_BITS: u32 = 31;

/// The point's quadtree address: world x and y (in [0, 1]) quantized to
/// 2^31 steps, bits interleaved (y above x at each level).
pub fn morton(x: f64, y: f64) -> u64 {
    let q = |v: f64| ((v.clamp(0.0, 1.0) * f64::from(1u32 << MORTON_BITS)) as u64).min((1 << MORTON_BITS) - 1);
    let spread = |mut v: u64| {
        v &= 0xffff_ffff;
        v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
        v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff;
        v = (v | (v << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    };
    spread(q(x)) | (spread(q(y)) << 1)
}

/// Splits `sorted` (Morton keys, ascending) into quadtree cells of at most
/// `max` keys (or single finest cells); appends (cell bounds in world units,
/// range of `sorted`) in key order.
pub fn cells(sorted: &[u64], max: usize, out: &mut Vec<([f64; 4], Range<usize>)>) {
    split(sorted, max, 0, 0, 0..sorted.len(), out);
}

fn split(
    sorted: &[u64],
    max: usize,
    depth: u32,
    cell: u64,
    range: Range<usize>,
    out: &mut Vec<([f64; 4], Range<usize>)>,
) {
    if range.is_empty() {
        return;
    }
    if range.len() <= max || depth == MORTON_BITS {
        // Cell coordinates back from its Morton prefix.
        let unspread = |mut v: u64| {
            v &= 0x5555_5555_5555_5555;
            v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
            v = (v | (v >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
            v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
            v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
            (v | (v >> 16)) & 0xffff_ffff
        };
        let (cx, cy) = (unspread(cell), unspread(cell >> 1));
        let size = 0.5f64.powi(depth as i32);
        let (x0, y0) = (cx as f64 * size, cy as f64 * size);
        out.push(([x0, y0, x0 + size, y0 + size], range));
        return;
    }
    let shift = 2 * (MORTON_BITS - depth - 1);
    let mut start = range.start;
    for q in 0..4u64 {
        let child = (cell << 2) | q;
        let end = start + sorted[start..range.end].partition_point(|&k| k >> shift == child);
        split(sorted, max, depth + 1, child, start..end, out);
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_hold_their_points_and_at_most_max() {
        let mut next = crate::test_uniform(7u64);
        // Dense corner, sparse elsewhere, and exact duplicates.
        let mut pts: Vec<[f64; 2]> = (0..20_000)
            .map(|i| if i % 2 == 0 { [0.3 + next() * 0.001, 0.6 + next() * 0.001] } else { [next(), next()] })
            .collect();
        pts.extend(std::iter::repeat_n([0.25, 0.25], 300));
        let mut keyed: Vec<(u64, usize)> = pts.iter().enumerate().map(|(i, p)| (morton(p[0], p[1]), i)).collect();
        keyed.sort_unstable();
        let sorted: Vec<u64> = keyed.iter().map(|k| k.0).collect();
        let mut out = Vec::new();
        cells(&sorted, 256, &mut out);
        let mut covered = 0;
        for (b, range) in &out {
            assert!(range.len() <= 256 || b[2] - b[0] < 1e-9);
            for &(_, i) in &keyed[range.clone()] {
                let p = pts[i];
                assert!(p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3], "{p:?} outside {b:?}");
            }
            covered += range.len();
        }
        assert_eq!(covered, pts.len());
        // Runs follow each other.
        for w in out.windows(2) {
            assert_eq!(w[0].1.end, w[1].1.start);
        }
    }
}
