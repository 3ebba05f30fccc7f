//! Index search boxes for spatial queries in longitude/latitude.
//!
//! A query "within d metres of this point, route or polygon" is answered by
//! PostGIS on the geography (the exact test); these boxes let the geometry
//! GiST index find the candidates first. A box must contain every point
//! that can pass the exact test, so each bound errs outwards: the smallest
//! radius of curvature of the WGS84 ellipsoid turns metres into the largest
//! angle, the highest latitude of the path sets the longitude extent, a path
//! crossing the antimeridian yields two boxes and one reaching a pole spans
//! all longitudes.

use thiserror::Error;

/// The smallest radius of curvature of the WGS84 ellipsoid (the meridian's,
/// at the equator): a distance along the surface spans at most this many
/// radians of latitude or of great circle.
const MIN_RADIUS_M: f64 = 6_335_439.0;
/// Added to every distance: callers densify paths to 5 km segments, whose
/// great-circle bulge away from the straight lon/lat segment stays far below
/// this at any latitude the boxes do not already widen to the pole.
const MARGIN_M: f64 = 2_000.0;
/// Half the Earth's circumference: no two points are farther apart.
pub const MAX_DISTANCE_M: f64 = 20_037_509.0;

#[derive(Debug, Error, PartialEq)]
pub enum SpatialError {
    #[error("longitude {0} is not between -180 and 180")]
    Longitude(f64),
    #[error("latitude {0} is not between -90 and 90")]
    Latitude(f64),
    #[error("distance {0} m must be a positive number of metres up to {MAX_DISTANCE_M}")]
    Distance(f64),
    #[error("south ({0}) must be below north ({1})")]
    SouthNorth(f64, f64),
    #[error("a path needs at least one position")]
    EmptyPath,
}

/// A box in degrees, west <= east, within [-180, 180] x [-90, 90].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LonLatBox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl LonLatBox {
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        self.west <= lon && lon <= self.east && self.south <= lat && lat <= self.north
    }
}

pub fn check_position(lon: f64, lat: f64) -> Result<(), SpatialError> {
    if !(-180.0..=180.0).contains(&lon) {
        return Err(SpatialError::Longitude(lon));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(SpatialError::Latitude(lat));
    }
    Ok(())
}

/// Raises unless `d` is a usable distance; `allow_zero` for "inside".
pub fn check_distance(d: f64, allow_zero: bool) -> Result<(), SpatialError> {
    let ok = d.is_finite() && d <= MAX_DISTANCE_M && (d > 0.0 || (allow_zero && d == 0.0));
    if ok {
        Ok(())
    } else {
        Err(SpatialError::Distance(d))
    }
}

/// Boxes covering every point within `distance_m` of the path through
/// `positions` (lon, lat), whose segments are the short way round; `closed`
/// when the path is a ring whose inside counts too (a polygon's outline).
pub fn boxes_around(positions: &[(f64, f64)], distance_m: f64, closed: bool) -> Result<Vec<LonLatBox>, SpatialError> {
    let Some(&(lon0, _)) = positions.first() else {
        return Err(SpatialError::EmptyPath);
    };
    check_distance(distance_m, true)?;
    for &(lon, lat) in positions {
        check_position(lon, lat)?;
    }
    // Longitudes unwrapped along the path, so a segment from 179 to -179
    // spans 2 degrees, not 358.
    let (mut min_u, mut max_u, mut u) = (lon0, lon0, lon0);
    let (mut min_lat, mut max_lat) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut prev = lon0;
    for &(lon, lat) in positions {
        u += wrap(lon - prev);
        prev = lon;
        min_u = min_u.min(u);
        max_u = max_u.max(u);
        min_lat = min_lat.min(lat);
        max_lat = max_lat.max(lat);
    }
    // A ring whose unwrapped longitude comes back a full turn away encloses
    // a pole: its inside reaches it.
    if closed && (u - lon0).abs() > 180.0 {
        if max_lat + min_lat >= 0.0 {
            max_lat = 90.0;
        } else {
            min_lat = -90.0;
        }
    }
    let angle = (distance_m + MARGIN_M) / MIN_RADIUS_M;
    let dlat = angle.to_degrees();
    let south = (min_lat - dlat).max(-90.0);
    let north = (max_lat + dlat).min(90.0);
    let whole = |south, north| vec![LonLatBox { west: -180.0, south, east: 180.0, north }];
    if south <= -90.0 || north >= 90.0 {
        return Ok(whole(south, north));
    }
    // The longitude reach of a cap of angular radius `angle` centred at the
    // path's highest latitude, the widest anywhere along it.
    let cos_phi = min_lat.abs().max(max_lat.abs()).to_radians().cos();
    let sin_angle = angle.min(std::f64::consts::FRAC_PI_2).sin();
    if sin_angle >= cos_phi {
        return Ok(whole(south, north));
    }
    let dlon = (sin_angle / cos_phi).asin().to_degrees();
    let (west, east) = (min_u - dlon, max_u + dlon);
    if east - west >= 360.0 {
        return Ok(whole(south, north));
    }
    let shift = ((west + 180.0) / 360.0).floor() * 360.0;
    let (west, east) = (west - shift, east - shift);
    if east <= 180.0 {
        return Ok(vec![LonLatBox { west, south, east, north }]);
    }
    Ok(vec![
        LonLatBox { west, south, east: 180.0, north },
        LonLatBox { west: -180.0, south, east: east - 360.0, north },
    ])
}

