//! Little-endian WKB for the shapes the demo writes.

fn header(out: &mut Vec<u8>, kind: u32) {
    out.push(1);
    out.extend_from_slice(&kind.to_le_bytes());
}

fn points(out: &mut Vec<u8>, pts: &[[f64; 2]]) {
    out.extend_from_slice(&(pts.len() as u32).to_le_bytes());
    for p in pts {
        out.extend_from_slice(&p[0].to_le_bytes());
        out.extend_from_slice(&p[1].to_le_bytes());
    }
}

pub fn linestring(pts: &[[f64; 2]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + 16 * pts.len());
    header(&mut out, 2);
    points(&mut out, pts);
    out
}

/// Polygons as lists of closed rings, shell first.
pub fn multipolygon(polygons: &[Vec<Vec<[f64; 2]>>]) -> Vec<u8> {
    let mut out = Vec::new();
    header(&mut out, 6);
    out.extend_from_slice(&(polygons.len() as u32).to_le_bytes());
    for rings in polygons {
        header(&mut out, 3);
        out.extend_from_slice(&(rings.len() as u32).to_le_bytes());
        for r in rings {
            points(&mut out, r);
        }
    }
    out
}
