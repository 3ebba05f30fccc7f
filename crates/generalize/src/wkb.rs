//! Writes a [`Shape`] as little-endian WKB: a MultiLineString or a
//! MultiPolygon, so every row of a band has one geometry type per layer kind.

use crate::Shape;

const MULTILINESTRING: u32 = 5;
const MULTIPOLYGON: u32 = 6;
const LINESTRING: u32 = 2;
const POLYGON: u32 = 3;

fn header(out: &mut Vec<u8>, kind: u32, n: usize) {
    out.push(1);
    out.extend(kind.to_le_bytes());
    out.extend((n as u32).to_le_bytes());
}

fn points(out: &mut Vec<u8>, pts: &[[f64; 2]]) {
    out.extend((pts.len() as u32).to_le_bytes());
    for p in pts {
        out.extend(p[0].to_le_bytes());
        out.extend(p[1].to_le_bytes());
    }
}

/// Appends `shape` as WKB to `out` (polygons win when a shape has both).
pub fn write(shape: &Shape, out: &mut Vec<u8>) {
    if shape.polygons.is_empty() {
        header(out, MULTILINESTRING, shape.lines.len());
        for l in &shape.lines {
            out.push(1);
            out.extend(LINESTRING.to_le_bytes());
            points(out, l);
        }
    } else {
        header(out, MULTIPOLYGON, shape.polygons.len());
        for p in &shape.polygons {
            header(out, POLYGON, p.len());
            for r in p {
                points(out, r);
            }
        }
    }
}
