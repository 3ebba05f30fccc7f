//! gridkit's Mapbox Vector Tile encoder (MVT 2.1), free of PostgreSQL.
//!
//! A tile layer is built from rows of (id, WKB geometry, attributes):
//! [`LayerEncoder::add_wkb`] projects each geometry to tile space, clips it to
//! the tile plus buffer, snaps it to the integer grid, repairs polygons and
//! writes geometry commands; [`LayerEncoder::finish`] applies the tile budget
//! and returns the encoded bytes. Tiles with several layers are the
//! concatenation of single-layer tiles.

pub mod clip;
pub mod gserialized;
pub mod layer;
pub mod proto;
pub mod reader;
pub mod simplify;
pub mod tile;

pub use clip::{Clipper, EncodedGeometry};
pub use layer::{AttrKind, AttrValue, Budget, FinishedLayer, LayerBuilder};
pub use reader::SourceGeometry;
pub use tile::{SourceCrs, TileCoord, TileSpace, TileTransform};

/// Errors in the arguments of a tile request (the check the server makes too).
pub use gridkit_tilecoord::CoordError as Error;

/// Why one source geometry was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("malformed WKB: {0}")]
    Malformed(String),
    #[error("coordinate is NaN or infinite")]
    NonFiniteCoordinate,
    #[error("polygon ring has {0} points; at least 4 are needed")]
    RingTooShort(usize),
    #[error("linestring has a single point")]
    LineTooShort,
    #[error("{0} is not supported in vector tiles")]
    Unsupported(&'static str),
}

/// What happened to the rows offered to a layer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RowStats {
    /// Rows offered.
    pub rows: usize,
    /// Rows whose geometry was NULL or empty.
    pub empty: usize,
    /// Rows whose geometry could not be used (see [`GeometryError`]).
    pub invalid: usize,
    /// Rows whose geometry lies outside the tile or collapsed when snapped.
    pub outside: usize,
}

