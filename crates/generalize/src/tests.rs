//! Checked with geo, which we did not write: areas, unions, lengths.

use geo::{unary_union, Area, Coord, Length, LineString, MultiPolygon, Polygon};
use gridkit_demo::Demo;
use gridkit_mvt::reader::{read_wkb, SourceGeometry};
use gridkit_mvt::simplify::Simplifier;
use gridkit_mvt::{SourceCrs, TileTransform};

use super::*;

fn read(wkb: &[u8]) -> SourceGeometry {
    let mut g = SourceGeometry::default();
    read_wkb(wkb, &TileTransform::to_mercator(SourceCrs::LonLat), &mut g).unwrap();
    g
}

fn zones(scale: f64) -> Vec<SourceGeometry> {
    Demo::new(scale, 42).zones().iter().map(|z| read(&z.wkb)).collect()
}

fn to_geo(polygons: &[Vec<Vec<[f64; 2]>>]) -> MultiPolygon {
    let ring = |r: &Vec<[f64; 2]>| LineString::from(r.iter().map(|p| Coord { x: p[0], y: p[1] }).collect::<Vec<_>>());
    MultiPolygon(polygons.iter().map(|p| Polygon::new(ring(&p[0]), p[1..].iter().map(ring).collect())).collect())
}

fn source_polygons(g: &SourceGeometry) -> Vec<Vec<Vec<[f64; 2]>>> {
    g.polygons().map(|range| range.map(|r| g.ring(r).to_vec()).collect()).collect()
}

/// Area covered twice, and area covered by the input but not the output
/// (or the other way round), of a set of polygons.
fn overlap_and_gap(out: &[MultiPolygon], input_union: &MultiPolygon) -> (f64, f64) {
    let sum: f64 = out.iter().map(|m| m.unsigned_area()).sum();
    let union = unary_union(out.iter());
    let overlap = sum - union.unsigned_area();
    let gap = (input_union.unsigned_area() - union.unsigned_area()).abs();
    (overlap, gap)
}

#[test]
fn demo_zones_share_their_borders() {
    let input = zones(1.0);
    let g = Generalizer::new(&input);
    assert!(g.ring_arcs().shared() > 50, "the demo zones share borders: {}", g.ring_arcs().shared());
    let input_union = unary_union(input.iter().map(|z| to_geo(&source_polygons(z))).collect::<Vec<_>>().iter());
    let total = input_union.unsigned_area();
    for z in [3u8, 5, 7] {
        let tol = tolerance_m(1.0, z, 512.0);
        let mut ours = Vec::new();
        let stats = g.band(tol, tol / 8.0, |_| true, |_, s| ours.push(to_geo(&s.polygons)));
        assert!(stats.vertices < g.source_vertices / 4, "z{z}: {} of {} vertices", stats.vertices, g.source_vertices);
        // Each zone on its own, as ST_Simplify would.
        let mut simplifier = Simplifier::default();
        let naive: Vec<MultiPolygon> = input
            .iter()
            .map(|z| {
                let polys: Vec<Vec<Vec<[f64; 2]>>> = source_polygons(z)
                    .into_iter()
                    .map(|p| {
                        p.into_iter()
                            .map(|r| {
                                let mut o = Vec::new();
                                simplifier.simplify(&r, tol, &mut o);
                                o
                            })
                            .filter(|r| r.len() >= 4)
                            .collect::<Vec<_>>()
                    })
                    .filter(|p: &Vec<Vec<[f64; 2]>>| !p.is_empty())
                    .collect();
                to_geo(&polys)
            })
            .collect();
        let (o_ours, g_ours) = overlap_and_gap(&ours, &input_union);
        let (o_naive, g_naive) = overlap_and_gap(&naive, &input_union);
        // A pixel-wide sliver along every border is what independent
        // simplification costs; shared arcs leave at most crossings near
        // junctions.
        assert!(o_naive > 10.0 * o_ours.max(total * 1e-9), "z{z}: overlap {o_ours} vs independent {o_naive}");
        assert!(o_ours < total * 1e-4, "z{z}: overlap {o_ours} of {total}");
        assert!(g_ours < total * 1e-3, "z{z}: gap {g_ours} of {total} (independent: {g_naive})");
    }
}

