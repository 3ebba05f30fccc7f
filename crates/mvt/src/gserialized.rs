//! Points read straight from PostGIS's stored form of a geometry
//! (`GSERIALIZED`), without `ST_AsBinary`.
//!
//! A pyramid build reads a million points; asking PostGIS for each one's
//! WKB costs a function call, an allocation and a copy per row (about a
//! fifth of the read). A point's stored form is a small fixed layout,
//! described in PostGIS's `liblwgeom/gserialized.txt`: after the varlena
//! header, 3 bytes of SRID and a flags byte; in version 2 (PostGIS 3)
//! optionally 8 bytes of extended flags; optionally a bounding box of
//! floats; then the geometry as `u32` type, `u32` point count and the
//! coordinates as doubles, all in the machine's byte order. Version 1
//! (PostGIS 2, still read by PostGIS 3) has no extended flags.

const FLAG_Z: u8 = 0x01;
const FLAG_M: u8 = 0x02;
const FLAG_BBOX: u8 = 0x04;
const FLAG_GEODETIC: u8 = 0x08;
/// Version 2 only: 8 bytes of extended flags follow the header.
const FLAG_EXTENDED: u8 = 0x10;
/// Set in version 2; version 1 used the bit for "solid" (never on a point).
const FLAG_VERSION_2: u8 = 0x40;
const POINT_TYPE: u32 = 1;

/// The x and y of a stored point geometry (`bytes`: the datum's data after
/// the varlena header). `None` for any other type, an empty point, a
/// non-finite coordinate or bytes too short for what their flags say.
pub fn point(bytes: &[u8]) -> Option<[f64; 2]> {
    let flags = *bytes.get(3)?;
    let mut at = 4;
    if flags & FLAG_VERSION_2 != 0 && flags & FLAG_EXTENDED != 0 {
        at += 8;
    }
    if flags & FLAG_BBOX != 0 {
        let dims = if flags & FLAG_GEODETIC != 0 {
            3
        } else {
            2 + usize::from(flags & FLAG_Z != 0) + usize::from(flags & FLAG_M != 0)
        };
        at += 2 * dims * 4;
    }
    let word = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")));
    let double = |at: usize| bytes.get(at..at + 8).map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")));
    if word(at)? != POINT_TYPE || word(at + 4)? != 1 {
        return None;
    }
    let (x, y) = (double(at + 8)?, double(at + 16)?);
    (x.is_finite() && y.is_finite()).then_some([x, y])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored geometry: SRID 4326, `flags`, `extra` bytes (extended flags
    /// and box), then type, count and coordinates.
    fn stored(flags: u8, extra: &[u8], kind: u32, coords: &[f64]) -> Vec<u8> {
        let mut b = vec![0x00, 0x10, 0xE6, flags];
        b.extend_from_slice(extra);
        b.extend_from_slice(&kind.to_ne_bytes());
        let points = if coords.is_empty() { 0u32 } else { 1 };
        b.extend_from_slice(&points.to_ne_bytes());
        for c in coords {
            b.extend_from_slice(&c.to_ne_bytes());
        }
        b
    }

    #[test]
    fn points_of_both_versions_with_any_dimensions() {
        let v2 = FLAG_VERSION_2;
        assert_eq!(point(&stored(v2, &[], 1, &[-77.5, 39.0])), Some([-77.5, 39.0]));
        assert_eq!(point(&stored(0, &[], 1, &[-77.5, 39.0])), Some([-77.5, 39.0]), "version 1");
        assert_eq!(point(&stored(v2 | FLAG_Z, &[], 1, &[1.0, 2.0, 3.0])), Some([1.0, 2.0]));
        assert_eq!(point(&stored(v2 | FLAG_Z | FLAG_M, &[], 1, &[1.0, 2.0, 3.0, 4.0])), Some([1.0, 2.0]));
        // Extended flags, and a box of 2 × 3 floats for XYM.
        assert_eq!(point(&stored(v2 | FLAG_EXTENDED, &[0; 8], 1, &[5.0, 6.0])), Some([5.0, 6.0]));
        assert_eq!(point(&stored(v2 | FLAG_BBOX | FLAG_M, &[0; 24], 1, &[5.0, 6.0, 7.0])), Some([5.0, 6.0]));
        assert_eq!(point(&stored(FLAG_BBOX | FLAG_GEODETIC, &[0; 24], 1, &[5.0, 6.0])), Some([5.0, 6.0]));
        // In version 1 the bit of extended flags meant read-only: no extra bytes.
        assert_eq!(point(&stored(FLAG_EXTENDED, &[], 1, &[5.0, 6.0])), Some([5.0, 6.0]));
    }

    #[test]
    fn everything_else_is_none() {
        let v2 = FLAG_VERSION_2;
        assert_eq!(point(&stored(v2, &[], 1, &[])), None, "empty point");
        assert_eq!(point(&stored(v2, &[], 4, &[1.0, 2.0])), None, "multipoint");
        assert_eq!(point(&stored(v2, &[], 1, &[f64::NAN, 2.0])), None);
        let whole = stored(v2, &[], 1, &[1.0, 2.0]);
        for cut in 0..whole.len() {
            assert_eq!(point(&whole[..cut]), None, "cut at {cut}");
        }
        // A box the flags announce but the bytes lack.
        assert_eq!(point(&stored(v2 | FLAG_BBOX, &[], 1, &[1.0, 2.0])), None);
    }
}
