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

use rustc_hash::FxHashMap;

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
