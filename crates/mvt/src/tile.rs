//! Tile addressing and the map from source coordinates to tile space.
//!
//! Tiles follow the XYZ scheme over spherical Web Mercator (EPSG:3857): zoom
//! `z` has `2^z × 2^z` tiles, `x` grows east and `y` grows south. Tile space
//! has its origin at the tile's north-west corner, `x` to the right and `y`
//! down, `extent` units per tile side.

use std::f64::consts::PI;

use crate::Error;

pub use gridkit_tilecoord::{EARTH_RADIUS, HALF_WORLD};
/// Latitude at which Web Mercator's square world ends: atan(sinh(π)).
pub const MAX_LATITUDE: f64 = 85.051_128_779_806_59;
/// Deepest zoom accepted (a z24 tile is about 2.4 m wide at the equator).
pub use gridkit_tilecoord::MAX_ZOOM;

/// A validated tile address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileCoord {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileCoord {
    /// Checks `z` in `0..=24` and `x`, `y` in `0..2^z`.
    pub fn new(z: i64, x: i64, y: i64) -> Result<Self, Error> {
        let (z, x, y) = gridkit_tilecoord::check(z, x, y)?;
        Ok(TileCoord { z, x, y })
    }

    /// Width of this tile in Web Mercator metres.
    pub fn size_m(&self) -> f64 {
        2.0 * HALF_WORLD / (1u64 << self.z) as f64
    }

    /// The tile's bounds in Web Mercator metres, grown on every side by
    /// `margin` tile widths (a buffer of `b` units is a margin of `b/extent`).
    pub fn mercator_bounds(&self, margin: f64) -> Bounds {
        let size = self.size_m();
        let xmin = -HALF_WORLD + f64::from(self.x) * size;
        let ymax = HALF_WORLD - f64::from(self.y) * size;
        Bounds {
            xmin: xmin - margin * size,
            ymin: ymax - size - margin * size,
            xmax: xmin + size + margin * size,
            ymax: ymax + margin * size,
        }
    }

    /// The tiles of zoom `z` whose bounds grown by `margin` meet `b` (Web
    /// Mercator metres): every tile a feature within `b` can draw into.
    pub fn covering(z: u8, b: &Bounds, margin: f64) -> Vec<TileCoord> {
        let n = 1i64 << z.min(MAX_ZOOM);
        let size = 2.0 * HALF_WORLD / n as f64;
        let pad = margin * size;
        let index = |v: f64| ((v / size).floor() as i64).clamp(0, n - 1);
        let (x0, x1) = (index(b.xmin - pad + HALF_WORLD), index(b.xmax + pad + HALF_WORLD));
        let (y0, y1) = (index(HALF_WORLD - b.ymax - pad), index(HALF_WORLD - b.ymin + pad));
        let mut out = Vec::new();
        for x in x0..=x1 {
            for y in y0..=y1 {
                out.push(TileCoord { z, x: x as u32, y: y as u32 });
            }
        }
        out
    }

    /// The same bounds as longitude/latitude degrees (EPSG:4326). Mercator is
    /// separable per axis, so this rectangle selects exactly the lon/lat
    /// points that project into the Mercator rectangle.
    pub fn lonlat_bounds(&self, margin: f64) -> Bounds {
        let m = self.mercator_bounds(margin);
        Bounds {
            xmin: mercator_x_to_lon(m.xmin),
            ymin: mercator_y_to_lat(m.ymin),
            xmax: mercator_x_to_lon(m.xmax),
            ymax: mercator_y_to_lat(m.ymax),
        }
    }
}

/// An axis-aligned rectangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub xmin: f64,
    pub ymin: f64,
    pub xmax: f64,
    pub ymax: f64,
}

/// Longitude in degrees to Web Mercator x in metres.
#[inline]
pub fn lon_to_mercator_x(lon: f64) -> f64 {
    lon.to_radians() * EARTH_RADIUS
}

/// Latitude in degrees to Web Mercator y in metres, with the latitude clamped
/// to the Mercator world (±85.0511°) so the poles map to its edge, not to
/// infinity.
#[inline]
pub fn lat_to_mercator_y(lat: f64) -> f64 {
    let phi = lat.clamp(-MAX_LATITUDE, MAX_LATITUDE).to_radians();
    (PI / 4.0 + phi / 2.0).tan().ln() * EARTH_RADIUS
}

