//! A compact binary form of a feature's attributes, for features stored
//! ready to tile (cluster pyramids): `(key, tag, value)` triples, keys being
//! the layer's attribute indexes. Decoding borrows strings from the buffer.

use crate::AttrValue;

const STRING: u8 = 0;
const FLOAT: u8 = 1;
const DOUBLE: u8 = 2;
const INT: u8 = 3;
const BOOL: u8 = 4;

/// Appends `attrs` to `out`.
pub fn encode(attrs: &[(u32, AttrValue<'_>)], out: &mut Vec<u8>) {
    for (key, value) in attrs {
        out.extend_from_slice(&(*key as u16).to_le_bytes());
        match value {
            AttrValue::String(s) => {
                out.push(STRING);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            AttrValue::Float(f) => {
                out.push(FLOAT);
                out.extend_from_slice(&f.to_le_bytes());
            }
            AttrValue::Double(d) => {
                out.push(DOUBLE);
                out.extend_from_slice(&d.to_le_bytes());
            }
            AttrValue::Int(i) => {
                out.push(INT);
                out.extend_from_slice(&i.to_le_bytes());
            }
            AttrValue::Bool(b) => {
                out.push(BOOL);
                out.push(u8::from(*b));
            }
        }
    }
}

/// Decodes what [`encode`] wrote into `out` (cleared first). Returns `false`
/// if the bytes are malformed (then `out` holds what came before the fault).
pub fn decode<'a>(bytes: &'a [u8], out: &mut Vec<(u32, AttrValue<'a>)>) -> bool {
    decode_some(bytes, |_| true, out)
}

/// Like [`decode`], for the keys `wanted` accepts only: the others are
/// skipped without being read (strings not even checked for UTF-8).
pub fn decode_some<'a>(mut bytes: &'a [u8], wanted: impl Fn(u32) -> bool, out: &mut Vec<(u32, AttrValue<'a>)>) -> bool {
    out.clear();
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Some(head)
    }
    while !bytes.is_empty() {
        let Some(head) = take(&mut bytes, 3) else { return false };
        let key = u32::from(u16::from_le_bytes([head[0], head[1]]));
        let keep = wanted(key);
        let value = match head[2] {
            STRING => {
                let Some(len) = take(&mut bytes, 4) else { return false };
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                let Some(raw) = take(&mut bytes, len) else { return false };
                if !keep {
                    continue;
                }
                let Ok(s) = std::str::from_utf8(raw) else { return false };
                AttrValue::String(s)
            }
            FLOAT => match take(&mut bytes, 4) {
                Some(b) => AttrValue::Float(f32::from_le_bytes(b.try_into().expect("4 bytes"))),
                None => return false,
            },
            DOUBLE => match take(&mut bytes, 8) {
                Some(b) => AttrValue::Double(f64::from_le_bytes(b.try_into().expect("8 bytes"))),
                None => return false,
            },
            INT => match take(&mut bytes, 8) {
                Some(b) => AttrValue::Int(i64::from_le_bytes(b.try_into().expect("8 bytes"))),
                None => return false,
            },
            BOOL => match take(&mut bytes, 1) {
                Some(b) => AttrValue::Bool(b[0] != 0),
                None => return false,
            },
            _ => return false,
        };
        if keep {
            out.push((key, value));
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let attrs = [
            (0, AttrValue::String("PJM – west")),
            (1, AttrValue::Float(1.5)),
            (2, AttrValue::Double(-2.25)),
            (3, AttrValue::Int(i64::MIN)),
            (7, AttrValue::Bool(true)),
            (8, AttrValue::String("")),
        ];
        let mut buf = Vec::new();
        encode(&attrs, &mut buf);
        let mut out = Vec::new();
        assert!(decode(&buf, &mut out));
        assert_eq!(out, attrs);
        // Truncated input is reported, never read past the end.
        for cut in 0..buf.len() {
            let ok = decode(&buf[..cut], &mut out);
            assert!(!ok || out.len() < attrs.len() || cut == buf.len());
        }
        assert!(!decode(&[0, 0, 9], &mut out));
        assert!(decode_some(&buf, |k| k == 2 || k == 8, &mut out));
        assert_eq!(out, vec![(2, AttrValue::Double(-2.25)), (8, AttrValue::String(""))]);
    }
}
