//! Checks of the demo data with an independent geometry library (geo).

use geo::{unary_union, Area, Contains, CoordsIter, MultiPolygon, Point, Validation};
use geozero::ToGeo;

use super::*;

fn multipolygon(wkb: &[u8]) -> MultiPolygon<f64> {
    match geozero::wkb::Wkb(wkb.to_vec()).to_geo().unwrap() {
        geo::Geometry::MultiPolygon(m) => m,
        other => panic!("expected a MultiPolygon, got {other:?}"),
    }
}

/// Scale 1 has the full zone detail; it is fast enough to test directly.
fn demo() -> Demo {
    Demo::new(1.0, 42)
}

#[test]
fn zones_have_thousands_of_vertices() {
    let zones = demo().zones();
    assert_eq!(zones.len(), 48);
    let mut counts: Vec<usize> = zones.iter().map(|z| multipolygon(&z.wkb).coords_count()).collect();
    counts.sort();
    assert!(counts[0] >= 600, "smallest zone has {} vertices", counts[0]);
    assert!(counts[counts.len() / 2] >= 2000, "median zone has {} vertices", counts[counts.len() / 2]);
}

/// geo's validity check is quadratic in the number of vertices, so this runs
/// on a coarser lattice: the same construction with fewer vertices. The SQL
/// suite checks the full-detail zones with PostGIS's ST_IsValid.
#[test]
fn zones_are_valid_and_tile_their_iso_exactly() {
    let d = Demo { scale: 1.0, seed: 42, world: World::new(0.05, 42) };
    let zones = d.zones();
    let isos = d.isos();
    for iso in &isos {
        let iso_poly = multipolygon(&iso.wkb);
        assert!(iso_poly.is_valid(), "{}: {:?}", iso.code, iso_poly.validation_errors());
        let mut sum = 0.0;
        let mut parts = Vec::new();
        for z in zones.iter().filter(|z| z.iso_id == iso.code) {
            let poly = multipolygon(&z.wkb);
            assert!(poly.is_valid(), "{}: {:?}", z.code, poly.validation_errors());
            sum += poly.unsigned_area();
            parts.extend(poly.0);
        }
        let union = unary_union(&parts);
        // Zone areas add up to the ISO's (both come from the same vertices, so
        // this holds to rounding), and their union is the ISO: no overlap and
        // no gap. The union is computed on i_overlay's integer grid, so it is
        // compared within 1e-6 of the total, under half a lattice cell.
        let (iso_area, union_area) = (iso_poly.unsigned_area(), union.unsigned_area());
        assert!((sum - iso_area).abs() < 1e-9 * sum, "{}: zone areas {sum} vs ISO {iso_area}", iso.code);
        assert!((union_area - iso_area).abs() < 1e-6 * sum, "{}: union {union_area} vs ISO {iso_area}", iso.code);
    }
}

#[test]
fn points_fall_in_the_zone_they_name() {
    let d = demo();
    let zones: Vec<MultiPolygon<f64>> = d.zones().iter().map(|z| multipolygon(&z.wkb)).collect();
    let pnodes = d.pnodes();
    assert_eq!(pnodes.len(), 565);
    for p in &pnodes {
        assert!(zones[p.zone_id as usize - 1].contains(&Point::new(p.lon, p.lat)), "pnode {} outside its zone", p.id);
        assert_eq!(p.tier, tier(p.severity_score));
        assert!((0.0..=1.0).contains(&p.severity_score));
    }
    for dc in d.data_centers().iter().filter(|dc| dc.zone_id.is_some()) {
        assert!(zones[dc.zone_id.unwrap() as usize - 1].contains(&Point::new(dc.lon, dc.lat)));
    }
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let a = demo().pnodes();
    let b = demo().pnodes();
    assert!(a.iter().zip(&b).all(|(x, y)| x.lon == y.lon && x.lat == y.lat && x.name == y.name));
    let c = Demo::new(1.0, 7).pnodes();
    assert!(a.iter().zip(&c).any(|(x, y)| x.lon != y.lon));
}

#[test]
fn counts_follow_scale_and_points_cluster_near_metros() {
    let d = Demo::new(2.0, 42);
    assert_eq!(d.pnodes().len(), 1130);
    assert_eq!(d.data_centers().len(), 2358);
    assert_eq!(d.substations().len(), 200);
    assert_eq!(d.feeders().len(), 400);
    assert_eq!(d.der_locations().len(), 1600);
    // Data centres gather: most lie within 1 degree of a data-centre market.
    let dcs = d.data_centers();
    let near = dcs
        .iter()
        .filter(|dc| {
            METROS.iter().any(|m| m.dc_weight > 0.0 && (m.lon - dc.lon).abs() < 1.0 && (m.lat - dc.lat).abs() < 1.0)
        })
        .count();
    assert!(near as f64 > 0.8 * dcs.len() as f64, "{near} of {}", dcs.len());
}

#[test]
fn lines_join_substations_with_many_vertices() {
    let d = demo();
    let subs = d.substations();
    let lines = d.transmission_lines();
    assert!(lines.len() >= subs.len(), "{} lines for {} substations", lines.len(), subs.len());
    for l in &lines {
        assert!([69, 115, 138, 230, 345, 500, 765].contains(&l.voltage_kv));
        let g = geozero::wkb::Wkb(l.wkb.clone()).to_geo().unwrap();
        let n = g.coords_count();
        assert!(
            n as f64 >= l.length_km / TOWER_SPACING_KM * 0.9,
            "line {} has {n} vertices for {} km",
            l.id,
            l.length_km
        );
        let first = g.coords_iter().next().unwrap();
        let s = &subs[l.from_substation as usize - 1];
        assert_eq!((first.x, first.y), (s.lon, s.lat));
    }
    assert!(lines.iter().any(|l| l.voltage_kv >= 345));
}