#[inline]
pub fn mercator_x_to_lon(x: f64) -> f64 {
    (x / EARTH_RADIUS).to_degrees()
}

#[inline]
pub fn mercator_y_to_lat(y: f64) -> f64 {
    (y / EARTH_RADIUS).sinh().atan().to_degrees()
}

/// Coordinate reference systems whose coordinates we project ourselves.
/// Anything else is transformed to Web Mercator by PostGIS before it reaches us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceCrs {
    /// EPSG:4326 longitude/latitude in degrees.
    LonLat,
    /// EPSG:3857 Web Mercator metres.
    WebMercator,
}

/// Tile-space parameters shared by every feature of a layer in one tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileSpace {
    /// Units per tile side.
    pub extent: u32,
    /// Units kept outside the tile on every side when clipping.
    pub buffer: u32,
}

impl TileSpace {
    pub const DEFAULT: TileSpace = TileSpace { extent: 4096, buffer: 64 };

    /// The clip rectangle in tile units: `[-buffer, extent + buffer]` on both axes.
    pub fn clip_box(&self) -> ClipBox {
        let lo = -(self.buffer as i32);
        let hi = self.extent as i32 + self.buffer as i32;
        ClipBox { lo, hi }
    }

    /// The buffer as a fraction of the tile width, for the bounding-box filter.
    pub fn margin(&self) -> f64 {
        f64::from(self.buffer) / f64::from(self.extent)
    }
}

/// A square clip rectangle `[lo, hi] × [lo, hi]` in tile units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipBox {
    pub lo: i32,
    pub hi: i32,
}

impl ClipBox {
    #[inline]
    pub fn contains(&self, p: [i32; 2]) -> bool {
        p[0] >= self.lo && p[0] <= self.hi && p[1] >= self.lo && p[1] <= self.hi
    }
}

/// Maps source coordinates to (unsnapped) tile space. The arithmetic mirrors
/// `ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(z, x, y))` so that
/// snapped coordinates agree with PostGIS's.
#[derive(Clone, Copy, Debug)]
pub struct TileTransform {
    crs: SourceCrs,
    xmin: f64,
    ymax: f64,
    fx: f64,
    fy: f64,
}

impl TileTransform {
    pub fn new(tile: TileCoord, space: TileSpace, crs: SourceCrs) -> Self {
        let b = tile.mercator_bounds(0.0);
        let extent = f64::from(space.extent);
        TileTransform {
            crs,
            xmin: b.xmin,
            ymax: b.ymax,
            fx: extent / (b.xmax - b.xmin),
            fy: -(extent / (b.ymax - b.ymin)),
        }
    }

    /// Source coordinates to Web Mercator metres (y up), for work on whole
    /// layers rather than one tile.
    pub fn to_mercator(crs: SourceCrs) -> Self {
        TileTransform { crs, xmin: 0.0, ymax: 0.0, fx: 1.0, fy: 1.0 }
    }

