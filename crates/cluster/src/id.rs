//! Cluster ids as tiles carry them.
//!
//! An id packs the pyramid's build number (16 bits), the cluster's first leaf
//! (32 bits) and the zoom that made it (5 bits): 53 bits, so the id survives
//! JavaScript's numbers. From an id alone we know the cluster's zoom, where its
//! members start, and whether it belongs to the pyramid serving now.

/// A cluster's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterId {
    /// The build number modulo 2^16.
    pub build: u16,
    pub leaf_lo: u32,
    pub zoom: u8,
}

impl ClusterId {
    pub fn new(build: i64, leaf_lo: u32, zoom: u8) -> ClusterId {
        ClusterId { build: (build & 0xffff) as u16, leaf_lo, zoom: zoom & 0x1f }
    }

    pub fn to_i64(self) -> i64 {
        (i64::from(self.build) << 37) | (i64::from(self.leaf_lo) << 5) | i64::from(self.zoom)
    }

    /// `None` for a number no cluster id can be.
    pub fn from_i64(id: i64) -> Option<ClusterId> {
        if !(0..1 << 53).contains(&id) {
            return None;
        }
        Some(ClusterId { build: (id >> 37) as u16, leaf_lo: ((id >> 5) & 0xffff_ffff) as u32, zoom: (id & 0x1f) as u8 })
    }

    pub fn belongs_to_build(self, build: i64) -> bool {
        self.build == (build & 0xffff) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_within_53_bits() {
        for (b, l, z) in [(0, 0, 0), (1, 5, 9), (65535, u32::MAX, 20), (70000, 12345, 3)] {
            let id = ClusterId::new(b, l, z);
            let n = id.to_i64();
            assert!(n < 1 << 53);
            assert_eq!(ClusterId::from_i64(n), Some(id));
            assert!(id.belongs_to_build(b));
        }
        assert!(!ClusterId::new(1, 0, 0).belongs_to_build(2));
        assert_eq!(ClusterId::from_i64(-1), None);
        assert_eq!(ClusterId::from_i64(1 << 53), None);
    }
}
