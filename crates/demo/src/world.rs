//! The demo's map of zones and ISOs.
//!
//! Each cell of a fine lon/lat lattice belongs to the nearest zone seed, with
//! coordinates warped by noise so borders wander like real ones. Zone and ISO
//! polygons are traced along cell edges. Every lattice vertex, and three points
//! along every lattice edge, are displaced by amounts that depend only on their
//! position in the lattice; both neighbours of a border therefore use the very
//! same coordinates, so zones form an exact coverage (no gaps, no overlaps) and
//! an ISO's outline is exactly the outline of its zones.
//!
//! The displacements are small enough to keep every polygon valid: a vertex
//! moves at most 0.18 cell per axis, and an edge point at most 0.08 cell (0.03
//! near the ends) across its edge. Edges that do not share a vertex therefore
//! stay at least 0.2 cell apart, and the first pieces of two edges leaving the
//! same vertex point more than 14° apart, so they cannot fold onto each other.

use std::collections::{HashMap, VecDeque};

use crate::places::{Seed, CONUS, ISOS, SEEDS};
use crate::wkb;

const LON0: f64 = -125.5;
const LAT0: f64 = 24.0;
const LON_SPAN: f64 = 59.5;
const LAT_SPAN: f64 = 26.0;
const VERTEX_JITTER: f64 = 0.18;
/// Where the points along an edge sit, and how far each may move across it.
const EDGE_POINTS: [(f64, f64); 3] = [(0.25, 0.03), (0.5, 0.08), (0.75, 0.03)];
/// Labelling works in square blocks of this many cells (see `World::new`).
const BLOCK: usize = 8;
/// An upper bound of how fast the noise warp moves with position (degrees per
/// degree), used to bound which seeds can win inside a block.
const WARP_LIPSCHITZ: f64 = 3.0;
/// Spacing in degrees of the grid the noise warp is sampled on.
const WARP_STEP: f64 = 0.05;

pub struct Lattice {
    pub cell: f64,
    pub w: usize,
    pub h: usize,
    /// Seed index + 1 per cell; 0 for water.
    labels: Vec<u16>,
    salt: u64,
}

/// A zone of one of the five ISOs.
pub struct Zone {
    pub id: i32,
    pub code: &'static str,
    pub iso: &'static str,
    /// Index into `SEEDS`.
    pub seed: usize,
}

pub struct World {
    pub lattice: Lattice,
    pub zones: Vec<Zone>,
    /// Zone id (1-based) per seed index, 0 for seeds outside the ISOs.
    zone_of_seed: Vec<i32>,
    /// ISO index (1-based) per seed index + 1 (label), 0 for none.
    iso_of_label: Vec<u16>,
    /// Cell bounding box (i0, j0, i1, j1), inclusive, per label.
    bbox_of_label: Vec<(usize, usize, usize, usize)>,
}

pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic number in [-1, 1) for a lattice position.
fn unit(salt: u64, a: i64, b: i64, c: u64) -> f64 {
    let h = splitmix(salt ^ splitmix((a as u64).wrapping_mul(0x1000_0000_01B3) ^ splitmix(b as u64 ^ c << 56)));
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn value_noise(salt: u64, x: f64, y: f64, octave: u64) -> f64 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let (i, j) = (x0 as i64, y0 as i64);
    let v = |di: i64, dj: i64| unit(salt, i + di, j + dj, octave);
    let top = v(0, 0) + (v(1, 0) - v(0, 0)) * sx;
    let bottom = v(0, 1) + (v(1, 1) - v(0, 1)) * sx;
    top + (bottom - top) * sy
}

fn fbm(salt: u64, x: f64, y: f64) -> f64 {
    (0..4).map(|o| value_noise(salt, x * f64::from(1 << o), y * f64::from(1 << o), o) / f64::from(1 << o)).sum::<f64>()
        / 1.875
}

/// For each lattice row, the x-intervals (in cell units) inside the CONUS outline.
fn land_intervals(y: f64) -> Vec<(f64, f64)> {
    let mut xs = Vec::new();
    for k in 0..CONUS.len() {
        let a = CONUS[k];
        let b = CONUS[(k + 1) % CONUS.len()];
        if (a[1] <= y) != (b[1] <= y) {
            xs.push(a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]));
        }
    }
    xs.sort_by(f64::total_cmp);
    xs.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

