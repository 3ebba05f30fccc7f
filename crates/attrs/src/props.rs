//! A compact binary form of a feature's attributes, for features stored
//! ready to tile (cluster pyramids): `(key, tag, value)` triples, keys being
//! the layer's attribute indexes. Decoding borrows strings from the buffer.

use crate::AttrValue;

const STRING: u8 = 0;
const FLOAT: u8 = 1;
const DOUBLE: u8 = 2;
const INT: u8 = 3;
const BOOL: u8 = 4;

/// Appends a string attribute given as bytes, not checked for UTF-8 here:
/// [`decode`] refuses the encoding if they are not (for a reader that
/// hands rows to another thread, which checks them there).
pub fn encode_string_bytes(key: u32, bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(key as u16).to_le_bytes());
    out.push(STRING);
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Appends `attrs` to `out`.
pub fn encode(attrs: &[(u32, AttrValue<'_>)], out: &mut Vec<u8>) {
    for (key, value) in attrs {
        if let AttrValue::String(s) = value {
            encode_string_bytes(*key, s.as_bytes(), out);
            continue;
        }
        out.extend_from_slice(&(*key as u16).to_le_bytes());
        match value {
            AttrValue::String(_) => unreachable!("written above"),
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

/// Calls `f` with the key and the bytes of each `(key, tag, value)` triple
/// of `bytes` as [`encode`] wrote them, without decoding the values.
/// Returns `false` if the bytes are malformed.
pub fn for_each_triple<'a>(mut bytes: &'a [u8], mut f: impl FnMut(u32, &'a [u8])) -> bool {
    while !bytes.is_empty() {
        let Some(head) = bytes.get(..3) else { return false };
        let len = match head[2] {
            STRING => match bytes.get(3..7) {
                Some(l) => 7 + u32::from_le_bytes(l.try_into().expect("4 bytes")) as usize,
                None => return false,
            },
            FLOAT => 7,
            DOUBLE | INT => 11,
            BOOL => 4,
            _ => return false,
        };
        let Some(triple) = bytes.get(..len) else { return false };
        f(u32::from(u16::from_le_bytes([head[0], head[1]])), triple);
        bytes = &bytes[len..];
    }
    true
}

/// Text in a tile must be UTF-8. Readers convert text to UTF-8 when the
/// database uses another encoding, and PostgreSQL validates stored text, so
/// this only guards against the impossible: it keeps the valid prefix.
pub fn valid_utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

/// Attributes from [`encode_string_bytes`] whose text is not all UTF-8
/// ([`decode`] refuses them), re-encoded with each text cut to its
/// [`valid_utf8_prefix`]. `None` if `encoded` is malformed otherwise.
pub fn repair_text(encoded: &[u8]) -> Option<Vec<u8>> {
    let mut repaired = Vec::with_capacity(encoded.len());
    let mut one = Vec::new();
    let well_formed = for_each_triple(encoded, |key, triple| {
        if decode(triple, &mut one) {
            repaired.extend_from_slice(triple);
        } else if let Some(text) = triple.get(7..) {
            // A string triple: key (2), tag (1), length (4), bytes.
            encode(&[(key, AttrValue::String(valid_utf8_prefix(text)))], &mut repaired);
        }
    });
    well_formed.then_some(repaired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchecked_strings_are_checked_when_decoded() {
        let mut buf = Vec::new();
        encode(&[(0, AttrValue::Int(3))], &mut buf);
        encode_string_bytes(1, "Genève".as_bytes(), &mut buf);
        let mut out = Vec::new();
        assert!(decode(&buf, &mut out));
        assert_eq!(out, vec![(0, AttrValue::Int(3)), (1, AttrValue::String("Genève"))]);
        let mut latin1 = buf.clone();
        encode_string_bytes(2, b"Gen\xe8ve", &mut latin1);
        let mut out = Vec::new();
        assert!(!decode(&latin1, &mut out), "Latin-1 bytes are not UTF-8");
        assert!(for_each_triple(&latin1, |_, _| {}), "yet the triples are well formed");
        let repaired = repair_text(&latin1).expect("well formed");
        assert!(decode(&repaired, &mut out));
        assert_eq!(out, vec![(0, AttrValue::Int(3)), (1, AttrValue::String("Genève")), (2, AttrValue::String("Gen"))]);
        assert_eq!(repair_text(&latin1[..latin1.len() - 1]), None, "cut short");
    }

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
        // Triples split where decoding would, each re-decoding alone.
        let mut triples = Vec::new();
        assert!(for_each_triple(&buf, |k, t| triples.push((k, t))));
        assert_eq!(triples.len(), attrs.len());
        for ((k, t), want) in triples.iter().zip(&attrs) {
            assert!(decode(t, &mut out));
            assert_eq!((*k, out[0]), (want.0, *want));
        }
        for cut in 0..buf.len() {
            let mut seen = 0;
            let ok = for_each_triple(&buf[..cut], |_, _| seen += 1);
            assert!(!ok || seen < attrs.len());
        }
        assert!(decode_some(&buf, |k| k == 2 || k == 8, &mut out));
        assert_eq!(out, vec![(2, AttrValue::Double(-2.25)), (8, AttrValue::String(""))]);
    }
}