    /// Source coordinates to tile space.
    #[inline]
    pub fn apply(&self, x: f64, y: f64) -> [f64; 2] {
        let (mx, my) = match self.crs {
            SourceCrs::LonLat => (lon_to_mercator_x(x), lat_to_mercator_y(y)),
            SourceCrs::WebMercator => (x, y.clamp(-HALF_WORLD, HALF_WORLD)),
        };
        [(mx - self.xmin) * self.fx, (my - self.ymax) * self.fy]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_addresses() {
        assert!(matches!(TileCoord::new(-1, 0, 0), Err(Error::ZoomOutOfRange { z: -1 })));
        assert!(matches!(TileCoord::new(25, 0, 0), Err(Error::ZoomOutOfRange { z: 25 })));
        assert!(matches!(TileCoord::new(0, 1, 0), Err(Error::TileOutOfRange { max: 0, .. })));
        assert!(matches!(TileCoord::new(3, 0, 8), Err(Error::TileOutOfRange { max: 7, .. })));
        assert!(matches!(TileCoord::new(3, -1, 0), Err(Error::TileOutOfRange { .. })));
        assert!(TileCoord::new(24, (1 << 24) - 1, 0).is_ok());
    }

    #[test]
    fn world_tile_bounds_match_postgis_tile_envelope() {
        // ST_TileEnvelope(0,0,0) = -20037508.342789244 .. 20037508.342789244
        let b = TileCoord::new(0, 0, 0).unwrap().mercator_bounds(0.0);
        assert_eq!(b.xmin, -20037508.342789244);
        assert_eq!(b.ymax, 20037508.342789244);
        // ST_TileEnvelope(2,1,1): xmin -10018754.171394622, ymax 10018754.171394622
        let b = TileCoord::new(2, 1, 1).unwrap().mercator_bounds(0.0);
        assert!((b.xmin - -10018754.171394622).abs() < 1e-6);
        assert!((b.ymax - 10018754.171394622).abs() < 1e-6);
        assert!((b.xmax - 0.0).abs() < 1e-6);
    }

    #[test]
    fn lonlat_bounds_round_trip() {
        let t = TileCoord::new(5, 9, 12).unwrap();
        let ll = t.lonlat_bounds(0.0);
        assert!((ll.xmin - -78.75).abs() < 1e-9);
        assert!((ll.xmax - -67.5).abs() < 1e-9);
        let m = t.mercator_bounds(0.0);
        assert!((lat_to_mercator_y(ll.ymax) - m.ymax).abs() < 1e-6);
        assert!((lat_to_mercator_y(ll.ymin) - m.ymin).abs() < 1e-6);
    }

    #[test]
    fn transform_maps_tile_corners_to_extent() {
        let t = TileCoord::new(5, 9, 12).unwrap();
        let tr = TileTransform::new(t, TileSpace::DEFAULT, SourceCrs::LonLat);
        let ll = t.lonlat_bounds(0.0);
        let nw = tr.apply(ll.xmin, ll.ymax);
        let se = tr.apply(ll.xmax, ll.ymin);
        assert!(nw[0].abs() < 1e-6 && nw[1].abs() < 1e-6, "{nw:?}");
        assert!((se[0] - 4096.0).abs() < 1e-6 && (se[1] - 4096.0).abs() < 1e-6, "{se:?}");
    }

    #[test]
    fn poles_clamp_to_world_edge() {
        let t = TileCoord::new(0, 0, 0).unwrap();
        let tr = TileTransform::new(t, TileSpace::DEFAULT, SourceCrs::LonLat);
        assert!((tr.apply(0.0, 90.0)[1] - 0.0).abs() < 1e-6);
        assert!((tr.apply(0.0, -90.0)[1] - 4096.0).abs() < 1e-6);
        assert!((tr.apply(-180.0, 0.0)[0] - 0.0).abs() < 1e-9);
        assert!((tr.apply(0.0, 0.0)[1] - 2048.0).abs() < 1e-9);
    }

    #[test]
    fn covering_tiles_meet_the_bounds_with_their_margin() {
        let b = Bounds { xmin: -1.0, ymin: -1.0, xmax: 1.0, ymax: 1.0 };
        // Around the origin at z1: all four tiles.
        assert_eq!(TileCoord::covering(1, &b, 0.0).len(), 4);
        assert_eq!(TileCoord::covering(0, &b, 0.0), vec![TileCoord { z: 0, x: 0, y: 0 }]);
        // A point just east of a tile edge reaches the western neighbour
        // through its margin only.
        let t = TileCoord { z: 4, x: 5, y: 6 };
        let m = t.mercator_bounds(0.0);
        let p = Bounds { xmin: m.xmax + 1.0, ymin: m.ymin + 10.0, xmax: m.xmax + 1.0, ymax: m.ymin + 10.0 };
        assert_eq!(TileCoord::covering(4, &p, 0.0), vec![TileCoord { z: 4, x: 6, y: 6 }]);
        let with_margin = TileCoord::covering(4, &p, 1.0 / 64.0);
        assert!(with_margin.contains(&t) && with_margin.contains(&TileCoord { z: 4, x: 6, y: 6 }));
        // Every tile returned meets the bounds, clamped to the world.
        let world = Bounds { xmin: -1e9, ymin: -1e9, xmax: 1e9, ymax: 1e9 };
        assert_eq!(TileCoord::covering(3, &world, 0.0).len(), 64);
    }
}
