//! Clips tile-space geometry to the tile plus its buffer, snaps it to the
//! integer grid and writes MVT geometry commands.
//!
//! The order of operations follows `ST_AsMVTGeom`, so our tiles agree with
//! PostGIS's within one unit:
//! - lines and rings are first simplified (Douglas–Peucker, half a tile unit,
//!   see [`crate::simplify`]);
//! - points are snapped, then kept when inside the clip box (inclusive);
//! - lines are clipped exactly in floating point, then snapped, with repeated
//!   and collinear points removed;
//! - polygon rings are pre-clipped in floating point (Sutherland–Hodgman, which
//!   may leave zero-width slivers along the box edge), snapped, and then
//!   rebuilt on the integer grid by i_overlay with the even-odd rule. That last
//!   pass is what makes the output valid: it dissolves the slivers, splits
//!   self-intersections that snapping created, drops collapsed rings and orders
//!   shells and holes. Shells come out with positive area in tile coordinates
//!   (clockwise on screen) and holes negative, as the MVT specification asks.

use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay::{IntOverlayOptions, Overlay};
use i_overlay::i_float::int::point::IntPoint;
use rustc_hash::FxHashSet;

use crate::proto::GeomType;
use crate::reader::{Dimension, SourceGeometry};
use crate::simplify::{Simplifier, DEFAULT_TOLERANCE};
use crate::tile::{ClipBox, TileSpace};

/// A feature's geometry as MVT commands, with the measure used to decide
/// which features a full tile drops first.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedGeometry {
    pub kind: GeomType,
    pub commands: Vec<u32>,
    /// Polygons: area in square tile units; lines: length in tile units;
    /// points: number of points.
    pub weight: f64,
    /// The layer's rank of the feature (see `LayerEncoder::set_rank`):
    /// features of lower rank are dropped before any of higher rank.
    pub rank: f64,
}

/// Clips and encodes features of one layer in one tile. Holds scratch buffers
/// so a tile's features reuse the same memory.
pub struct Clipper {
    cbox: ClipBox,
    lo: f64,
    hi: f64,
    snapped: Vec<[i32; 2]>,
    seen: FxHashSet<[i32; 2]>,
    simplifier: Simplifier,
    /// Douglas–Peucker tolerances in tile units, for lines and for rings.
    line_tolerance: f64,
    ring_tolerance: f64,
    simplified: Vec<[f64; 2]>,
    /// A line or ring with its far runs cut short (`cut_far_runs`).
    near: Vec<[f64; 2]>,
    /// Lines and rings of at least this many points have their far runs cut.
    far_run_min_points: usize,
    run: Vec<[f64; 2]>,
    ring_a: Vec<[f64; 2]>,
    ring_b: Vec<[f64; 2]>,
    contours: Vec<Vec<IntPoint<i32>>>,
    /// Created at the first polygon: point and line layers never pay for it.
    overlay: Option<Overlay<i32>>,
}

impl Clipper {
    pub fn new(space: TileSpace) -> Self {
        let cbox = space.clip_box();
        Clipper {
            cbox,
            lo: f64::from(cbox.lo),
            hi: f64::from(cbox.hi),
            snapped: Vec::new(),
            seen: FxHashSet::default(),
            simplifier: Simplifier::default(),
            line_tolerance: DEFAULT_TOLERANCE,
            ring_tolerance: DEFAULT_TOLERANCE,
            simplified: Vec::new(),
            near: Vec::new(),
            far_run_min_points: FAR_RUN_MIN_POINTS,
            run: Vec::new(),
            ring_a: Vec::new(),
            ring_b: Vec::new(),
            contours: Vec::new(),
            overlay: None,
        }
    }

