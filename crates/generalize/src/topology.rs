//! Polygon rings cut into arcs, each shared border stored once.
//!
//! Two rings share a border when they have the same vertices along it (as in
//! a valid PostGIS coverage, or any data set whose neighbours were cut from
//! one another). A vertex is a *junction* when it occurs in several rings with
//! different neighbours: where a border between two polygons meets a third.
//! Rings are cut at junctions; equal pieces (in either direction) become one
//! arc. Simplifying each arc once, with its end points fixed, then gives both
//! neighbours exactly the same border at every tolerance, which simplifying
//! each polygon on its own cannot.
//!
//! Junctions are found by sorting every ring vertex by its coordinates rather
//! than hashing: 24 bytes per vertex, so a coverage of ten million vertices
//! takes a quarter of a gigabyte for a moment, not several times that.

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// One use of an arc by a ring, in the arc's stored direction or reversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArcUse {
    pub arc: u32,
    pub reversed: bool,
}

/// Rings as sequences of arcs, and the arcs.
#[derive(Default, Debug)]
pub struct Arcs {
    pub coords: Vec<[f64; 2]>,
    /// End offset (exclusive) in `coords` of each arc.
    pub ends: Vec<usize>,
    /// How many ring uses each arc has (2 for a border between two rings).
    pub uses: Vec<u32>,
}

impl Arcs {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn arc(&self, i: u32) -> &[[f64; 2]] {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.coords[start..self.ends[i]]
    }

    /// Whether arc `i` is a loop (a whole ring with no junction, or a border
    /// from a junction back to itself).
    pub fn is_closed(&self, i: u32) -> bool {
        let a = self.arc(i);
        a.first() == a.last()
    }

    /// Arcs used by more than one ring: the shared borders.
    pub fn shared(&self) -> usize {
        self.uses.iter().filter(|&&u| u > 1).count()
    }
}

fn bits(p: [f64; 2]) -> [u64; 2] {
    // +0.0 and -0.0 are the same place.
    [(p[0] + 0.0).to_bits(), (p[1] + 0.0).to_bits()]
}

/// Builds the arcs of `rings` (each closed: first point = last point, at
/// least 4 points) and returns, per ring, its arcs in order.
pub fn build(rings: &[&[[f64; 2]]]) -> (Arcs, Vec<Vec<ArcUse>>) {
    let junction = find_junctions(rings);
    let mut arcs = Arcs::default();
    let mut index: HashTable<u32> = HashTable::new();
    let mut out = Vec::with_capacity(rings.len());
    let mut offset = 0usize;
    let mut piece: Vec<[f64; 2]> = Vec::new();
    for ring in rings {
        let n = ring.len() - 1; // distinct positions; ring[n] == ring[0]
        let is_junction = &junction[offset..offset + n];
        offset += n;
        let mut uses = Vec::new();
        let cuts: Vec<usize> = (0..n).filter(|&k| is_junction[k]).collect();
        if cuts.is_empty() {
            // A ring with no junction is one closed arc, started at its
            // smallest vertex so equal rings (an island and the hole it fills)
            // give equal arcs.
            let start = (0..n).min_by_key(|&k| bits(ring[k])).unwrap_or(0);
            piece.clear();
            piece.extend((0..=n).map(|k| ring[(start + k) % n]));
            uses.push(intern(&mut arcs, &mut index, &piece));
        } else {
            for (c, &from) in cuts.iter().enumerate() {
                let to = cuts.get(c + 1).copied().unwrap_or(cuts[0] + n);
                piece.clear();
                piece.extend((from..=to).map(|k| ring[k % n]));
                uses.push(intern(&mut arcs, &mut index, &piece));
            }
        }
        out.push(uses);
    }
    (arcs, out)
}

/// Marks, per ring vertex (rings concatenated, closing points left out),
/// whether it is a junction.
fn find_junctions(rings: &[&[[f64; 2]]]) -> Vec<bool> {
    let total: usize = rings.iter().map(|r| r.len() - 1).sum();
    // (position, flat vertex index)
    let mut order: Vec<([u64; 2], u32)> = Vec::with_capacity(total);
    let mut neighbours: Vec<([u64; 2], [u64; 2])> = Vec::with_capacity(total);
    for ring in rings {
        let n = ring.len() - 1;
        for k in 0..n {
            let prev = bits(ring[(k + n - 1) % n]);
            let next = bits(ring[(k + 1) % n]);
            order.push((bits(ring[k]), neighbours.len() as u32));
            neighbours.push(if prev <= next { (prev, next) } else { (next, prev) });
        }
    }
    order.sort_unstable();
    let mut junction = vec![false; total];
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && order[j].0 == order[i].0 {
            j += 1;
        }
        if j - i > 1 {
            let first = neighbours[order[i].1 as usize];
            if order[i + 1..j].iter().any(|o| neighbours[o.1 as usize] != first) {
                for o in &order[i..j] {
                    junction[o.1 as usize] = true;
                }
            }
        }
        i = j;
    }
    junction
}

