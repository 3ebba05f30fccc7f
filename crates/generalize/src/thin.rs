//! Thinning a band by the tile budget, at build time.
//!
//! A tile keeps at most `max_bytes` (and `max_features`); when more
//! features touch it, the tile budget drops the lowest-ranked, then the
//! smallest. Storing every feature in a low-zoom band makes such a tile read
//! and encode tens of thousands of features to keep a few thousand. So the
//! build applies the same order per tile, with a margin: in each tile a
//! feature touches, the features ahead of it are counted, and a feature is
//! stored if, in at least one of its tiles, what is ahead of it fits in
//! `slack` times the budget. Sizes are estimated from vertex counts, so the
//! margin keeps every feature the exact budget could want; the exact budget
//! still decides at tile time.

use gridkit_tilecoord::mercator_to_world;
use rustc_hash::FxHashMap;

use crate::{tolerance_m, Shape};

/// What the thinning knows of a feature.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// Bounding box in world units (x, y in [0, 1], y down): xmin, ymin, xmax, ymax.
    pub bbox: [f64; 4],
    /// Encoded size estimate in bytes (the whole feature).
    pub bytes: usize,
    /// The budget's rank (higher kept first) and weight (larger kept first).
    pub rank: f64,
    pub weight: f64,
    pub id: i64,
}

impl Candidate {
    /// What thinning knows of a feature as generalized for zoom `z` (in
    /// Web Mercator metres, on tiles of `extent` units): its box, a low
    /// estimate of its encoded size with `attributes` attributes, and its
    /// weight, the length of its lines plus the area of its polygons in
    /// tile units.
    pub fn of(shape: &Shape, z: u8, extent: u32, attributes: usize, rank: f64, id: i64) -> Candidate {
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        let mut weight = 0.0;
        // Metres per tile unit at this zoom.
        let unit = tolerance_m(1.0, z, f64::from(extent));
        let mut visit = |pts: &[[f64; 2]]| {
            for p in pts {
                let (wx, wy) = mercator_to_world(p[0], p[1]);
                b = [b[0].min(wx), b[1].min(wy), b[2].max(wx), b[3].max(wy)];
            }
        };
        for l in &shape.lines {
            visit(l);
            weight += l.windows(2).map(|w| (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1])).sum::<f64>() / unit;
        }
        for p in &shape.polygons {
            for (k, r) in p.iter().enumerate() {
                visit(r);
                let twice: f64 = r.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum();
                weight += if k == 0 { 1.0 } else { -1.0 } * twice.abs() / 2.0 / (unit * unit);
            }
        }
        // At least: framing, type, id and geometry header (9 bytes), a key
        // and a value index per attribute, one byte per coordinate.
        let bytes = 9 + 2 * attributes + 2 * shape.vertices();
        Candidate { bbox: b, bytes, rank, weight, id }
    }
}

/// The budget of one tile and the tiles of one zoom.
#[derive(Clone, Copy, Debug)]
pub struct TileBudget {
    pub zoom: u8,
    /// Buffer as a fraction of the tile's width.
    pub margin: f64,
    pub max_bytes: usize,
    pub max_features: usize,
    /// How much more than the budget each tile keeps.
    pub slack: f64,
}

