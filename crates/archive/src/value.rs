//! One value of an archived row: what a writer is given and a reader
//! returns, its part in the row checksum, and its text forms (PostgreSQL's
//! COPY text format for restores, JSON for reading without one).

use std::fmt::Write;

use sha2::{Digest, Sha256};

use crate::civil;
use crate::schema::Kind;

/// `timestamptz` and `timestamp` infinities: PostgreSQL's own sentinels
/// (shifted to the Unix epoch they would overflow), kept as they are.
pub const INFINITY_MICROS: i64 = i64::MAX;
pub const NEG_INFINITY_MICROS: i64 = i64::MIN;
/// `date` infinities, likewise.
pub const INFINITY_DAYS: i32 = i32::MAX;
pub const NEG_INFINITY_DAYS: i32 = i32::MIN;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// Any integer column.
    Int(i64),
    /// Either float column (a `real` widened exactly).
    Float(f64),
    /// A decimal column's value times 10^scale.
    Decimal(i128),
    /// Timestamp columns: microseconds from 1970-01-01 00:00.
    Micros(i64),
    /// Date columns: days from 1970-01-01.
    Days(i32),
    /// Text, JSON and bytes columns.
    Bytes(&'a [u8]),
}

/// SHA-256 over the rows in order. Each value is its kind's tag and its
/// bytes (little-endian; byte strings length-prefixed), so no two different
/// rows hash the same bytes.
#[derive(Clone, Default)]
pub struct RowDigest {
    hash: Sha256,
}

impl RowDigest {
    pub fn new() -> RowDigest {
        RowDigest::default()
    }

    pub fn value(&mut self, v: &Value) {
        match *v {
            Value::Null => self.hash.update([0]),
            Value::Bool(b) => self.hash.update([1, u8::from(b)]),
            Value::Int(i) => {
                self.hash.update([2]);
                self.hash.update(i.to_le_bytes());
            }
            Value::Float(f) => {
                self.hash.update([3]);
                self.hash.update(f.to_bits().to_le_bytes());
            }
            Value::Decimal(d) => {
                self.hash.update([4]);
                self.hash.update(d.to_le_bytes());
            }
            Value::Micros(t) => {
                self.hash.update([5]);
                self.hash.update(t.to_le_bytes());
            }
            Value::Days(d) => {
                self.hash.update([6]);
                self.hash.update(d.to_le_bytes());
            }
            Value::Bytes(b) => {
                self.hash.update([7]);
                self.hash.update((b.len() as u64).to_le_bytes());
                self.hash.update(b);
            }
        }
    }

