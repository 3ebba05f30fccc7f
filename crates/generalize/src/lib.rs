//! Generalization of lines and polygons for low zooms, free of PostgreSQL.
//!
//! A [`Generalizer`] holds a whole layer: lines as they are, polygon rings cut
//! into shared arcs (see [`topology`]). [`Generalizer::band`] simplifies every
//! arc once at a tolerance (Douglas–Peucker, end points fixed) and puts each
//! feature back together from its arcs, so neighbouring polygons keep exactly
//! the same border, and a feature keeps its index (its id) at every zoom.
//!
//! What a band leaves out, on purpose:
//! - features whose bounding box is smaller than `min_size` on both axes
//!   (the extension passes half the tolerance: such a feature draws as a
//!   dot at most);
//! - rings that collapse (fewer than three distinct points, or no area), and
//!   with a collapsed outer ring its holes.
//!
//! Simplified rings are not repaired here: the tile encoder rebuilds every
//! polygon on the tile's integer grid (which it must do anyway after
//! snapping), so what reaches a tile is valid.

pub mod thin;
pub mod topology;
pub mod wkb;

use gridkit_mvt::reader::SourceGeometry;
use gridkit_mvt::simplify::Simplifier;

use topology::{ArcUse, Arcs};

/// A generalized feature: lines, or polygons as rings (outer ring first,
/// each closed), in the input's units.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shape {
    pub lines: Vec<Vec<[f64; 2]>>,
    pub polygons: Vec<Vec<Vec<[f64; 2]>>>,
}

impl Shape {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.polygons.is_empty()
    }

    pub fn vertices(&self) -> usize {
        self.lines.iter().map(Vec::len).sum::<usize>() + self.polygons.iter().flatten().map(Vec::len).sum::<usize>()
    }
}

/// One input feature's parts, as arcs.
#[derive(Debug, Default)]
struct Parts {
    /// Lines: each is its own arc (lines are simplified one by one).
    lines: Vec<u32>,
    /// Polygons: rings (outer first), each a sequence of arc uses.
    polygons: Vec<Vec<Vec<ArcUse>>>,
    bbox: [f64; 4],
}

/// A layer prepared for generalization.
pub struct Generalizer {
    lines: Arcs,
    rings: Arcs,
    features: Vec<Parts>,
    /// Vertices of the input (closing points of rings included).
    pub source_vertices: usize,
}

/// Per-band counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BandStats {
    pub features: usize,
    pub vertices: usize,
    /// Features left out as smaller than `min_size`.
    pub too_small: usize,
    /// Features whose every ring collapsed.
    pub collapsed: usize,
}

fn bbox_add(b: &mut [f64; 4], p: [f64; 2]) {
    b[0] = b[0].min(p[0]);
    b[1] = b[1].min(p[1]);
    b[2] = b[2].max(p[0]);
    b[3] = b[3].max(p[1]);
}

