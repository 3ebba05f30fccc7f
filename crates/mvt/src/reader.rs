//! Reads WKB (as produced by `ST_AsBinary`) into tile-space coordinates.
//!
//! geozero walks the WKB and calls us per coordinate; we project each
//! coordinate as it arrives and append it to flat buffers that are reused from
//! one feature to the next, so reading a feature allocates nothing once the
//! buffers have grown.

use geozero::error::GeozeroError;
use geozero::GeomProcessor;

use crate::tile::TileTransform;
use crate::GeometryError;

/// The dimension of a feature's geometry, as MVT knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    Point = 0,
    Line = 1,
    Polygon = 2,
}

/// One source geometry in tile space (unsnapped), split by dimension.
///
/// A geometry collection may hold several dimensions; like `ST_AsMVTGeom`, we
/// keep only the highest one (see [`SourceGeometry::dimension`]).
#[derive(Default, Debug)]
pub struct SourceGeometry {
    pub points: Vec<[f64; 2]>,
    pub line_coords: Vec<[f64; 2]>,
    /// End offset (exclusive) in `line_coords` of each line.
    pub line_ends: Vec<usize>,
    pub ring_coords: Vec<[f64; 2]>,
    /// End offset (exclusive) in `ring_coords` of each ring.
    pub ring_ends: Vec<usize>,
    /// End index (exclusive) in `ring_ends` of each polygon; its first ring is the shell.
    pub polygon_ends: Vec<usize>,
}

impl SourceGeometry {
    pub fn clear(&mut self) {
        self.points.clear();
        self.line_coords.clear();
        self.line_ends.clear();
        self.ring_coords.clear();
        self.ring_ends.clear();
        self.polygon_ends.clear();
    }

    /// The highest dimension present, or `None` for an empty geometry.
    pub fn dimension(&self) -> Option<Dimension> {
        if !self.ring_coords.is_empty() {
            Some(Dimension::Polygon)
        } else if !self.line_coords.is_empty() {
            Some(Dimension::Line)
        } else if !self.points.is_empty() {
            Some(Dimension::Point)
        } else {
            None
        }
    }

    pub fn lines(&self) -> impl Iterator<Item = &[[f64; 2]]> {
        let mut start = 0;
        self.line_ends.iter().map(move |&end| {
            let part = &self.line_coords[start..end];
            start = end;
            part
        })
    }

    /// Each polygon as the index range of its rings in `ring_ends`.
    pub fn polygons(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let mut start = 0;
        self.polygon_ends.iter().map(move |&end| {
            let r = start..end;
            start = end;
            r
        })
    }

    pub fn ring(&self, index: usize) -> &[[f64; 2]] {
        let start = if index == 0 { 0 } else { self.ring_ends[index - 1] };
        &self.ring_coords[start..self.ring_ends[index]]
    }
}

/// Parses WKB into a [`SourceGeometry`], projecting with `transform`.
pub fn read_wkb(wkb: &[u8], transform: &TileTransform, out: &mut SourceGeometry) -> Result<(), GeometryError> {
    read_wkb_interruptible(wkb, transform, out, None)
}

/// [`read_wkb`], calling `interrupt` every [`crate::simplify::INTERRUPT_EVERY`]
/// positions (see `LayerEncoder::set_interrupt_check`).
pub fn read_wkb_interruptible(
    wkb: &[u8],
    transform: &TileTransform,
    out: &mut SourceGeometry,
    interrupt: Option<fn()>,
) -> Result<(), GeometryError> {
    out.clear();
    let mut p =
        Projector { transform, out, polygon_depth: 0, target: Target::Points, error: None, interrupt, positions: 0 };
    let mut cursor = wkb;
    let result = geozero::wkb::process_wkb_geom(&mut cursor, &mut p);
    if let Some(e) = p.error {
        return Err(e);
    }
    result.map_err(|e| GeometryError::Malformed(e.to_string()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Points,
    Line,
    Ring,
}

struct Projector<'a> {
    transform: &'a TileTransform,
    out: &'a mut SourceGeometry,
    /// >0 while inside a polygon (or triangle), where linestrings are rings.
    polygon_depth: u32,
    target: Target,
    error: Option<GeometryError>,
    interrupt: Option<fn()>,
    positions: usize,
}

impl Projector<'_> {
    fn fail(&mut self, e: GeometryError) -> geozero::error::Result<()> {
        self.error = Some(e);
        Err(GeozeroError::Geometry("rejected".into()))
    }
}