impl Lattice {
    fn label(&self, i: i64, j: i64) -> u16 {
        if i < 0 || j < 0 || i >= self.w as i64 || j >= self.h as i64 {
            0
        } else {
            self.labels[j as usize * self.w + i as usize]
        }
    }

    /// Position (lon, lat) of lattice vertex (i, j).
    pub fn vertex(&self, i: i64, j: i64) -> [f64; 2] {
        let jx = VERTEX_JITTER * unit(self.salt, i, j, 1);
        let jy = VERTEX_JITTER * unit(self.salt, i, j, 2);
        [LON0 + (i as f64 + jx) * self.cell, LAT0 + (j as f64 + jy) * self.cell]
    }

    /// Appends the displaced points along the lattice edge from `a` to the
    /// adjacent vertex `b`, without the ends. The points depend only on the
    /// edge, not on the direction it is walked in.
    fn edge_points(&self, a: (i64, i64), b: (i64, i64), out: &mut Vec<[f64; 2]>) {
        let reversed = a > b;
        let (lo, hi) = if reversed { (b, a) } else { (a, b) };
        let (p, q) = (self.vertex(lo.0, lo.1), self.vertex(hi.0, hi.1));
        let horizontal = lo.1 == hi.1;
        let start = out.len();
        for (k, &(t, jitter)) in EDGE_POINTS.iter().enumerate() {
            let s =
                jitter * self.cell * unit(self.salt, lo.0, lo.1, if horizontal { 3 + k as u64 } else { 6 + k as u64 });
            let mut m = [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])];
            if horizontal {
                m[1] += s;
            } else {
                m[0] += s;
            }
            out.push(m);
        }
        if reversed {
            out[start..].reverse();
        }
    }

    /// The outline of cell (i, j) as the traced polygons see it.
    fn cell_outline(&self, i: i64, j: i64) -> Vec<[f64; 2]> {
        let c = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
        let mut out = Vec::with_capacity(16);
        for k in 0..4 {
            out.push(self.vertex(c[k].0, c[k].1));
            self.edge_points(c[k], c[(k + 1) % 4], &mut out);
        }
        out
    }

    /// The label of the cell whose (displaced) outline contains the point.
    fn locate(&self, lon: f64, lat: f64) -> u16 {
        let (fx, fy) = ((lon - LON0) / self.cell, (lat - LAT0) / self.cell);
        let (i0, j0) = (fx.floor() as i64, fy.floor() as i64);
        for (di, dj) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, -1), (-1, 1), (1, 1)] {
            if point_in_ring(&self.cell_outline(i0 + di, j0 + dj), [lon, lat]) {
                return self.label(i0 + di, j0 + dj);
            }
        }
        self.label(i0, j0)
    }
}

pub fn point_in_ring(ring: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    let n = ring.len();
    for k in 0..n {
        let (a, b) = (ring[k], ring[(k + n - 1) % n]);
        if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
            inside = !inside;
        }
    }
    inside
}