    /// The digest as 64 hex digits.
    pub fn finish(self) -> String {
        let mut out = String::with_capacity(64);
        for b in self.hash.finalize() {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

fn write_decimal(out: &mut String, v: i128, scale: u8) {
    let digits = v.unsigned_abs().to_string();
    if v < 0 {
        out.push('-');
    }
    let scale = usize::from(scale);
    if scale == 0 {
        out.push_str(&digits);
    } else if digits.len() > scale {
        out.push_str(&digits[..digits.len() - scale]);
        out.push('.');
        out.push_str(&digits[digits.len() - scale..]);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    }
}

/// A float as PostgreSQL reads it back bit for bit (shortest round trip;
/// a `real` printed as the f32 it is).
fn write_float(out: &mut String, f: f64, kind: Kind) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if kind == Kind::Float32 {
        let _ = write!(out, "{:?}", f as f32);
    } else {
        let _ = write!(out, "{f:?}");
    }
}

fn write_hex(out: &mut String, bytes: &[u8]) {
    out.push_str("\\x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

impl Value<'_> {
    /// The value in PostgreSQL's text form for a column of `kind`, as
    /// its input function reads it (`None` for NULL). `iso_t` writes
    /// timestamps with a `T` (ISO 8601, for JSON).
    fn write_text(&self, kind: Kind, out: &mut String, iso_t: bool) -> bool {
        match *self {
            Value::Null => return false,
            Value::Bool(b) => out.push_str(if b { "t" } else { "f" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => write_float(out, f, kind),
            Value::Decimal(d) => write_decimal(out, d, if let Kind::Decimal { scale, .. } = kind { scale } else { 0 }),
            Value::Micros(INFINITY_MICROS) => out.push_str("infinity"),
            Value::Micros(NEG_INFINITY_MICROS) => out.push_str("-infinity"),
            Value::Micros(t) => civil::write_timestamp(out, t, kind == Kind::TimestampTz, iso_t),
            Value::Days(INFINITY_DAYS) => out.push_str("infinity"),
            Value::Days(NEG_INFINITY_DAYS) => out.push_str("-infinity"),
            Value::Days(d) => civil::write_date(out, i64::from(d)),
            Value::Bytes(b) if kind == Kind::Bytes => write_hex(out, b),
            Value::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
        }
        true
    }

    /// The value as a field of PostgreSQL's COPY text format: `\N` for
    /// NULL, backslash, tab, newline and carriage return escaped.
    pub fn write_copy_field(&self, kind: Kind, out: &mut String, scratch: &mut String) {
        scratch.clear();
        if !self.write_text(kind, scratch, false) {
            out.push_str("\\N");
            return;
        }
        for c in scratch.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    }

    /// The value as JSON: numbers for numbers (NaN and infinities as
    /// strings, as `to_jsonb` writes them), JSON documents as they are,
    /// everything else a string in PostgreSQL's text form.
    pub fn write_json(&self, kind: Kind, out: &mut String, scratch: &mut String) {
        match *self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Int(_) | Value::Decimal(_) => {
                self.write_text(kind, out, false);
            }
            Value::Float(f) if f.is_finite() => write_float(out, f, kind),
            Value::Bytes(b) if kind == Kind::Json => out.push_str(&String::from_utf8_lossy(b)),
            _ => {
                scratch.clear();
                self.write_text(kind, scratch, true);
                write_json_string(out, scratch);
            }
        }
    }
}

pub(crate) fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(v: Value, kind: Kind) -> String {
        let (mut out, mut scratch) = (String::new(), String::new());
        v.write_copy_field(kind, &mut out, &mut scratch);
        out
    }

    fn json(v: Value, kind: Kind) -> String {
        let (mut out, mut scratch) = (String::new(), String::new());
        v.write_json(kind, &mut out, &mut scratch);
        out
    }

    #[test]
    fn decimals_print_with_their_scale() {
        let d = Kind::Decimal { precision: 12, scale: 3 };
        assert_eq!(copy(Value::Decimal(12_345), d), "12.345");
        assert_eq!(copy(Value::Decimal(-5), d), "-0.005");
        assert_eq!(copy(Value::Decimal(0), d), "0.000");
        assert_eq!(
            copy(
                Value::Decimal(-170_141_183_460_469_231_731_687_303_715_884_105_727),
                Kind::Decimal { precision: 38, scale: 0 }
            ),
            "-170141183460469231731687303715884105727"
        );
    }

    #[test]
    fn copy_fields_escape_what_copy_reads_specially() {
        assert_eq!(copy(Value::Null, Kind::Text), "\\N");
        assert_eq!(copy(Value::Bytes(b"a\tb\\c\nd\re"), Kind::Text), "a\\tb\\\\c\\nd\\re");
        // bytea's hex form, its backslash escaped for COPY.
        assert_eq!(copy(Value::Bytes(&[0, 255]), Kind::Bytes), "\\\\x00ff");
        assert_eq!(copy(Value::Float(f64::NEG_INFINITY), Kind::Float64), "-Infinity");
        assert_eq!(copy(Value::Float(f64::from(0.1f32)), Kind::Float32), "0.1");
        assert_eq!(copy(Value::Float(0.1), Kind::Float64), "0.1");
        assert_eq!(copy(Value::Micros(INFINITY_MICROS), Kind::TimestampTz), "infinity");
        assert_eq!(copy(Value::Days(0), Kind::Date), "1970-01-01");
    }

    #[test]
    fn json_keeps_numbers_and_documents() {
        assert_eq!(json(Value::Int(-3), Kind::Int32), "-3");
        assert_eq!(json(Value::Float(f64::NAN), Kind::Float64), "\"NaN\"");
        assert_eq!(json(Value::Float(1e300), Kind::Float64), "1e300");
        assert_eq!(json(Value::Bytes(br#"{"a": [1]}"#), Kind::Json), r#"{"a": [1]}"#);
        assert_eq!(json(Value::Bytes(b"say \"hi\"\n"), Kind::Text), r#""say \"hi\"\n""#);
        assert_eq!(json(Value::Micros(1_000_000), Kind::TimestampTz), r#""1970-01-01T00:00:01+00:00""#);
        assert_eq!(json(Value::Decimal(-15), Kind::Decimal { precision: 4, scale: 1 }), "-1.5");
    }

    #[test]
    fn different_rows_hash_differently() {
        let digest = |vals: &[Value]| {
            let mut d = RowDigest::new();
            vals.iter().for_each(|v| d.value(v));
            d.finish()
        };
        let a = digest(&[Value::Bytes(b"ab"), Value::Bytes(b"c")]);
        let b = digest(&[Value::Bytes(b"a"), Value::Bytes(b"bc")]);
        assert_ne!(a, b);
        assert_ne!(digest(&[Value::Null]), digest(&[Value::Int(0)]));
        assert_ne!(digest(&[Value::Int(1)]), digest(&[Value::Micros(1)]));
        assert_eq!(digest(&[]).len(), 64);
    }
}
