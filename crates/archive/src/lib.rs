//! The cold tier's file format: the rows of one partition of a gridkit
//! time-series table as one Parquet file.
//!
//! Columns keep their types where Parquet has them (integers, floats,
//! booleans, text, bytes, `numeric(p, s)` as DECIMAL with its scale,
//! `timestamptz` as a UTC-adjusted microsecond TIMESTAMP, `timestamp`
//! unadjusted, `date`, JSON), so any Parquet reader sees real values; any
//! other PostgreSQL type is stored as its text form. The file's key-value
//! metadata names every column's PostgreSQL type, so a restore puts each
//! value back through that type.
//!
//! A SHA-256 over the rows in file order ([`RowDigest`]) is computed while
//! writing and again from the decoded file, so a file is only trusted once
//! reading it back gives the same rows.

mod civil;
mod place;
mod read;
mod schema;
mod value;
mod write;

pub use civil::file_stamp;
pub use place::{file_name, file_part, numeric_typmod, relative_directory};
pub use read::{write_json_row, ArchiveReader, RowGroupRows};
pub use schema::{Column, Kind, METADATA_KEY};
pub use value::{RowDigest, Value, INFINITY_DAYS, INFINITY_MICROS, NEG_INFINITY_DAYS, NEG_INFINITY_MICROS};
pub use write::{ArchiveWriter, WriteOptions, Written};

/// What can go wrong reading or writing an archive file.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is Parquet but not one gridkit wrote, or not as it was written.
    #[error("{0}")]
    Format(String),
    /// A value does not fit its column (a NaN in a decimal column, a value
    /// of the wrong kind).
    #[error("{0}")]
    Value(String),
}

pub type Result<T> = std::result::Result<T, ArchiveError>;
