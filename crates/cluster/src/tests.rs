use crate::aggregate::{aggregate, AggFn, Aggregated, Column};
use crate::{Error, Params, Pyramid, NO_PARENT};

/// Deterministic points: dense blobs, a sparse background and exact duplicates.
fn sample(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let centres: Vec<[f64; 2]> = (0..12).map(|_| [0.2 + 0.1 * next(), 0.3 + 0.1 * next()]).collect();
    (0..n)
        .map(|i| match i % 10 {
            0 => [next(), next()],
            1 if i > 10 => [0.25, 0.35], // duplicates
            _ => {
                let c = centres[i % centres.len()];
                let spread = 0.02 * next() * next();
                [c[0] + spread * (next() - 0.5), c[1] + spread * (next() - 0.5)]
            }
        })
        .collect()
}

fn params(max_zoom: u8, min_points: u32) -> Params {
    Params { radius: 40.0, extent: 512.0, min_zoom: 0, max_zoom, min_points }
}

fn dist2(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)
}

fn check_invariants(p: &Pyramid, points: &[[f64; 2]], partitions: Option<&[u32]>) {
    let n = points.len();
    // Depth-first leaf order is a permutation of the points.
    let mut seen = vec![false; n];
    for &l in &p.leaf_order {
        assert!(!seen[l as usize]);
        seen[l as usize] = true;
    }
    assert!(seen.iter().all(|&s| s));

    for z in p.params.min_zoom..=p.params.max_zoom {
        let level = p.level(z);
        // Each point is in exactly one item of the level.
        let mut owner = vec![u32::MAX; n];
        let mut total = 0u64;
        for &node in level {
            total += u64::from(p.nodes[node as usize].count);
            for &leaf in p.leaves(node) {
                assert_eq!(owner[leaf as usize], u32::MAX, "point {leaf} twice at zoom {z}");
                owner[leaf as usize] = node;
            }
        }
        assert_eq!(total, n as u64, "counts at zoom {z}");
        assert!(owner.iter().all(|&o| o != u32::MAX), "a point is missing at zoom {z}");

        for &node in level {
            let nd = &p.nodes[node as usize];
            // Shown at z: made at z or deeper, absorbed above z.
            assert!(nd.zoom >= z);
            assert!(nd.parent == NO_PARENT || p.nodes[nd.parent as usize].zoom < z);
            // Weighted centroid of the members.
            let leaves = p.leaves(node);
            let (sx, sy) =
                leaves.iter().fold((0.0, 0.0), |(x, y), &l| (x + points[l as usize][0], y + points[l as usize][1]));
            let (cx, cy) = (sx / leaves.len() as f64, sy / leaves.len() as f64);
            assert!((nd.x - cx).abs() < 1e-12 && (nd.y - cy).abs() < 1e-12, "centroid at zoom {z}");
            if let Some(ps) = partitions {
                assert!(leaves.iter().all(|&l| ps[l as usize] == nd.partition), "a cluster mixes partitions");
            }
            if p.is_cluster(node) {
                assert!(nd.count >= p.params.min_points);
                assert_eq!(p.expansion_zoom(node), nd.zoom + 1);
                assert!(p.children(node).len() >= 2);
            }
        }

        // No two clusters closer than the radius; no point within the radius
        // of a cluster; with min_points <= 2, no two items at all.
        let r2 = p.params.radius_at(z).powi(2);
        for (i, &a) in level.iter().enumerate() {
            for &b in &level[i + 1..] {
                let (na, nb) = (&p.nodes[a as usize], &p.nodes[b as usize]);
                if na.partition != nb.partition {
                    continue;
                }
                let must_be_apart = p.params.min_points <= 2 || p.is_cluster(a) || p.is_cluster(b);
                if must_be_apart {
                    assert!(
                        dist2((na.x, na.y), (nb.x, nb.y)) >= r2,
                        "zoom {z}: nodes {a} and {b} closer than the radius"
                    );
                }
            }
        }
    }
}

#[test]
fn invariants_hold_at_every_zoom() {
    let points = sample(4000, 7);
    let p = Pyramid::build(&points, None, params(12, 2)).unwrap();
    check_invariants(&p, &points, None);
    // Items at least a radius apart: at most one per disc of half the radius.
    let r = p.params.radius_at(0);
    let packing = (1.0 + r) * (1.0 + r) / (std::f64::consts::PI * r * r / 4.0);
    assert!((p.level(0).len() as f64) < packing, "{} items at zoom 0", p.level(0).len());
    assert!(p.level(12).len() > p.level(5).len());
}

#[test]
fn min_points_leaves_small_groups_alone() {
    let points = sample(3000, 11);
    let p = Pyramid::build(&points, None, params(10, 5)).unwrap();
    check_invariants(&p, &points, None);
    let single = Pyramid::build(&points, None, params(10, 2)).unwrap();
    assert!(p.cluster_count() < single.cluster_count());
}