/// The arc equal to `piece` (in either direction), added if new.
fn intern(arcs: &mut Arcs, index: &mut HashTable<u32>, piece: &[[f64; 2]]) -> ArcUse {
    // Store each arc in the direction whose vertex sequence is smaller, so
    // both neighbours find the same one.
    let forward_smaller = {
        let n = piece.len();
        let mut ord = std::cmp::Ordering::Equal;
        for k in 0..n {
            ord = bits(piece[k]).cmp(&bits(piece[n - 1 - k]));
            if ord != std::cmp::Ordering::Equal {
                break;
            }
        }
        ord != std::cmp::Ordering::Greater
    };
    let canonical = |k: usize| if forward_smaller { piece[k] } else { piece[piece.len() - 1 - k] };
    let hash = {
        let mut h = FxBuildHasher.build_hasher();
        for k in 0..piece.len() {
            let b = bits(canonical(k));
            h.write_u64(b[0]);
            h.write_u64(b[1]);
        }
        h.finish()
    };
    let coords = &arcs.coords;
    let ends = &arcs.ends;
    let stored = |i: u32| {
        let i = i as usize;
        let start = if i == 0 { 0 } else { ends[i - 1] };
        &coords[start..ends[i]]
    };
    let found = index.find(hash, |&i| {
        let a = stored(i);
        a.len() == piece.len() && (0..a.len()).all(|k| bits(a[k]) == bits(canonical(k)))
    });
    if let Some(&i) = found {
        arcs.uses[i as usize] += 1;
        return ArcUse { arc: i, reversed: !forward_smaller };
    }
    let i = arcs.ends.len() as u32;
    arcs.coords.extend((0..piece.len()).map(canonical));
    arcs.ends.push(arcs.coords.len());
    arcs.uses.push(1);
    let (coords, ends) = (&arcs.coords, &arcs.ends);
    index.insert_unique(hash, i, |&j| {
        let j = j as usize;
        let start = if j == 0 { 0 } else { ends[j - 1] };
        let mut h = FxBuildHasher.build_hasher();
        for p in &coords[start..ends[j]] {
            let b = bits(*p);
            h.write_u64(b[0]);
            h.write_u64(b[1]);
        }
        h.finish()
    });
    ArcUse { arc: i, reversed: !forward_smaller }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: f64, y: f64, s: f64) -> Vec<[f64; 2]> {
        vec![[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]]
    }

    fn ring_coords(arcs: &Arcs, uses: &[ArcUse]) -> Vec<[f64; 2]> {
        let mut out: Vec<[f64; 2]> = Vec::new();
        for u in uses {
            let mut a = arcs.arc(u.arc).to_vec();
            if u.reversed {
                a.reverse();
            }
            if !out.is_empty() {
                a.remove(0);
            }
            out.extend(a);
        }
        out
    }

    #[test]
    fn neighbours_share_one_arc() {
        // Two unit squares side by side, with an extra vertex on the shared
        // edge, wound the same way (so they run the shared edge in opposite
        // directions).
        let a = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        let b = vec![[1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [1.0, 1.0], [1.0, 0.5], [1.0, 0.0]];
        let (arcs, rings) = build(&[&a, &b]);
        assert_eq!(arcs.shared(), 1);
        let shared = arcs.uses.iter().position(|&u| u == 2).unwrap() as u32;
        assert_eq!(arcs.arc(shared).len(), 3);
        let ua = rings[0].iter().find(|u| u.arc == shared).unwrap();
        let ub = rings[1].iter().find(|u| u.arc == shared).unwrap();
        assert_ne!(ua.reversed, ub.reversed);
        // Reassembling gives each ring back (up to rotation).
        for (ring, uses) in [(&a, &rings[0]), (&b, &rings[1])] {
            let back = ring_coords(&arcs, uses);
            assert_eq!(back.len(), ring.len());
            assert_eq!(back.first(), back.last());
            for p in &back {
                assert!(ring.contains(p));
            }
        }
    }

    #[test]
    fn an_island_and_its_hole_are_one_closed_arc() {
        let hole = square(1.0, 1.0, 1.0);
        // The same ring, the other way round, from another vertex.
        let island = vec![[2.0, 1.0], [1.0, 1.0], [1.0, 2.0], [2.0, 2.0], [2.0, 1.0]];
        let outer = square(0.0, 0.0, 4.0);
        let (arcs, rings) = build(&[&outer, &hole, &island]);
        assert_eq!(arcs.len(), 2);
        assert_eq!(rings[1][0].arc, rings[2][0].arc);
        assert!(arcs.is_closed(rings[1][0].arc));
    }

    #[test]
    fn three_way_corner_is_a_junction() {
        // Three squares meeting: a | b on top, c below both.
        let a = square(0.0, 1.0, 1.0);
        let b = square(1.0, 1.0, 1.0);
        let c = vec![[0.0, 0.0], [2.0, 0.0], [2.0, 1.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        let (arcs, rings) = build(&[&a, &b, &c]);
        // Borders a|b, a|c, b|c are shared; each ring's outer part is its own.
        assert_eq!(arcs.shared(), 3);
        assert!(rings.iter().all(|r| r.len() >= 2));
    }
}
