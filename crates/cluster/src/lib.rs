//! Point clustering for map tiles, free of PostgreSQL.
//!
//! [`Pyramid::build`] clusters points the way supercluster does: from the
//! deepest clustered zoom up to zoom 0, each level greedily merges the items
//! of the level below that lie within a radius given in screen pixels, so a
//! cluster at zoom z is a union of clusters and points at zoom z + 1 and
//! tiles agree across their seams. Two things go further than supercluster:
//!
//! - after the greedy pass, items still within the radius of each other are
//!   merged until none are (when the merged group has enough points), so no
//!   two clusters of a level ever lie closer than the radius;
//! - the leaves are numbered depth-first, so the members of every cluster are
//!   one contiguous range of that order: listing a cluster's members is a
//!   range scan, not a walk down the tree.
//!
//! [`aggregate`] computes per-cluster aggregates (count, sum, avg, min, max,
//! mode) bottom-up.

pub mod aggregate;
mod grid;
mod id;
pub mod points;
mod pyramid;
pub mod quadtree;

pub use id::ClusterId;
pub use pyramid::{Node, Pyramid, NO_PARENT};

/// Clustering parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Cluster radius in pixels.
    pub radius: f64,
    /// Pixels per tile side the radius refers to (MapLibre draws vector tiles
    /// 512 pixels wide; supercluster's default).
    pub extent: f64,
    /// The lowest zoom clustered (usually 0).
    pub min_zoom: u8,
    /// The deepest zoom clustered; above it points stand alone.
    pub max_zoom: u8,
    /// A group becomes a cluster only with at least this many points.
    pub min_points: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params { radius: 40.0, extent: 512.0, min_zoom: 0, max_zoom: 16, min_points: 2 }
    }
}

impl Params {
    /// The radius at `zoom` in world units (the world is the unit square).
    pub fn radius_at(&self, zoom: u8) -> f64 {
        self.radius / (self.extent * f64::from(1u32 << zoom))
    }
}

/// The highest `max_zoom` accepted: ids reserve 5 bits for the zoom.
pub const MAX_ZOOM_LIMIT: u8 = 24;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("min_zoom {min} is greater than max_zoom {max}")]
    ZoomOrder { min: u8, max: u8 },
    #[error("max_zoom {0} is out of range: it must be at most 24")]
    ZoomTooDeep(u8),
    #[error("radius must be a positive number of pixels, not {0}")]
    Radius(f64),
    #[error("point {0} has a coordinate that is NaN or infinite")]
    NonFinite(usize),
    #[error("{0} points are more than one pyramid can hold (at most 2^32 - 1)")]
    TooManyPoints(usize),
}

pub use gridkit_tilecoord::{mercator_to_world, world_to_mercator};

/// A deterministic uniform [0, 1) sequence (xorshift) for tests.
#[cfg(test)]
pub(crate) fn test_uniform(mut s: u64) -> impl FnMut() -> f64 {
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests;
