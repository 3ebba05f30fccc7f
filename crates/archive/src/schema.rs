//! Columns of an archive file: the PostgreSQL type each came from, the
//! kind of value it holds and the Parquet type that stores it.

use std::sync::Arc;

use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::schema::types::{Type, TypePtr};
use serde::{Deserialize, Serialize};

use crate::{ArchiveError, Result};

/// The key of the file metadata entry describing the columns (JSON).
pub const METADATA_KEY: &str = "gridkit.archive";

/// The most decimal digits Parquet's 16-byte decimals hold.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// What a column holds, and so how Parquet stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// `numeric(precision, scale)`: the value times 10^scale, exactly.
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// Microseconds from 1970-01-01 00:00 UTC.
    TimestampTz,
    /// Microseconds from 1970-01-01 00:00, no zone.
    Timestamp,
    /// Days from 1970-01-01.
    Date,
    /// UTF-8 text: text types, and the text form of types Parquet lacks.
    Text,
    /// A JSON document, as text.
    Json,
    Bytes,
}

impl Kind {
    /// A decimal kind when Parquet can hold every value of
    /// `numeric(precision, scale)`.
    pub fn decimal(precision: i32, scale: i32) -> Option<Kind> {
        let p = u8::try_from(precision).ok().filter(|p| (1..=MAX_DECIMAL_PRECISION).contains(p))?;
        let s = u8::try_from(scale).ok().filter(|s| *s <= p)?;
        Some(Kind::Decimal { precision: p, scale: s })
    }
}

/// One column: its name, its PostgreSQL type as `format_type` writes it
/// (what a restore casts the values back to) and its kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub pg_type: String,
    #[serde(flatten)]
    pub kind: Kind,
}

impl Column {
    pub fn new(name: impl Into<String>, pg_type: impl Into<String>, kind: Kind) -> Column {
        Column { name: name.into(), pg_type: pg_type.into(), kind }
    }

    pub(crate) fn parquet_type(&self) -> Result<TypePtr> {
        let (physical, logical) = match self.kind {
            Kind::Bool => (PhysicalType::BOOLEAN, None),
            Kind::Int16 => (PhysicalType::INT32, Some(LogicalType::integer(16, true))),
            Kind::Int32 => (PhysicalType::INT32, None),
            Kind::Int64 => (PhysicalType::INT64, None),
            Kind::Float32 => (PhysicalType::FLOAT, None),
            Kind::Float64 => (PhysicalType::DOUBLE, None),
            Kind::Decimal { precision, scale } => {
                (decimal_physical(precision), Some(LogicalType::decimal(i32::from(scale), i32::from(precision))))
            }
            Kind::TimestampTz => (PhysicalType::INT64, Some(LogicalType::timestamp(true, TimeUnit::MICROS))),
            Kind::Timestamp => (PhysicalType::INT64, Some(LogicalType::timestamp(false, TimeUnit::MICROS))),
            Kind::Date => (PhysicalType::INT32, Some(LogicalType::Date)),
            Kind::Text => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            Kind::Json => (PhysicalType::BYTE_ARRAY, Some(LogicalType::Json)),
            Kind::Bytes => (PhysicalType::BYTE_ARRAY, None),
        };
        let mut builder = Type::primitive_type_builder(&self.name, physical)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(logical);
        if let Kind::Decimal { precision, scale } = self.kind {
            builder = builder.with_precision(i32::from(precision)).with_scale(i32::from(scale));
            if physical == PhysicalType::FIXED_LEN_BYTE_ARRAY {
                builder = builder.with_length(16);
            }
        }
        Ok(Arc::new(builder.build()?))
    }
}

/// Decimals in the smallest integer that holds them, as the format asks.
pub(crate) fn decimal_physical(precision: u8) -> PhysicalType {
    match precision {
        0..=9 => PhysicalType::INT32,
        10..=18 => PhysicalType::INT64,
        _ => PhysicalType::FIXED_LEN_BYTE_ARRAY,
    }
}

/// One column's non-NULL values in a row group, in their physical type:
/// what a writer buffers and a reader decodes.
pub(crate) enum ColumnValues {
    Bool(Vec<bool>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
    Bytes(Vec<parquet::data_type::ByteArray>),
    Fixed(Vec<parquet::data_type::FixedLenByteArray>),
}

impl ColumnValues {
    /// Empty values of the physical type `kind` is written as.
    pub fn for_kind(kind: Kind) -> ColumnValues {
        match kind {
            Kind::Bool => ColumnValues::Bool(Vec::new()),
            Kind::Int16 | Kind::Int32 | Kind::Date => ColumnValues::Int32(Vec::new()),
            Kind::Int64 | Kind::TimestampTz | Kind::Timestamp => ColumnValues::Int64(Vec::new()),
            Kind::Float32 => ColumnValues::Float(Vec::new()),
            Kind::Float64 => ColumnValues::Double(Vec::new()),
            Kind::Decimal { precision, .. } => match decimal_physical(precision) {
                PhysicalType::INT32 => ColumnValues::Int32(Vec::new()),
                PhysicalType::INT64 => ColumnValues::Int64(Vec::new()),
                _ => ColumnValues::Fixed(Vec::new()),
            },
            Kind::Text | Kind::Json | Kind::Bytes => ColumnValues::Bytes(Vec::new()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ColumnValues::Bool(v) => v.len(),
            ColumnValues::Int32(v) => v.len(),
            ColumnValues::Int64(v) => v.len(),
            ColumnValues::Float(v) => v.len(),
            ColumnValues::Double(v) => v.len(),
            ColumnValues::Bytes(v) => v.len(),
            ColumnValues::Fixed(v) => v.len(),
        }
    }
}

pub(crate) fn message_type(columns: &[Column]) -> Result<TypePtr> {
    let fields = columns.iter().map(Column::parquet_type).collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Type::group_type_builder("gridkit_archive").with_fields(fields).build()?))
}

/// The metadata entry gridkit writes: the columns, and the caller's own
/// properties (table, range).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Metadata {
    pub version: u32,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

impl Metadata {
    pub fn parse(text: &str) -> Result<Metadata> {
        let m: Metadata = serde_json::from_str(text)
            .map_err(|e| ArchiveError::Format(format!("the {METADATA_KEY} metadata is not gridkit's: {e}")))?;
        if m.version != 1 {
            return Err(ArchiveError::Format(format!("archive format version {} is not known", m.version)));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_fit_parquet_or_are_refused() {
        assert_eq!(Kind::decimal(12, 3), Some(Kind::Decimal { precision: 12, scale: 3 }));
        assert_eq!(Kind::decimal(38, 0), Some(Kind::Decimal { precision: 38, scale: 0 }));
        assert_eq!(Kind::decimal(39, 2), None);
        // PostgreSQL 15 allows negative scales and scales above the precision.
        assert_eq!(Kind::decimal(5, -2), None);
        assert_eq!(Kind::decimal(2, 5), None);
        assert_eq!(decimal_physical(9), PhysicalType::INT32);
        assert_eq!(decimal_physical(18), PhysicalType::INT64);
        assert_eq!(decimal_physical(19), PhysicalType::FIXED_LEN_BYTE_ARRAY);
    }

    #[test]
    fn columns_serialize_with_their_kind() {
        let c = Column::new("price", "numeric(12,3)", Kind::Decimal { precision: 12, scale: 3 });
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"name":"price","pg_type":"numeric(12,3)","kind":"decimal","precision":12,"scale":3}"#);
        assert_eq!(serde_json::from_str::<Column>(&text).unwrap(), c);
    }
}