/// The budget rank of a feature whose attributes are `attrs`, ranked by the
/// numeric attribute `key`: its value (negated when not `descending`, so a
/// higher rank is always kept first), or -inf without a numeric value.
pub fn rank(attrs: &[(u32, AttrValue<'_>)], key: u32, descending: bool) -> f64 {
    let value = attrs.iter().find(|(k, _)| *k == key).and_then(|(_, v)| match *v {
        AttrValue::Int(n) => Some(n as f64),
        AttrValue::Float(f) => Some(f64::from(f)),
        AttrValue::Double(f) => Some(f),
        AttrValue::Bool(_) | AttrValue::String(_) => None,
    });
    match value {
        Some(v) if !v.is_nan() => {
            if descending {
                v
            } else {
                -v
            }
        }
        _ => f64::NEG_INFINITY,
    }
}

/// Encodes one layer of one tile from source rows.
pub struct LayerEncoder {
    transform: TileTransform,
    clipper: Clipper,
    builder: LayerBuilder,
    scratch: SourceGeometry,
    stats: RowStats,
    first_error: Option<GeometryError>,
    /// The attribute key features are ranked by, and whether higher values
    /// rank higher.
    rank: Option<(u32, bool)>,
    interrupt: Option<fn()>,
}

impl LayerEncoder {
    pub fn new(name: &str, tile: TileCoord, space: TileSpace, crs: SourceCrs, budget: Budget) -> Self {
        LayerEncoder {
            transform: TileTransform::new(tile, space, crs),
            clipper: Clipper::new(space),
            builder: LayerBuilder::new(name, space.extent, budget),
            scratch: SourceGeometry::default(),
            stats: RowStats::default(),
            first_error: None,
            rank: None,
            interrupt: None,
        }
    }

    /// Simplification tolerances in tile units (see [`Clipper::set_tolerances`]).
    pub fn set_tolerances(&mut self, line: f64, ring: f64) {
        self.clipper.set_tolerances(line, ring);
    }

    /// A function called now and then during the work on one large geometry
    /// (every [`simplify::INTERRUPT_EVERY`] positions read or steps of
    /// simplification), so a
    /// caller can stop a long tile: a database checks for a cancel or a
    /// statement timeout there (and may unwind from it).
    pub fn set_interrupt_check(&mut self, check: fn()) {
        self.interrupt = Some(check);
        self.clipper.set_interrupt_check(check);
    }

    /// Ranks features by the numeric attribute `key`: when the tile budget
    /// must drop features, the lowest values go first (the highest, when
    /// `descending` is false); features without a numeric value go before all.
    pub fn set_rank(&mut self, key: u32, descending: bool) {
        self.rank = Some((key, descending));
    }

    fn rank_of(&self, attrs: &[(u32, AttrValue<'_>)]) -> f64 {
        self.rank.map_or(0.0, |(key, descending)| rank(attrs, key, descending))
    }

    /// The index of attribute key `name` (see [`LayerBuilder::key`]).
    pub fn key(&mut self, name: &str) -> u32 {
        self.builder.key(name)
    }

    /// Adds one row. `wkb` is `None` for a NULL geometry. Negative ids cannot
    /// be MVT ids (which are unsigned); such features get no id, as with
    /// `ST_AsMVT`.
    pub fn add_wkb(&mut self, id: Option<i64>, wkb: Option<&[u8]>, attrs: &[(u32, AttrValue<'_>)]) {
        self.stats.rows += 1;
        let Some(wkb) = wkb else {
            self.stats.empty += 1;
            return;
        };
        if let Err(e) = reader::read_wkb_interruptible(wkb, &self.transform, &mut self.scratch, self.interrupt) {
            self.stats.invalid += 1;
            self.first_error.get_or_insert(e);
            return;
        }
        if self.scratch.dimension().is_none() {
            self.stats.empty += 1;
            return;
        }
        match self.clipper.clip_and_encode(&self.scratch) {
            Some(mut geometry) => {
                geometry.rank = self.rank_of(attrs);
                let id = id.and_then(|v| u64::try_from(v).ok());
                self.builder.push(id, geometry, attrs);
            }
            None => self.stats.outside += 1,
        }
    }

    /// Adds one point given in the source's coordinates, with the weight
    /// the tile budget ranks it by (a cluster's point count).
    pub fn add_point(&mut self, id: Option<i64>, x: f64, y: f64, weight: f64, attrs: &[(u32, AttrValue<'_>)]) {
        self.stats.rows += 1;
        if !(x.is_finite() && y.is_finite()) {
            self.stats.invalid += 1;
            self.first_error.get_or_insert(GeometryError::NonFiniteCoordinate);
            return;
        }
        self.scratch.clear();
        self.scratch.points.push(self.transform.apply(x, y));
        match self.clipper.clip_and_encode(&self.scratch) {
            Some(mut geometry) => {
                geometry.weight = weight;
                geometry.rank = self.rank_of(attrs);
                self.builder.push(id.and_then(|v| u64::try_from(v).ok()), geometry, attrs);
            }
            None => self.stats.outside += 1,
        }
    }

    pub fn stats(&self) -> RowStats {
        self.stats
    }

    /// The first reason a geometry was skipped, for messages.
    pub fn first_error(&self) -> Option<&GeometryError> {
        self.first_error.as_ref()
    }

    pub fn finish(self) -> FinishedLayer {
        self.builder.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static CHECKS: AtomicUsize = AtomicUsize::new(0);

    fn count_check() {
        CHECKS.fetch_add(1, Ordering::Relaxed);
    }

    /// A linestring of `n` points in WKB (little endian), waving across the
    /// world so every part of the work sees all of it.
    fn wave_wkb(n: usize) -> Vec<u8> {
        let mut wkb = vec![1u8, 2, 0, 0, 0];
        wkb.extend_from_slice(&(n as u32).to_le_bytes());
        for i in 0..n {
            let x = -170.0 + 340.0 * (i as f64 / n as f64);
            let y = 60.0 * (i as f64 * 1e-5).sin();
            wkb.extend_from_slice(&f64::to_le_bytes(x));
            wkb.extend_from_slice(&f64::to_le_bytes(y));
        }
        wkb
    }

    #[test]
    fn a_huge_geometry_checks_for_interrupts_while_it_is_read_and_simplified() {
        let n = 2 * simplify::INTERRUPT_EVERY + 1;
        let wkb = wave_wkb(n);
        let budget = Budget { max_features: 10, max_bytes: 10_000_000 };
        let space = TileSpace { extent: 4096, buffer: 64 };
        let mut encoder = LayerEncoder::new("huge", TileCoord::new(0, 0, 0).unwrap(), space, SourceCrs::LonLat, budget);
        encoder.set_interrupt_check(count_check);
        encoder.add_wkb(Some(1), Some(&wkb), &[]);
        // Reading calls it once per INTERRUPT_EVERY positions; cutting and
        // simplifying add their own.
        assert!(CHECKS.load(Ordering::Relaxed) >= 2, "{}", CHECKS.load(Ordering::Relaxed));
        assert_eq!(encoder.stats().invalid, 0);
    }
}