/// A map viewport as boxes: `west > east` means it crosses the antimeridian.
pub fn viewport(west: f64, south: f64, east: f64, north: f64) -> Result<Vec<LonLatBox>, SpatialError> {
    check_position(west, south)?;
    check_position(east, north)?;
    if south >= north {
        return Err(SpatialError::SouthNorth(south, north));
    }
    if west <= east {
        return Ok(vec![LonLatBox { west, south, east, north }]);
    }
    Ok(vec![LonLatBox { west, south, east: 180.0, north }, LonLatBox { west: -180.0, south, east, north }])
}

/// The wrap of a longitude difference into (-180, 180].
fn wrap(d: f64) -> f64 {
    let r = d.rem_euclid(360.0);
    if r > 180.0 {
        r - 360.0
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Great-circle distance on a sphere of the ellipsoid's largest radius:
    /// never more than the true distance by much, so a point this close must
    /// be inside the boxes.
    fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (l1, p1, l2, p2) = (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
        let h = ((p2 - p1) / 2.0).sin().powi(2) + p1.cos() * p2.cos() * ((l2 - l1) / 2.0).sin().powi(2);
        2.0 * 6_378_137.0 * h.sqrt().asin()
    }

    fn covered(boxes: &[LonLatBox], lon: f64, lat: f64) -> bool {
        boxes.iter().any(|b| b.contains(lon, lat))
    }

    /// Every point of a grid that lies within `d` of `centre` is covered.
    fn assert_covers_disc(centre: (f64, f64), d: f64) {
        let boxes = boxes_around(&[centre], d, false).unwrap();
        for i in 0..=720 {
            for j in 0..=360 {
                let p = (-180.0 + i as f64 * 0.5, -90.0 + j as f64 * 0.5);
                if haversine_m(centre, p) <= d {
                    assert!(covered(&boxes, p.0, p.1), "{p:?} within {d} m of {centre:?} not in {boxes:?}");
                }
            }
        }
    }

    #[test]
    fn one_box_away_from_the_antimeridian() {
        let b = boxes_around(&[(-90.0, 30.0)], 10_000.0, false).unwrap();
        assert_eq!(b.len(), 1);
        // 10 km is 0.0903 degrees of latitude and 0.1038 of longitude at
        // 30N; the box holds that plus the 2 km margin, no more.
        let (dlat, dlon) = (b[0].north - 30.0, b[0].east + 90.0);
        assert!((0.0903..0.0903 * 1.25).contains(&dlat), "{b:?}");
        assert!((0.1038..0.1038 * 1.25).contains(&dlon), "{b:?}");
    }

    #[test]
    fn discs_are_covered_everywhere() {
        for centre in [(0.0, 0.0), (179.9, 10.0), (-179.95, -40.0), (45.0, 89.5), (10.0, -88.0), (180.0, 0.0)] {
            for d in [1_000.0, 150_000.0, 2_000_000.0] {
                assert_covers_disc(centre, d);
            }
        }
    }

    #[test]
    fn a_disc_on_the_antimeridian_is_two_boxes() {
        let b = boxes_around(&[(179.99, 0.0)], 5_000.0, false).unwrap();
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(covered(&b, -179.99, 0.0) && covered(&b, 179.95, 0.0));
        assert!(!covered(&b, 0.0, 0.0) && !covered(&b, -170.0, 0.0));
    }

    #[test]
    fn near_a_pole_every_longitude_counts() {
        let b = boxes_around(&[(0.0, 89.99)], 5_000.0, false).unwrap();
        assert_eq!(b, vec![LonLatBox { west: -180.0, south: b[0].south, east: 180.0, north: 90.0 }]);
        assert!(b[0].south < 89.95 && b[0].south > 89.9);
    }

    #[test]
    fn a_route_across_the_antimeridian_stays_narrow() {
        let b = boxes_around(&[(178.0, 50.0), (-178.0, 51.0)], 1_000.0, false).unwrap();
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(covered(&b, 179.5, 50.5) && covered(&b, -179.5, 50.5));
        assert!(!covered(&b, 0.0, 50.5));
        assert!(b[0].west > 177.9 && b[1].east < -177.9);
    }

    #[test]
    fn a_ring_around_a_pole_reaches_it() {
        let ring = [(0.0, 80.0), (90.0, 80.0), (180.0, 80.0), (-90.0, 80.0), (0.0, 80.0)];
        let b = boxes_around(&ring, 0.0, true).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].north, 90.0);
        assert!(b[0].south < 80.0);
    }

    #[test]
    fn viewports_split_at_the_antimeridian() {
        assert_eq!(viewport(-10.0, -5.0, 10.0, 5.0).unwrap().len(), 1);
        let b = viewport(170.0, -5.0, -170.0, 5.0).unwrap();
        assert_eq!(b.len(), 2);
        assert!(covered(&b, 175.0, 0.0) && covered(&b, -175.0, 0.0) && !covered(&b, 0.0, 0.0));
        assert!(viewport(0.0, 5.0, 10.0, 5.0).is_err());
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(boxes_around(&[(181.0, 0.0)], 1.0, false), Err(SpatialError::Longitude(181.0)));
        assert_eq!(boxes_around(&[(0.0, -90.5)], 1.0, false), Err(SpatialError::Latitude(-90.5)));
        assert!(boxes_around(&[(0.0, 0.0)], f64::NAN, false).is_err());
        assert!(boxes_around(&[], 1.0, false).is_err());
        assert!(check_distance(0.0, false).is_err());
        assert!(check_distance(-1.0, true).is_err());
        assert!(check_distance(3e7, true).is_err());
        assert!(check_position(f64::NAN, 0.0).is_err());
    }
}