    /// Sets the simplification tolerances (tile units) of lines and of
    /// polygon rings; both are [`DEFAULT_TOLERANCE`] unless set. Zero keeps
    /// every point but exactly collinear ones (for geometry simplified
    /// before, whose shared borders must stay identical).
    pub fn set_tolerances(&mut self, line: f64, ring: f64) {
        self.line_tolerance = line;
        self.ring_tolerance = ring;
    }

    /// See `LayerEncoder::set_interrupt_check`.
    pub fn set_interrupt_check(&mut self, check: fn()) {
        self.simplifier.interrupt = Some(check);
    }

    /// Clips `g` to the tile and encodes it; `None` when nothing of it is left
    /// in the tile (outside, or collapsed by snapping).
    pub fn clip_and_encode(&mut self, g: &SourceGeometry) -> Option<EncodedGeometry> {
        match g.dimension()? {
            Dimension::Point => self.points(g),
            Dimension::Line => self.lines(g),
            Dimension::Polygon => self.polygons(g),
        }
    }

    fn points(&mut self, g: &SourceGeometry) -> Option<EncodedGeometry> {
        self.snapped.clear();
        self.seen.clear();
        for &p in &g.points {
            let q = snap(p);
            // Multipoints repeat points after snapping; keep the first of each.
            if self.cbox.contains(q) && (g.points.len() == 1 || self.seen.insert(q)) {
                self.snapped.push(q);
            }
        }
        if self.snapped.is_empty() {
            return None;
        }
        let mut enc = CommandWriter::with_capacity(1 + 2 * self.snapped.len());
        enc.points(&self.snapped);
        Some(EncodedGeometry { kind: GeomType::Point, commands: enc.out, weight: self.snapped.len() as f64, rank: 0.0 })
    }

    fn lines(&mut self, g: &SourceGeometry) -> Option<EncodedGeometry> {
        let mut enc = CommandWriter::with_capacity(16);
        let mut length = 0.0;
        for line in g.lines() {
            let line = if self.cut_far(line) { &self.near[..] } else { line };
            self.simplifier.simplify(line, self.line_tolerance, &mut self.simplified);
            self.run.clear();
            for k in 0..self.simplified.len().saturating_sub(1) {
                let w = [self.simplified[k], self.simplified[k + 1]];
                match clip_segment(w[0], w[1], self.lo, self.hi) {
                    None => length += self.flush_run(&mut enc),
                    Some(seg) => {
                        if seg.entered && !self.run.is_empty() {
                            length += self.flush_run(&mut enc);
                        }
                        if self.run.is_empty() {
                            self.run.push(seg.a);
                        }
                        self.run.push(seg.b);
                        if seg.left {
                            length += self.flush_run(&mut enc);
                        }
                    }
                }
            }
            length += self.flush_run(&mut enc);
        }
        if enc.out.is_empty() {
            return None;
        }
        Some(EncodedGeometry { kind: GeomType::Linestring, commands: enc.out, weight: length, rank: 0.0 })
    }

    /// For a long line or ring, writes into `self.near` its copy with the
    /// far runs cut short (see [`cut_far_runs`]) and returns true: the part
    /// a tile shows of a line of millions of vertices then costs what that
    /// part costs, not what the whole does.
    fn cut_far(&mut self, line: &[[f64; 2]]) -> bool {
        if line.len() < self.far_run_min_points {
            return false;
        }
        // The box of the tile and its buffer, widened by its own size on
        // each side, so simplification near the tile sees the line as it is.
        let pad = self.hi - self.lo;
        cut_far_runs_interruptible(line, self.lo - pad, self.hi + pad, &mut self.near, self.simplifier.interrupt);
        true
    }

    /// Snaps the pending run, encodes it when two distinct points survive,
    /// and returns its length.
    fn flush_run(&mut self, enc: &mut CommandWriter) -> f64 {
        if self.run.is_empty() {
            return 0.0;
        }
        self.snapped.clear();
        for &p in &self.run {
            push_distinct(&mut self.snapped, snap(p));
        }
        self.run.clear();
        remove_collinear(&mut self.snapped);
        if self.snapped.len() < 2 {
            return 0.0;
        }
        enc.line(&self.snapped);
        self.snapped.windows(2).map(|w| dist(w[0], w[1])).sum()
    }