/// Whether to store each candidate.
pub fn select(candidates: &[Candidate], budget: TileBudget) -> Vec<bool> {
    let n = f64::from(1u32 << budget.zoom);
    let max_tile = (1i64 << budget.zoom) - 1;
    let tile_range = |lo: f64, hi: f64| {
        let a = (((lo * n) - budget.margin).floor() as i64).clamp(0, max_tile);
        let b = (((hi * n) + budget.margin).floor() as i64).clamp(0, max_tile);
        (a, b)
    };
    let mut tiles: FxHashMap<(i64, i64), Vec<u32>> = FxHashMap::default();
    for (i, c) in candidates.iter().enumerate() {
        let (x0, x1) = tile_range(c.bbox[0], c.bbox[2]);
        let (y0, y1) = tile_range(c.bbox[1], c.bbox[3]);
        for x in x0..=x1 {
            for y in y0..=y1 {
                tiles.entry((x, y)).or_default().push(i as u32);
            }
        }
    }
    let byte_limit = (budget.max_bytes as f64 * budget.slack) as usize;
    let feature_limit = (budget.max_features as f64 * budget.slack) as usize;
    let mut keep = vec![false; candidates.len()];
    for (_, mut members) in tiles {
        let total: usize = members.iter().map(|&i| candidates[i as usize].bytes).sum();
        if total <= byte_limit && members.len() <= feature_limit {
            members.iter().for_each(|&i| keep[i as usize] = true);
            continue;
        }
        members.sort_unstable_by(|&a, &b| {
            let (a, b) = (&candidates[a as usize], &candidates[b as usize]);
            b.rank.total_cmp(&a.rank).then(b.weight.total_cmp(&a.weight)).then(a.id.cmp(&b.id))
        });
        let mut used = 0;
        for (k, &i) in members.iter().enumerate() {
            if used > byte_limit || k >= feature_limit {
                break;
            }
            keep[i as usize] = true;
            used += candidates[i as usize].bytes;
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64, y: f64, rank: f64, id: i64) -> Candidate {
        Candidate { bbox: [x, y, x + 1e-6, y + 1e-6], bytes: 100, rank, weight: 1.0, id }
    }

    #[test]
    fn keeps_everything_within_budget_and_the_best_beyond() {
        let budget = TileBudget { zoom: 1, margin: 0.0, max_bytes: 1000, max_features: 1000, slack: 1.0 };
        // Tile (0, 0): 30 features of 100 bytes, ranks 0..30; tile (1, 1): 3.
        let mut cs: Vec<Candidate> = (0..30).map(|i| at(0.1, 0.1, f64::from(i), i64::from(i))).collect();
        cs.extend((0..3).map(|i| at(0.7, 0.7, 0.0, 100 + i)));
        let keep = select(&cs, budget);
        // 1000 bytes: ten features fit, and the one that crosses the line.
        let kept: Vec<usize> = (0..30).filter(|&i| keep[i]).collect();
        assert_eq!(kept, (19..30).collect::<Vec<_>>());
        assert!(keep[30..].iter().all(|&k| k));
    }

    #[test]
    fn a_candidate_weighs_its_length_and_area_in_tile_units() {
        // At zoom 0 on 4096-unit tiles, one unit is this many metres.
        let unit = tolerance_m(1.0, 0, 4096.0);
        let square =
            |x: f64, y: f64, side: f64| vec![[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]];
        let line = Shape { lines: vec![vec![[0.0, 0.0], [30.0 * unit, 40.0 * unit]]], polygons: vec![] };
        let c = Candidate::of(&line, 0, 4096, 3, 2.5, 7);
        assert!((c.weight - 50.0).abs() < 1e-9);
        assert_eq!((c.bytes, c.rank, c.id), (9 + 2 * 3 + 2 * 2, 2.5, 7));
        // y down: the line's start is its box's left and bottom.
        assert_eq!((c.bbox[0], c.bbox[3]), (0.5, 0.5));
        assert!((c.bbox[2] - (0.5 + 30.0 / 4096.0)).abs() < 1e-12);
        assert!((c.bbox[1] - (0.5 - 40.0 / 4096.0)).abs() < 1e-12);
        // A 10 x 10 unit polygon with a 4 x 4 hole: 84 square units, at
        // zoom 1 (units half as long) four times as many.
        let holed = |unit: f64| Shape {
            lines: vec![],
            polygons: vec![vec![square(0.0, 0.0, 10.0 * unit), square(3.0 * unit, 3.0 * unit, 4.0 * unit)]],
        };
        assert!((Candidate::of(&holed(unit), 0, 4096, 0, 0.0, 1).weight - 84.0).abs() < 1e-6);
        assert!((Candidate::of(&holed(unit), 1, 4096, 0, 0.0, 1).weight - 4.0 * 84.0).abs() < 1e-6);
    }

    #[test]
    fn a_feature_kept_in_one_of_its_tiles_is_kept() {
        let budget = TileBudget { zoom: 1, margin: 0.0, max_bytes: 100, max_features: 1000, slack: 1.0 };
        // A long feature across both top tiles: crowded out on the left,
        // alone on the right.
        let mut cs: Vec<Candidate> = (0..5).map(|i| at(0.1, 0.1, 10.0, i)).collect();
        cs.push(Candidate { bbox: [0.2, 0.2, 0.8, 0.3], bytes: 100, rank: 0.0, weight: 1.0, id: 99 });
        let keep = select(&cs, budget);
        assert!(keep[5]);
    }
}