impl Generalizer {
    /// Prepares `features` (their lines and polygons; points are ignored).
    pub fn new<'a>(features: impl IntoIterator<Item = &'a SourceGeometry>) -> Generalizer {
        let mut lines = Arcs::default();
        let mut parts = Vec::new();
        let mut rings: Vec<&[[f64; 2]]> = Vec::new();
        // (feature, polygon, ring count) to put ring arcs back in place.
        let mut ring_owner: Vec<(usize, usize)> = Vec::new();
        let mut source_vertices = 0;
        for (f, g) in features.into_iter().enumerate() {
            let mut p = Parts {
                bbox: [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY],
                ..Default::default()
            };
            for line in g.lines() {
                lines.coords.extend_from_slice(line);
                lines.ends.push(lines.coords.len());
                lines.uses.push(1);
                p.lines.push((lines.ends.len() - 1) as u32);
                line.iter().for_each(|&q| bbox_add(&mut p.bbox, q));
                source_vertices += line.len();
            }
            for (k, range) in g.polygons().enumerate() {
                p.polygons.push(Vec::new());
                for r in range {
                    let ring = g.ring(r);
                    ring.iter().for_each(|&q| bbox_add(&mut p.bbox, q));
                    source_vertices += ring.len();
                    rings.push(ring);
                    ring_owner.push((f, k));
                }
            }
            parts.push(p);
        }
        let (ring_arcs, uses) = topology::build(&rings);
        for ((f, k), u) in ring_owner.into_iter().zip(uses) {
            parts[f].polygons[k].push(u);
        }
        // SourceGeometry borrows end here; `rings` only held slices of it.
        drop(rings);
        Generalizer { lines, rings: ring_arcs, features: parts, source_vertices }
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The ring arcs (for statistics and tests).
    pub fn ring_arcs(&self) -> &Arcs {
        &self.rings
    }

    /// Generalizes at `tolerance` the features for which `include(i)`
    /// holds and whose bounding box reaches `min_size` on one axis at least,
    /// calling `out(i, shape)` for each one kept.
    pub fn band(
        &self,
        tolerance: f64,
        min_size: f64,
        include: impl Fn(usize) -> bool,
        mut out: impl FnMut(usize, &Shape),
    ) -> BandStats {
        let mut simplifier = Simplifier::default();
        let mut stats = BandStats::default();
        // Each ring arc simplified at most once per band.
        let mut ring_arcs: Vec<Option<Vec<[f64; 2]>>> = vec![None; self.rings.len()];
        let mut shape = Shape::default();
        let mut scratch = Vec::new();
        for (i, f) in self.features.iter().enumerate() {
            if !include(i) {
                continue;
            }
            if f.bbox[2] - f.bbox[0] < min_size && f.bbox[3] - f.bbox[1] < min_size {
                stats.too_small += 1;
                continue;
            }
            shape.lines.clear();
            shape.polygons.clear();
            for &l in &f.lines {
                let mut line = Vec::new();
                simplifier.simplify(self.lines.arc(l), tolerance, &mut line);
                shape.lines.push(line);
            }
            for polygon in &f.polygons {
                let mut rings_out: Vec<Vec<[f64; 2]>> = Vec::with_capacity(polygon.len());
                for (r, ring) in polygon.iter().enumerate() {
                    scratch.clear();
                    for u in ring {
                        let arc = ring_arcs[u.arc as usize].get_or_insert_with(|| {
                            let mut s = Vec::new();
                            simplifier.simplify(self.rings.arc(u.arc), tolerance, &mut s);
                            s
                        });
                        // Consecutive arcs share their junction point.
                        let skip = usize::from(!scratch.is_empty());
                        if u.reversed {
                            scratch.extend(arc.iter().rev().skip(skip));
                        } else {
                            scratch.extend(arc.iter().skip(skip));
                        }
                    }
                    if collapsed(&scratch) {
                        if r == 0 {
                            break; // no outer ring, no polygon
                        }
                        continue;
                    }
                    rings_out.push(scratch.clone());
                }
                if !rings_out.is_empty() {
                    shape.polygons.push(rings_out);
                }
            }
            if shape.is_empty() {
                stats.collapsed += 1;
                continue;
            }
            stats.features += 1;
            stats.vertices += shape.vertices();
            out(i, &shape);
        }
        stats
    }
}

/// Fewer than three distinct points, or no area.
fn collapsed(ring: &[[f64; 2]]) -> bool {
    if ring.len() < 4 {
        return true;
    }
    let mut twice_area = 0.0;
    for w in ring.windows(2) {
        twice_area += w[0][0] * w[1][1] - w[1][0] * w[0][1];
    }
    twice_area == 0.0
}

/// Douglas–Peucker tolerance in Web Mercator metres at zoom `z`, for a
/// tolerance of `px` pixels on tiles drawn `tile_px` pixels wide.
pub fn tolerance_m(px: f64, z: u8, tile_px: f64) -> f64 {
    const WORLD_M: f64 = 2.0 * std::f64::consts::PI * 6_378_137.0;
    px * WORLD_M / (tile_px * f64::from(1u32 << z))
}

#[cfg(test)]
mod tests;