impl GeomProcessor for Projector<'_> {
    fn xy(&mut self, x: f64, y: f64, _idx: usize) -> geozero::error::Result<()> {
        self.positions += 1;
        if self.positions.is_multiple_of(crate::simplify::INTERRUPT_EVERY) {
            if let Some(check) = self.interrupt {
                check();
            }
        }
        if !x.is_finite() || !y.is_finite() {
            // An EMPTY member of a multipoint is written as (NaN, NaN).
            if self.target == Target::Points && x.is_nan() && y.is_nan() {
                return Ok(());
            }
            return self.fail(GeometryError::NonFiniteCoordinate);
        }
        let p = self.transform.apply(x, y);
        match self.target {
            Target::Points => self.out.points.push(p),
            Target::Line => self.out.line_coords.push(p),
            Target::Ring => self.out.ring_coords.push(p),
        }
        Ok(())
    }

    fn empty_point(&mut self, _idx: usize) -> geozero::error::Result<()> {
        Ok(())
    }

    fn point_begin(&mut self, _idx: usize) -> geozero::error::Result<()> {
        self.target = Target::Points;
        Ok(())
    }

    fn multipoint_begin(&mut self, _size: usize, _idx: usize) -> geozero::error::Result<()> {
        self.target = Target::Points;
        Ok(())
    }

    fn linestring_begin(&mut self, _tagged: bool, _size: usize, _idx: usize) -> geozero::error::Result<()> {
        self.target = if self.polygon_depth > 0 { Target::Ring } else { Target::Line };
        Ok(())
    }

    fn linestring_end(&mut self, _tagged: bool, _idx: usize) -> geozero::error::Result<()> {
        match self.target {
            Target::Ring => {
                let start = self.out.ring_ends.last().copied().unwrap_or(0);
                let n = self.out.ring_coords.len() - start;
                // An empty ring is allowed by WKB; it contributes nothing.
                if n > 0 && n < 4 {
                    return self.fail(GeometryError::RingTooShort(n));
                }
                if n > 0 {
                    self.out.ring_ends.push(self.out.ring_coords.len());
                }
            }
            Target::Line => {
                let start = self.out.line_ends.last().copied().unwrap_or(0);
                let n = self.out.line_coords.len() - start;
                if n == 1 {
                    return self.fail(GeometryError::LineTooShort);
                }
                if n > 0 {
                    self.out.line_ends.push(self.out.line_coords.len());
                }
            }
            Target::Points => {}
        }
        Ok(())
    }

    fn polygon_begin(&mut self, _tagged: bool, _size: usize, _idx: usize) -> geozero::error::Result<()> {
        self.polygon_depth += 1;
        Ok(())
    }

    fn polygon_end(&mut self, _tagged: bool, _idx: usize) -> geozero::error::Result<()> {
        self.polygon_depth -= 1;
        let first_ring = self.out.polygon_ends.last().copied().unwrap_or(0);
        if self.out.ring_ends.len() > first_ring {
            self.out.polygon_ends.push(self.out.ring_ends.len());
        }
        Ok(())
    }

    fn triangle_begin(&mut self, tagged: bool, size: usize, idx: usize) -> geozero::error::Result<()> {
        self.polygon_begin(tagged, size, idx)
    }

    fn triangle_end(&mut self, tagged: bool, idx: usize) -> geozero::error::Result<()> {
        self.polygon_end(tagged, idx)
    }

    fn circularstring_begin(&mut self, _size: usize, _idx: usize) -> geozero::error::Result<()> {
        self.fail(GeometryError::Unsupported("curved geometry"))
    }

    fn compoundcurve_begin(&mut self, _size: usize, _idx: usize) -> geozero::error::Result<()> {
        self.fail(GeometryError::Unsupported("curved geometry"))
    }

    fn curvepolygon_begin(&mut self, _size: usize, _idx: usize) -> geozero::error::Result<()> {
        self.fail(GeometryError::Unsupported("curved geometry"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tile::{SourceCrs, TileCoord, TileSpace};

    fn identity() -> TileTransform {
        // z0 over Web Mercator maps x in metres linearly; tests only need a
        // deterministic transform and check structure, not values.
        TileTransform::new(TileCoord::new(0, 0, 0).unwrap(), TileSpace::DEFAULT, SourceCrs::WebMercator)
    }

    fn wkb_polygon(rings: &[&[[f64; 2]]]) -> Vec<u8> {
        let mut b = vec![1u8];
        b.extend(3u32.to_le_bytes());
        b.extend((rings.len() as u32).to_le_bytes());
        for r in rings {
            b.extend((r.len() as u32).to_le_bytes());
            for p in *r {
                b.extend(p[0].to_le_bytes());
                b.extend(p[1].to_le_bytes());
            }
        }
        b
    }

    #[test]
    fn reads_polygon_rings() {
        let shell = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]];
        let hole = [[2.0, 2.0], [3.0, 2.0], [3.0, 3.0], [2.0, 2.0]];
        let wkb = wkb_polygon(&[&shell, &hole]);
        let mut g = SourceGeometry::default();
        read_wkb(&wkb, &identity(), &mut g).unwrap();
        assert_eq!(g.dimension(), Some(Dimension::Polygon));
        assert_eq!(g.polygon_ends, vec![2]);
        assert_eq!(g.ring(0).len(), 5);
        assert_eq!(g.ring(1).len(), 4);
    }

    #[test]
    fn rejects_short_rings_and_nan() {
        let bad = [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]];
        let mut g = SourceGeometry::default();
        assert!(matches!(read_wkb(&wkb_polygon(&[&bad]), &identity(), &mut g), Err(GeometryError::RingTooShort(3))));
        let nan = [[0.0, 0.0], [f64::NAN, 0.0], [1.0, 1.0], [0.0, 0.0]];
        assert!(matches!(
            read_wkb(&wkb_polygon(&[&nan]), &identity(), &mut g),
            Err(GeometryError::NonFiniteCoordinate)
        ));
        assert!(matches!(read_wkb(&[1, 2, 3], &identity(), &mut g), Err(GeometryError::Malformed(_))));
    }

    #[test]
    fn empty_point_is_empty() {
        // POINT EMPTY is encoded with NaN coordinates.
        let mut b = vec![1u8];
        b.extend(1u32.to_le_bytes());
        b.extend(f64::NAN.to_le_bytes());
        b.extend(f64::NAN.to_le_bytes());
        let mut g = SourceGeometry::default();
        read_wkb(&b, &identity(), &mut g).unwrap();
        assert_eq!(g.dimension(), None);
    }
}