    fn polygons(&mut self, g: &SourceGeometry) -> Option<EncodedGeometry> {
        let mut used = 0;
        for poly in g.polygons() {
            for ring_index in poly {
                let ring = g.ring(ring_index);
                let ring = if self.cut_far(ring) { &self.near[..] } else { ring };
                self.simplifier.simplify(ring, self.ring_tolerance, &mut self.simplified);
                let ring = &self.simplified;
                if ring.len() < 4 {
                    continue; // collapsed below a tile unit
                }
                let bbox = bbox_of(ring);
                if bbox[2] < self.lo || bbox[0] > self.hi || bbox[3] < self.lo || bbox[1] > self.hi {
                    continue;
                }
                let inside = bbox[0] >= self.lo && bbox[2] <= self.hi && bbox[1] >= self.lo && bbox[3] <= self.hi;
                let source: &[[f64; 2]] = if inside {
                    ring
                } else {
                    clip_ring(ring, self.lo, self.hi, &mut self.ring_a, &mut self.ring_b);
                    &self.ring_b
                };
                if used == self.contours.len() {
                    self.contours.push(Vec::new());
                }
                let contour = &mut self.contours[used];
                contour.clear();
                for &p in source {
                    let q = snap(p);
                    let q = IntPoint::new(q[0], q[1]);
                    if contour.last() != Some(&q) {
                        contour.push(q);
                    }
                }
                while contour.len() > 1 && contour.first() == contour.last() {
                    contour.pop();
                }
                if contour.len() >= 3 {
                    used += 1;
                }
            }
        }
        if used == 0 {
            return None;
        }
        let overlay =
            self.overlay.get_or_insert_with(|| Overlay::new_custom(64, IntOverlayOptions::ogc(), Default::default()));
        let shapes = overlay.simplify_source(&self.contours[..used], FillRule::EvenOdd);

        let mut enc = CommandWriter::with_capacity(16);
        let mut area = 0.0;
        for shape in &shapes {
            for (k, contour) in shape.iter().enumerate() {
                if contour.len() < 3 {
                    continue;
                }
                self.snapped.clear();
                self.snapped.extend(contour.iter().map(|p| [p.x, p.y]));
                let a = signed_area2(&self.snapped);
                if a == 0 {
                    continue;
                }
                // Shell: positive area in tile coordinates; hole: negative.
                let is_shell = k == 0;
                if (a > 0) != is_shell {
                    self.snapped.reverse();
                }
                area += if is_shell { a.abs() as f64 / 2.0 } else { -(a.abs() as f64) / 2.0 };
                enc.ring(&self.snapped);
            }
        }
        if enc.out.is_empty() {
            return None;
        }
        Some(EncodedGeometry { kind: GeomType::Polygon, commands: enc.out, weight: area, rank: 0.0 })
    }
}

/// Lines and rings shorter than this are simplified whole (cutting their
/// far runs would cost more than it saves).
const FAR_RUN_MIN_POINTS: usize = 64;

/// Which sides of the square `[lo, hi]²` a point lies beyond (Cohen–
/// Sutherland outcode): bit 0 left, 1 right, 2 below, 3 above.
#[inline]
fn outcode(p: [f64; 2], lo: f64, hi: f64) -> u8 {
    u8::from(p[0] < lo) | u8::from(p[0] > hi) << 1 | u8::from(p[1] < lo) << 2 | u8::from(p[1] > hi) << 3
}