impl World {
    /// Builds the map. `cell` is the lattice spacing in degrees; `salt`
    /// varies borders with the demo's seed.
    pub fn new(cell: f64, salt: u64) -> World {
        let w = (LON_SPAN / cell).ceil() as usize;
        let h = (LAT_SPAN / cell).ceil() as usize;
        let seeds: Vec<Seed> = SEEDS
            .iter()
            .enumerate()
            .map(|(k, s)| Seed {
                lon: s.lon + 0.15 * unit(salt, k as i64, 0, 9),
                lat: s.lat + 0.15 * unit(salt, k as i64, 1, 9),
                ..*s
            })
            .collect();
        let land: Vec<Vec<(f64, f64)>> = (0..h).map(|j| land_intervals(LAT0 + (j as f64 + 0.5) * cell)).collect();
        let center = |i: usize, j: usize| [LON0 + (i as f64 + 0.5) * cell, LAT0 + (j as f64 + 0.5) * cell];
        // The noise that moves cell centres is smooth (its finest octave has
        // a 0.4° wavelength), so it is sampled every WARP_STEP degrees and
        // interpolated, which keeps labelling cheap at any lattice spacing.
        let (gw, gh) = ((LON_SPAN / WARP_STEP) as usize + 2, (LAT_SPAN / WARP_STEP) as usize + 2);
        let grid: Vec<[f64; 2]> = (0..gw * gh)
            .map(|k| {
                let (x, y) = (LON0 + (k % gw) as f64 * WARP_STEP, LAT0 + (k / gw) as f64 * WARP_STEP);
                [1.1 * fbm(salt ^ 0x11, x * 0.3, y * 0.3), 0.9 * fbm(salt ^ 0x22, x * 0.3, y * 0.3)]
            })
            .collect();
        // A cell centre moved by noise, with the cosine that makes its
        // longitude distances comparable to latitude ones.
        let warp = |c: [f64; 2]| {
            let (fx, fy) = ((c[0] - LON0) / WARP_STEP, (c[1] - LAT0) / WARP_STEP);
            let (i, j) = ((fx as usize).min(gw - 2), (fy as usize).min(gh - 2));
            let (tx, ty) = (fx - i as f64, fy - j as f64);
            let g = |di: usize, dj: usize| grid[(j + dj) * gw + i + di];
            let mut d = [0.0; 2];
            for (a, v) in d.iter_mut().enumerate() {
                let top = g(0, 0)[a] + (g(1, 0)[a] - g(0, 0)[a]) * tx;
                let bottom = g(0, 1)[a] + (g(1, 1)[a] - g(0, 1)[a]) * tx;
                *v = top + (bottom - top) * ty;
            }
            [c[0] + d[0], c[1] + d[1], c[1].to_radians().cos()]
        };
        // Distance from a warped position to seed `s`, less the seed's bias.
        let score = |p: [f64; 3], s: &Seed| (((p[0] - s.lon) * p[2]).powi(2) + (p[1] - s.lat).powi(2)).sqrt() - s.bias;
        let mut labels = vec![0u16; w * h];
        // Within a block, a seed's score moves by at most `slack` from its
        // score at the block's centre, so only seeds within twice that of the
        // best can win anywhere in the block. The result is the same as
        // testing every seed in every cell.
        let slack = (BLOCK as f64 / 2.0) * cell * 2f64.sqrt() * (1.0 + WARP_LIPSCHITZ) + 0.05;
        let mut candidates = Vec::with_capacity(seeds.len());
        for bj in (0..h).step_by(BLOCK) {
            for bi in (0..w).step_by(BLOCK) {
                let c0 = warp(center(bi + BLOCK / 2, bj + BLOCK / 2));
                let scores: Vec<f64> = seeds.iter().map(|s| score(c0, s)).collect();
                let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
                candidates.clear();
                candidates.extend((0..seeds.len()).filter(|&k| scores[k] <= best + 2.0 * slack));
                for j in bj..(bj + BLOCK).min(h) {
                    for i in bi..(bi + BLOCK).min(w) {
                        let c = center(i, j);
                        if !land[j].iter().any(|&(a, b)| c[0] >= a && c[0] < b) {
                            continue;
                        }
                        let p = warp(c);
                        let mut win = (f64::INFINITY, 0usize);
                        for &k in &candidates {
                            let d = score(p, &seeds[k]);
                            if d < win.0 {
                                win = (d, k);
                            }
                        }
                        labels[j * w + i] = win.1 as u16 + 1;
                    }
                }
            }
        }

        let mut zones = Vec::new();
        let mut zone_of_seed = vec![0; SEEDS.len()];
        let mut iso_of_label = vec![0u16; SEEDS.len() + 1];
        for (k, s) in SEEDS.iter().enumerate() {
            if let Some(iso) = s.iso {
                zones.push(Zone { id: zones.len() as i32 + 1, code: s.code, iso, seed: k });
                zone_of_seed[k] = zones.len() as i32;
                iso_of_label[k + 1] = ISOS.iter().position(|x| x.1 == iso).unwrap() as u16 + 1;
            }
        }
        let mut lattice = Lattice { cell, w, h, labels, salt };
        clean(&mut lattice, &iso_of_label);
        let mut bbox_of_label = vec![(usize::MAX, usize::MAX, 0, 0); SEEDS.len() + 1];
        for (k, &l) in lattice.labels.iter().enumerate() {
            let (i, j) = (k % w, k / w);
            let b = &mut bbox_of_label[l as usize];
            *b = (b.0.min(i), b.1.min(j), b.2.max(i), b.3.max(j));
        }
        World { lattice, zones, zone_of_seed, iso_of_label, bbox_of_label }
    }