#[test]
fn partitions_never_mix() {
    let points = sample(3000, 3);
    let parts: Vec<u32> = (0..points.len() as u32).map(|i| (i * 7919) % 3).collect();
    let p = Pyramid::build(&points, Some(&parts), params(9, 2)).unwrap();
    check_invariants(&p, &points, Some(&parts));
    // Leaves come partition by partition.
    let order: Vec<u32> = p.leaf_order.iter().map(|&l| parts[l as usize]).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]));
    // Each partition alone gives the same clusters as the partitioned build.
    for part in 0..3 {
        let idx: Vec<usize> = (0..points.len()).filter(|&i| parts[i] == part).collect();
        let sub: Vec<[f64; 2]> = idx.iter().map(|&i| points[i]).collect();
        let alone = Pyramid::build(&sub, None, params(9, 2)).unwrap();
        for z in 0..=9 {
            let in_part = p.level(z).iter().filter(|&&n| p.nodes[n as usize].partition == part).count();
            assert_eq!(in_part, alone.level(z).len(), "partition {part} zoom {z}");
        }
    }
}

#[test]
fn same_input_same_pyramid() {
    let points = sample(2000, 5);
    let a = Pyramid::build(&points, None, params(8, 2)).unwrap();
    let b = Pyramid::build(&points, None, params(8, 2)).unwrap();
    assert_eq!(a.nodes, b.nodes);
    assert_eq!(a.leaf_order, b.leaf_order);
}

#[test]
fn tiny_inputs() {
    let p = Pyramid::build(&[], None, params(5, 2)).unwrap();
    assert!(p.level(0).is_empty());
    let p = Pyramid::build(&[[0.5, 0.5]], None, params(5, 2)).unwrap();
    assert_eq!(p.level(0), &[0]);
    // Two identical points are one cluster at every zoom.
    let p = Pyramid::build(&[[0.5, 0.5], [0.5, 0.5]], None, params(5, 2)).unwrap();
    for z in 0..=5 {
        assert_eq!(p.level(z).len(), 1);
        assert_eq!(p.nodes[p.level(z)[0] as usize].count, 2);
    }
    assert_eq!(p.expansion_zoom(p.level(0)[0]), 6);
}

#[test]
fn radius_is_in_pixels_of_a_512_tile() {
    // 40 px at zoom 3 is 40 / (512 * 8) of the world.
    let r = params(5, 2).radius_at(3);
    let p = Pyramid::build(&[[0.5, 0.5], [0.5 + 0.99 * r, 0.5]], None, Params { min_zoom: 3, ..params(3, 2) }).unwrap();
    assert_eq!(p.level(3).len(), 1);
    let p = Pyramid::build(&[[0.5, 0.5], [0.5 + 1.01 * r, 0.5]], None, Params { min_zoom: 3, ..params(3, 2) }).unwrap();
    assert_eq!(p.level(3).len(), 2);
}

#[test]
fn rejects_bad_parameters() {
    assert_eq!(Pyramid::build(&[], None, params(25, 2)).unwrap_err(), Error::ZoomTooDeep(25));
    assert!(matches!(Pyramid::build(&[], None, Params { min_zoom: 6, ..params(5, 2) }), Err(Error::ZoomOrder { .. })));
    assert!(matches!(Pyramid::build(&[], None, Params { radius: 0.0, ..params(5, 2) }), Err(Error::Radius(_))));
    assert_eq!(Pyramid::build(&[[f64::NAN, 0.0]], None, params(5, 2)).unwrap_err(), Error::NonFinite(0));
}

#[test]
fn aggregates_match_brute_force_over_leaves() {
    let points = sample(3000, 9);
    let p = Pyramid::build(&points, None, params(9, 2)).unwrap();
    let numbers: Vec<Option<f64>> = (0..points.len()).map(|i| (i % 13 != 0).then_some((i % 97) as f64 * 0.5)).collect();
    let codes: Vec<Option<u32>> = (0..points.len()).map(|i| (i % 11 != 0).then_some((i % 5) as u32)).collect();
    let nums = Column::Numbers(numbers.clone());
    let got = |f| match aggregate(&p, f, &nums).unwrap() {
        Aggregated::Numbers(v) => v,
        Aggregated::Codes(_) => unreachable!(),
    };
    let (sum, avg, min, max, count) =
        (got(AggFn::Sum), got(AggFn::Avg), got(AggFn::Min), got(AggFn::Max), got(AggFn::Count));
    let Aggregated::Codes(mode) = aggregate(&p, AggFn::Mode, &Column::Codes(codes.clone())).unwrap() else {
        unreachable!()
    };
    for node in 0..p.nodes.len() as u32 {
        let vals: Vec<f64> = p.leaves(node).iter().filter_map(|&l| numbers[l as usize]).collect();
        let s: f64 = vals.iter().sum();
        assert_eq!(count[node as usize], Some(vals.len() as f64));
        if vals.is_empty() {
            assert_eq!(sum[node as usize], None);
            continue;
        }
        assert!((sum[node as usize].unwrap() - s).abs() < 1e-6);
        assert!((avg[node as usize].unwrap() - s / vals.len() as f64).abs() < 1e-9);
        assert_eq!(min[node as usize], vals.iter().copied().reduce(f64::min));
        assert_eq!(max[node as usize], vals.iter().copied().reduce(f64::max));
        let mut freq = [0u32; 5];
        for &l in p.leaves(node) {
            if let Some(c) = codes[l as usize] {
                freq[c as usize] += 1;
            }
        }
        let best =
            (0..5u32).filter(|&c| freq[c as usize] > 0).max_by_key(|&c| (freq[c as usize], std::cmp::Reverse(c)));
        assert_eq!(mode[node as usize], best, "mode of node {node}");
    }
    assert!(aggregate(&p, AggFn::Sum, &Column::Codes(codes)).is_err());
    assert!(aggregate(&p, AggFn::Mode, &nums).is_err());
}