/// Writes `line` into `out` with every maximal run of consecutive points
/// beyond one same side of the square `[lo, hi]²` reduced to the run's first
/// and last point. All of a run, and the chord that replaces it, lie in that
/// half-plane, so no segment that meets the square changes: what is clipped
/// to any box inside the square, and a polygon's intersection with it, are
/// the same. First and last points are always kept (a ring stays closed).
/// O(n), where simplifying the far parts (Douglas–Peucker) could cost O(n²).
pub fn cut_far_runs(line: &[[f64; 2]], lo: f64, hi: f64, out: &mut Vec<[f64; 2]>) {
    cut_far_runs_interruptible(line, lo, hi, out, None);
}

/// [`cut_far_runs`], calling `interrupt` every
/// [`crate::simplify::INTERRUPT_EVERY`] points.
fn cut_far_runs_interruptible(line: &[[f64; 2]], lo: f64, hi: f64, out: &mut Vec<[f64; 2]>, interrupt: Option<fn()>) {
    out.clear();
    let n = line.len();
    let mut i = 0;
    let mut next_check = crate::simplify::INTERRUPT_EVERY;
    while i < n {
        if i >= next_check {
            next_check = i + crate::simplify::INTERRUPT_EVERY;
            if let Some(check) = interrupt {
                check();
            }
        }
        let mut side = outcode(line[i], lo, hi);
        out.push(line[i]);
        if side == 0 {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < n {
            let shared = side & outcode(line[j + 1], lo, hi);
            if shared == 0 {
                break;
            }
            side = shared;
            j += 1;
        }
        if j > i {
            out.push(line[j]);
        }
        i = j + 1;
    }
}

/// Sutherland–Hodgman clipping of `ring` to the square `[lo, hi]²`; the
/// result is left in `out` (`tmp` is scratch).
fn clip_ring(ring: &[[f64; 2]], lo: f64, hi: f64, tmp: &mut Vec<[f64; 2]>, out: &mut Vec<[f64; 2]>) {
    out.clear();
    out.extend_from_slice(ring);
    for edge in 0..4 {
        std::mem::swap(tmp, out);
        out.clear();
        let Some(&last) = tmp.last() else { return };
        let inside = |p: [f64; 2]| match edge {
            0 => p[0] >= lo,
            1 => p[0] <= hi,
            2 => p[1] >= lo,
            _ => p[1] <= hi,
        };
        let cross = |a: [f64; 2], b: [f64; 2]| match edge {
            0 => at_x(a, b, lo),
            1 => at_x(a, b, hi),
            2 => at_y(a, b, lo),
            _ => at_y(a, b, hi),
        };
        let mut prev = last;
        for &cur in tmp.iter() {
            match (inside(prev), inside(cur)) {
                (true, true) => out.push(cur),
                (true, false) => out.push(cross(prev, cur)),
                (false, true) => {
                    out.push(cross(prev, cur));
                    out.push(cur);
                }
                (false, false) => {}
            }
            prev = cur;
        }
    }
}

/// Round half to even, as PostGIS's grid snapping (`rint`) does. Casts
/// saturate, and saturated values lie far outside any clip box.
#[inline]
fn snap(p: [f64; 2]) -> [i32; 2] {
    [p[0].round_ties_even() as i32, p[1].round_ties_even() as i32]
}

#[inline]
fn push_distinct(v: &mut Vec<[i32; 2]>, p: [i32; 2]) {
    if v.last() != Some(&p) {
        v.push(p);
    }
}

fn dist(a: [i32; 2], b: [i32; 2]) -> f64 {
    let dx = f64::from(b[0]) - f64::from(a[0]);
    let dy = f64::from(b[1]) - f64::from(a[1]);
    dx.hypot(dy)
}

/// Twice the signed area (surveyor's formula) of a ring given without its
/// closing point. Positive means clockwise on screen (y down).
fn signed_area2(ring: &[[i32; 2]]) -> i64 {
    let n = ring.len();
    let mut s = 0i64;
    for i in 0..n {
        let a = ring[i];
        let b = ring[(i + 1) % n];
        s += i64::from(a[0]) * i64::from(b[1]) - i64::from(b[0]) * i64::from(a[1]);
    }
    s
}

/// Removes points lying on the straight segment between their neighbours
/// (exactly, on the integer grid). Points where the path turns back are kept.
fn remove_collinear(pts: &mut Vec<[i32; 2]>) {
    if pts.len() < 3 {
        return;
    }
    let mut out = 1;
    for i in 1..pts.len() - 1 {
        let a = pts[out - 1];
        let b = pts[i];
        let c = pts[i + 1];
        let (abx, aby) = (i64::from(b[0] - a[0]), i64::from(b[1] - a[1]));
        let (bcx, bcy) = (i64::from(c[0] - b[0]), i64::from(c[1] - b[1]));
        let straight = abx * bcy - aby * bcx == 0 && abx * bcx + aby * bcy > 0;
        if !straight {
            pts[out] = b;
            out += 1;
        }
    }
    pts[out] = pts[pts.len() - 1];
    pts.truncate(out + 1);
}

fn bbox_of(ring: &[[f64; 2]]) -> [f64; 4] {
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for p in ring {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    }
    b
}

#[inline]
fn at_x(a: [f64; 2], b: [f64; 2], x: f64) -> [f64; 2] {
    let t = (x - a[0]) / (b[0] - a[0]);
    [x, a[1] + t * (b[1] - a[1])]
}

#[inline]
fn at_y(a: [f64; 2], b: [f64; 2], y: f64) -> [f64; 2] {
    let t = (y - a[1]) / (b[1] - a[1]);
    [a[0] + t * (b[0] - a[0]), y]
}

struct ClippedSegment {
    a: [f64; 2],
    b: [f64; 2],
    /// The segment starts outside the box and enters it at `a`.
    entered: bool,
    /// The segment ends outside the box and leaves it at `b`.
    left: bool,
}

/// Liang–Barsky clipping of segment `a→b` to the square `[lo, hi]²`.
fn clip_segment(a: [f64; 2], b: [f64; 2], lo: f64, hi: f64) -> Option<ClippedSegment> {
    let d = [b[0] - a[0], b[1] - a[1]];
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for axis in 0..2 {
        for (p, q) in [(-d[axis], a[axis] - lo), (d[axis], hi - a[axis])] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    if r > t1 {
                        return None;
                    }
                    t0 = t0.max(r);
                } else {
                    if r < t0 {
                        return None;
                    }
                    t1 = t1.min(r);
                }
            }
        }
    }
    let at = |t: f64| [(a[0] + t * d[0]).clamp(lo, hi), (a[1] + t * d[1]).clamp(lo, hi)];
    Some(ClippedSegment {
        a: if t0 > 0.0 { at(t0) } else { a },
        b: if t1 < 1.0 { at(t1) } else { b },
        entered: t0 > 0.0,
        left: t1 < 1.0,
    })
}

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