#[test]
fn shared_arcs_come_out_identical_in_both_neighbours() {
    let input = zones(1.0);
    let g = Generalizer::new(&input);
    let tol = tolerance_m(1.0, 4, 512.0);
    let mut rings: Vec<Vec<[f64; 2]>> = Vec::new();
    g.band(tol, tol / 8.0, |_| true, |_, s| rings.extend(s.polygons.iter().flatten().cloned()));
    // Every directed edge of one ring appears reversed in exactly one other
    // ring, or in none (the outline of the whole coverage).
    let mut edges = rustc_hash::FxHashMap::default();
    for r in &rings {
        for w in r.windows(2) {
            let k = |p: [f64; 2]| (p[0].to_bits(), p[1].to_bits());
            *edges.entry((k(w[0]), k(w[1]))).or_insert(0u32) += 1;
        }
    }
    let mut shared = 0;
    for (&(a, b), &n) in &edges {
        assert_eq!(n, 1, "an edge is drawn twice in the same direction");
        if edges.contains_key(&(b, a)) {
            shared += 1;
        }
    }
    assert!(shared > 100, "{shared} shared edges");
}

#[test]
fn lines_keep_their_ends_and_length() {
    let demo = Demo::new(1.0, 42);
    let lines: Vec<SourceGeometry> = demo.transmission_lines().iter().map(|l| read(&l.wkb)).collect();
    let g = Generalizer::new(&lines);
    let tol = tolerance_m(1.0, 8, 512.0);
    let mut checked = 0;
    let stats = g.band(
        tol,
        tol / 2.0,
        |_| true,
        |i, s| {
            let before = lines[i].lines().next().unwrap();
            let after = &s.lines[0];
            assert_eq!(after.first(), before.first());
            assert_eq!(after.last(), before.last());
            let len = |l: &[[f64; 2]]| geo::Euclidean.length(&LineString::from(l.to_vec()));
            // Douglas–Peucker cuts corners: shorter, but not by much at a pixel.
            let (a, b) = (len(after), len(before));
            assert!(a <= b + 1e-6 && a >= b * 0.97, "line {i}: {a} vs {b}");
            checked += 1;
        },
    );
    assert_eq!(checked, stats.features);
    assert!(stats.vertices * 3 < g.source_vertices);
}

#[test]
fn small_features_and_collapsed_rings_are_left_out() {
    let mut tiny = SourceGeometry::default();
    tiny.ring_coords.extend([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]);
    tiny.ring_ends.push(5);
    tiny.polygon_ends.push(1);
    let mut big = SourceGeometry::default();
    // A 100 × 100 square with a 1 × 1 hole.
    big.ring_coords.extend([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0], [0.0, 0.0]]);
    big.ring_coords.extend([[50.0, 50.0], [50.0, 51.0], [51.0, 51.0], [51.0, 50.0], [50.0, 50.0]]);
    big.ring_ends.extend([5, 10]);
    big.polygon_ends.push(2);
    let g = Generalizer::new([&tiny, &big]);
    let mut kept = Vec::new();
    let stats = g.band(5.0, 5.0, |_| true, |i, s| kept.push((i, s.clone())));
    assert_eq!(stats.too_small, 1);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].0, 1);
    assert_eq!(kept[0].1.polygons[0].len(), 1, "the hole collapsed");
    // With a small tolerance both stay whole.
    let mut n = 0;
    g.band(0.1, 0.1, |_| true, |_, s| n += s.polygons[0].len());
    assert_eq!(n, 3);
    // `include` decides.
    let stats = g.band(0.1, 0.1, |i| i == 0, |_, _| {});
    assert_eq!(stats.features, 1);
}

#[test]
fn wkb_round_trips_through_the_reader() {
    let shape = Shape { lines: vec![], polygons: vec![vec![vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 0.0]]]] };
    let mut bytes = Vec::new();
    wkb::write(&shape, &mut bytes);
    let mut g = SourceGeometry::default();
    read_wkb(&bytes, &TileTransform::to_mercator(SourceCrs::WebMercator), &mut g).unwrap();
    assert_eq!(g.ring(0), &shape.polygons[0][0][..]);
    let lines = Shape { lines: vec![vec![[1.0, 2.0], [3.0, 4.0]], vec![[5.0, 6.0], [7.0, 8.0]]], polygons: vec![] };
    bytes.clear();
    wkb::write(&lines, &mut bytes);
    read_wkb(&bytes, &TileTransform::to_mercator(SourceCrs::WebMercator), &mut g).unwrap();
    assert_eq!(g.lines().count(), 2);
}