    /// (zone id, ISO code) at a point, or `None` outside the five ISOs.
    pub fn zone_at(&self, lon: f64, lat: f64) -> Option<(i32, &'static str)> {
        let label = self.lattice.locate(lon, lat);
        if label == 0 {
            return None;
        }
        let zone = self.zone_of_seed[label as usize - 1];
        (zone > 0).then(|| (zone, self.zones[zone as usize - 1].iso))
    }

    /// Whether a point is on land (in or out of the ISOs).
    pub fn on_land(&self, lon: f64, lat: f64) -> bool {
        self.lattice.locate(lon, lat) != 0
    }

    /// Polygon (WKB MultiPolygon) of zone `id`.
    pub fn zone_polygon(&self, id: i32) -> Vec<u8> {
        let label = self.zones[id as usize - 1].seed as u16 + 1;
        self.trace(|l| l == label)
    }

    /// Polygon (WKB MultiPolygon) of ISO `iso` (1-based index into `ISOS`).
    pub fn iso_polygon(&self, iso: u16) -> Vec<u8> {
        self.trace(|l| self.iso_of_label[l as usize] == iso)
    }

    /// Traces the region of cells whose label satisfies `inside`.
    fn trace(&self, inside: impl Fn(u16) -> bool) -> Vec<u8> {
        let lat = &self.lattice;
        let (mut i0, mut j0, mut i1, mut j1) = (usize::MAX, usize::MAX, 0, 0);
        // Label 0 is water, never part of a region.
        for (l, b) in self.bbox_of_label.iter().enumerate().skip(1) {
            if inside(l as u16) && b.0 != usize::MAX {
                (i0, j0, i1, j1) = (i0.min(b.0), j0.min(b.1), i1.max(b.2), j1.max(b.3));
            }
        }
        let is_in = |i: i64, j: i64| {
            let l = lat.label(i, j);
            l != 0 && inside(l)
        };
        // Directed edges with the region on their left: outer rings run
        // counter-clockwise, holes clockwise.
        let mut next: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
        for j in j0 as i64..=j1 as i64 {
            for i in i0 as i64..=i1 as i64 {
                if !is_in(i, j) {
                    continue;
                }
                if !is_in(i, j - 1) {
                    next.insert((i, j), (i + 1, j));
                }
                if !is_in(i + 1, j) {
                    next.insert((i + 1, j), (i + 1, j + 1));
                }
                if !is_in(i, j + 1) {
                    next.insert((i + 1, j + 1), (i, j + 1));
                }
                if !is_in(i - 1, j) {
                    next.insert((i, j + 1), (i, j));
                }
            }
        }
        let mut starts: Vec<(i64, i64)> = next.keys().copied().collect();
        starts.sort_unstable();
        let mut rings: Vec<Vec<[f64; 2]>> = Vec::new();
        for start in starts {
            if !next.contains_key(&start) {
                continue;
            }
            let mut ring = Vec::new();
            let mut v = start;
            while let Some(w) = next.remove(&v) {
                ring.push(lat.vertex(v.0, v.1));
                lat.edge_points(v, w, &mut ring);
                v = w;
            }
            debug_assert_eq!(v, start, "boundary must close");
            ring.push(ring[0]);
            rings.push(ring);
        }
        let (mut shells, holes): (Vec<_>, Vec<_>) = rings.into_iter().partition(|r| signed_area(r) > 0.0);
        let mut polygons: Vec<Vec<Vec<[f64; 2]>>> = shells.drain(..).map(|s| vec![s]).collect();
        for hole in holes {
            if let Some(p) = polygons.iter_mut().find(|p| point_in_ring(&p[0], hole[0])) {
                p.push(hole);
            }
        }
        wkb::multipolygon(&polygons)
    }
}