#[inline]
fn command(id: u32, count: usize) -> u32 {
    (id & 0x7) | ((count as u32) << 3)
}

#[inline]
fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Writes MVT geometry commands; the cursor carries over between parts of a
/// feature, as the specification requires.
struct CommandWriter {
    out: Vec<u32>,
    cursor: [i32; 2],
}

impl CommandWriter {
    fn with_capacity(n: usize) -> Self {
        CommandWriter { out: Vec::with_capacity(n), cursor: [0, 0] }
    }

    #[inline]
    fn delta(&mut self, p: [i32; 2]) {
        self.out.push(zigzag(p[0] - self.cursor[0]));
        self.out.push(zigzag(p[1] - self.cursor[1]));
        self.cursor = p;
    }

    fn points(&mut self, pts: &[[i32; 2]]) {
        self.out.push(command(MOVE_TO, pts.len()));
        for &p in pts {
            self.delta(p);
        }
    }

    fn line(&mut self, pts: &[[i32; 2]]) {
        self.out.push(command(MOVE_TO, 1));
        self.delta(pts[0]);
        self.out.push(command(LINE_TO, pts.len() - 1));
        for &p in &pts[1..] {
            self.delta(p);
        }
    }

    fn ring(&mut self, pts: &[[i32; 2]]) {
        self.line(pts);
        self.out.push(command(CLOSE_PATH, 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic random walk of `n` steps from `start`.
    fn walk(n: usize, start: [f64; 2], step: f64) -> Vec<[f64; 2]> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut p = start;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(p);
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let a = (state % 6283) as f64 / 1000.0;
            p = [p[0] + step * a.cos(), p[1] + step * a.sin()];
        }
        out
    }

    #[test]
    fn cutting_far_runs_changes_no_segment_that_meets_the_square() {
        let (lo, hi) = (-100.0, 4196.0);
        for (start, step) in [([2000.0, 2000.0], 300.0), ([-9000.0, 100.0], 900.0), ([5000.0, 5000.0], 50.0)] {
            let line = walk(20_000, start, step);
            let mut cut = Vec::new();
            cut_far_runs(&line, lo, hi, &mut cut);
            assert_eq!(cut.first(), line.first());
            assert_eq!(cut.last(), line.last());
            assert!(cut.len() < line.len());
            let meeting = |l: &[[f64; 2]]| -> Vec<([f64; 2], [f64; 2])> {
                l.windows(2).filter_map(|w| clip_segment(w[0], w[1], lo, hi).map(|s| (s.a, s.b))).collect()
            };
            assert_eq!(meeting(&cut), meeting(&line));
        }
    }

    #[test]
    fn a_line_far_from_the_tile_is_cut_to_its_ends() {
        let line: Vec<[f64; 2]> = (0..1_000_000).map(|i| [-1e7 + (i % 7) as f64, i as f64]).collect();
        let mut cut = Vec::new();
        cut_far_runs(&line, 0.0, 4096.0, &mut cut);
        assert_eq!(cut, vec![line[0], line[line.len() - 1]]);
    }

    #[test]
    fn a_ring_with_far_runs_cut_gives_the_same_polygon() {
        // A ring that wanders far outside and back, with its wanders cut.
        let mut ring = walk(5_000, [2000.0, 2000.0], 400.0);
        ring.push(ring[0]);
        let g = geom_polygon(&[ring]);
        let space = TileSpace { extent: 4096, buffer: 64 };
        let mut cutting = Clipper::new(space);
        let mut whole = Clipper::new(space);
        whole.far_run_min_points = usize::MAX;
        for c in [&mut cutting, &mut whole] {
            c.set_tolerances(0.0, 0.0);
        }
        let encoded = cutting.clip_and_encode(&g);
        assert!(encoded.is_some());
        assert_eq!(encoded, whole.clip_and_encode(&g));
        // Lines too, at tolerance zero.
        let line = geom_line(&walk(20_000, [2000.0, 2000.0], 300.0));
        assert_eq!(cutting.clip_and_encode(&line), whole.clip_and_encode(&line));
    }

    fn geom_points(pts: &[[f64; 2]]) -> SourceGeometry {
        SourceGeometry { points: pts.to_vec(), ..Default::default() }
    }

    fn geom_line(pts: &[[f64; 2]]) -> SourceGeometry {
        SourceGeometry { line_coords: pts.to_vec(), line_ends: vec![pts.len()], ..Default::default() }
    }

    fn geom_polygon(rings: &[Vec<[f64; 2]>]) -> SourceGeometry {
        let mut g = SourceGeometry::default();
        for r in rings {
            g.ring_coords.extend_from_slice(r);
            g.ring_ends.push(g.ring_coords.len());
        }
        g.polygon_ends.push(g.ring_ends.len());
        g
    }

    /// Decodes commands back to parts, independently of the writer.
    fn decode(cmds: &[u32]) -> Vec<Vec<[i32; 2]>> {
        let mut parts = Vec::new();
        let (mut i, mut cur) = (0, [0i32, 0i32]);
        while i < cmds.len() {
            let (id, count) = (cmds[i] & 7, cmds[i] >> 3);
            i += 1;
            match id {
                1 => {
                    for _ in 0..count {
                        let dx = ((cmds[i] >> 1) as i32) ^ -((cmds[i] & 1) as i32);
                        let dy = ((cmds[i + 1] >> 1) as i32) ^ -((cmds[i + 1] & 1) as i32);
                        cur = [cur[0] + dx, cur[1] + dy];
                        parts.push(vec![cur]);
                        i += 2;
                    }
                }
                2 => {
                    for _ in 0..count {
                        let dx = ((cmds[i] >> 1) as i32) ^ -((cmds[i] & 1) as i32);
                        let dy = ((cmds[i + 1] >> 1) as i32) ^ -((cmds[i + 1] & 1) as i32);
                        cur = [cur[0] + dx, cur[1] + dy];
                        parts.last_mut().unwrap().push(cur);
                        i += 2;
                    }
                }
                7 => assert_eq!(count, 1),
                _ => panic!("bad command {id}"),
            }
        }
        parts
    }

    fn clipper() -> Clipper {
        Clipper::new(TileSpace { extent: 4096, buffer: 64 })
    }

    #[test]
    fn points_snap_then_clip_inclusively() {
        let mut c = clipper();
        let g = geom_points(&[[10.4, 10.6], [4160.4, 0.0], [4160.6, 0.0], [-64.5, 5.0], [10.2, 10.8]]);
        let e = c.clip_and_encode(&g).unwrap();
        assert_eq!(e.kind, GeomType::Point);
        // 4160.4 -> 4160 (on the edge, kept); 4160.6 -> 4161 (out); -64.5 -> -64 (even, kept);
        // the last point snaps onto the first and is dropped as a repeat.
        assert_eq!(decode(&e.commands), vec![vec![[10, 11]], vec![[4160, 0]], vec![[-64, 5]]]);
        assert_eq!(e.weight, 3.0);
        assert!(c.clip_and_encode(&geom_points(&[[5000.0, 0.0]])).is_none());
    }

    #[test]
    fn line_crossing_the_tile_is_cut_at_the_buffer() {
        let mut c = clipper();
        let e = c.clip_and_encode(&geom_line(&[[-1000.0, 100.0], [5000.0, 100.0]])).unwrap();
        assert_eq!(decode(&e.commands), vec![vec![[-64, 100], [4160, 100]]]);
        assert_eq!(e.weight, 4224.0);
    }

    #[test]
    fn line_leaving_and_reentering_becomes_two_parts() {
        let mut c = clipper();
        let g = geom_line(&[[100.0, 100.0], [100.0, -500.0], [200.0, -500.0], [200.0, 100.0]]);
        let e = c.clip_and_encode(&g).unwrap();
        assert_eq!(decode(&e.commands), vec![vec![[100, 100], [100, -64]], vec![[200, -64], [200, 100]]]);
    }

    #[test]
    fn line_drops_repeated_and_collinear_points_and_collapses() {
        let mut c = clipper();
        let g = geom_line(&[[0.0, 0.0], [0.2, 0.1], [5.0, 0.0], [10.0, 0.0], [10.0, 10.0]]);
        let e = c.clip_and_encode(&g).unwrap();
        assert_eq!(decode(&e.commands), vec![vec![[0, 0], [10, 0], [10, 10]]]);
        // A spike that turns back is not collinear in this sense and stays.
        let g = geom_line(&[[0.0, 0.0], [10.0, 0.0], [5.0, 0.0]]);
        assert_eq!(decode(&c.clip_and_encode(&g).unwrap().commands), vec![vec![[0, 0], [10, 0], [5, 0]]]);
        // Shorter than half a unit: nothing left.
        assert!(c.clip_and_encode(&geom_line(&[[1.1, 1.1], [1.3, 1.2]])).is_none());
    }

    #[test]
    fn polygon_shell_is_positive_and_hole_negative() {
        let mut c = clipper();
        // Shell given counter-clockwise on screen, hole clockwise: both must be flipped.
        let shell = vec![[0.0, 0.0], [0.0, 100.0], [100.0, 100.0], [100.0, 0.0], [0.0, 0.0]];
        let hole = vec![[20.0, 20.0], [80.0, 20.0], [80.0, 80.0], [20.0, 80.0], [20.0, 20.0]];
        let e = c.clip_and_encode(&geom_polygon(&[shell, hole])).unwrap();
        let parts = decode(&e.commands);
        assert_eq!(parts.len(), 2);
        assert!(signed_area2(&parts[0]) > 0);
        assert!(signed_area2(&parts[1]) < 0);
        assert_eq!(e.weight, 100.0 * 100.0 - 60.0 * 60.0);
    }

    #[test]
    fn polygon_covering_the_tile_becomes_the_clip_box() {
        let mut c = clipper();
        let shell = vec![[-1e7, -1e7], [1e7, -1e7], [1e7, 1e7], [-1e7, 1e7], [-1e7, -1e7]];
        let e = c.clip_and_encode(&geom_polygon(&[shell])).unwrap();
        assert_eq!(e.weight, 4224.0 * 4224.0);
        let parts = decode(&e.commands);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].len(), 4);
    }

    #[test]
    fn concave_polygon_split_by_the_box_gives_two_valid_parts() {
        // A "U" whose two arms reach into the tile from below; its base lies
        // outside. Sutherland–Hodgman joins the arms along the box edge with a
        // zero-width bridge, which the even-odd rebuild must remove.
        let mut c = clipper();
        let u = vec![
            [100.0, 1000.0],
            [300.0, 1000.0],
            [300.0, 9000.0],
            [700.0, 9000.0],
            [700.0, 1000.0],
            [900.0, 1000.0],
            [900.0, 10000.0],
            [100.0, 10000.0],
            [100.0, 1000.0],
        ];
        let e = c.clip_and_encode(&geom_polygon(&[u])).unwrap();
        let parts = decode(&e.commands);
        assert_eq!(parts.len(), 2, "{parts:?}");
        for p in &parts {
            assert!(signed_area2(p) > 0);
        }
        assert_eq!(e.weight, 2.0 * 200.0 * (4160.0 - 1000.0));
    }

    #[test]
    fn self_intersecting_bowtie_is_split() {
        let mut c = clipper();
        let bowtie = vec![[0.0, 0.0], [100.0, 100.0], [100.0, 0.0], [0.0, 100.0], [0.0, 0.0]];
        let e = c.clip_and_encode(&geom_polygon(&[bowtie])).unwrap();
        let parts = decode(&e.commands);
        assert_eq!(parts.len(), 2);
        assert_eq!(e.weight, 5000.0);
    }

    #[test]
    fn tiny_polygon_collapses() {
        let mut c = clipper();
        let tiny = vec![[1.1, 1.1], [1.3, 1.1], [1.3, 1.3], [1.1, 1.1]];
        assert!(c.clip_and_encode(&geom_polygon(&[tiny])).is_none());
    }

    #[test]
    fn polygon_outside_is_dropped() {
        let mut c = clipper();
        let far = vec![[5000.0, 5000.0], [6000.0, 5000.0], [6000.0, 6000.0], [5000.0, 5000.0]];
        assert!(c.clip_and_encode(&geom_polygon(&[far])).is_none());
    }

    #[test]
    fn zigzag_matches_spec() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        assert_eq!(command(MOVE_TO, 1), 9);
        assert_eq!(command(CLOSE_PATH, 1), 15);
    }
}