fn signed_area(ring: &[[f64; 2]]) -> f64 {
    ring.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum::<f64>() / 2.0
}

/// Makes the label map traceable: every zone one 4-connected piece, and no two
/// cells of a zone or of an ISO touching only at a corner (which would make a
/// ring touch itself).
fn clean(lat: &mut Lattice, iso_of_label: &[u16]) {
    for _ in 0..8 {
        let mut changed = merge_stray_pieces(lat);
        for class in [None, Some(iso_of_label)] {
            changed |= remove_pinches(lat, class);
        }
        if !changed {
            return;
        }
    }
}

fn remove_pinches(lat: &mut Lattice, class: Option<&[u16]>) -> bool {
    let cls = |l: u16| match class {
        None => l as u32,
        Some(map) => map[l as usize] as u32 + if map[l as usize] == 0 { 10_000 + l as u32 } else { 0 },
    };
    let (w, h) = (lat.w, lat.h);
    let mut changed = false;
    for j in 0..h.saturating_sub(1) {
        for i in 0..w - 1 {
            let (a, b) = (lat.labels[j * w + i], lat.labels[j * w + i + 1]);
            let (c, d) = (lat.labels[(j + 1) * w + i], lat.labels[(j + 1) * w + i + 1]);
            let (ca, cb, cc, cd) = (cls(a), cls(b), cls(c), cls(d));
            if ca == cd && cb != ca && cc != ca {
                lat.labels[j * w + i + 1] = a;
                changed = true;
            } else if cb == cc && ca != cb && cd != cb {
                lat.labels[j * w + i] = b;
                changed = true;
            }
        }
    }
    changed
}

/// Relabels every piece of a zone other than its largest to the label most
/// common around that piece.
fn merge_stray_pieces(lat: &mut Lattice) -> bool {
    let (w, h) = (lat.w, lat.h);
    let mut piece = vec![u32::MAX; w * h];
    let mut pieces: Vec<(u16, Vec<usize>)> = Vec::new();
    let mut queue = VecDeque::new();
    for start in 0..w * h {
        if piece[start] != u32::MAX || lat.labels[start] == 0 {
            continue;
        }
        let label = lat.labels[start];
        let id = pieces.len() as u32;
        let mut cells = Vec::new();
        piece[start] = id;
        queue.push_back(start);
        while let Some(c) = queue.pop_front() {
            cells.push(c);
            let (i, j) = (c % w, c / w);
            let mut visit = |n: usize| {
                if piece[n] == u32::MAX && lat.labels[n] == label {
                    piece[n] = id;
                    queue.push_back(n);
                }
            };
            if i > 0 {
                visit(c - 1);
            }
            if i + 1 < w {
                visit(c + 1);
            }
            if j > 0 {
                visit(c - w);
            }
            if j + 1 < h {
                visit(c + w);
            }
        }
        pieces.push((label, cells));
    }
    let mut largest: HashMap<u16, usize> = HashMap::new();
    for (k, (label, cells)) in pieces.iter().enumerate() {
        let e = largest.entry(*label).or_insert(k);
        if pieces[*e].1.len() < cells.len() {
            *e = k;
        }
    }
    let mut changed = false;
    for (k, (label, cells)) in pieces.iter().enumerate() {
        if largest[label] == k {
            continue;
        }
        let mut around: HashMap<u16, usize> = HashMap::new();
        for &c in cells {
            let (i, j) = (c % w, c / w);
            for n in [c.wrapping_sub(1), c + 1, c.wrapping_sub(w), c + w] {
                let valid = match n {
                    _ if n == c.wrapping_sub(1) => i > 0,
                    _ if n == c + 1 => i + 1 < w,
                    _ if n == c.wrapping_sub(w) => j > 0,
                    _ => j + 1 < h,
                };
                if valid && lat.labels[n] != *label {
                    *around.entry(lat.labels[n]).or_default() += 1;
                }
            }
        }
        let mut around: Vec<(u16, usize)> = around.into_iter().collect();
        around.sort_by_key(|&(l, n)| (std::cmp::Reverse(n), l));
        let new = around.first().map(|p| p.0).unwrap_or(0);
        for &c in cells {
            lat.labels[c] = new;
        }
        changed = true;
    }
    changed
}
