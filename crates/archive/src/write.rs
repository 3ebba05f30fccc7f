//! Writing rows into an archive file, a row group at a time.

use std::io::Write;
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DoubleType, FixedLenByteArray, FixedLenByteArrayType, FloatType, Int32Type,
    Int64Type,
};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::schema::{message_type, Column, ColumnValues as Buffer, Kind, Metadata, METADATA_KEY};
use crate::value::{RowDigest, Value};
use crate::{ArchiveError, Result};

/// How a file is written.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Rows per row group: the unit readers skip by statistics and read in
    /// parallel. 128 Ki rows is about what DuckDB and Spark read best.
    pub row_group_rows: usize,
    /// zstd's level (1 to 22).
    pub zstd_level: i32,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions { row_group_rows: 128 * 1024, zstd_level: 3 }
    }
}

/// What a finished file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    /// [`RowDigest`] of the rows, as hex.
    pub checksum: String,
}

struct ColumnBuffer {
    column: Column,
    defs: Vec<i16>,
    values: Buffer,
}

impl ColumnBuffer {
    fn mismatch(&self, v: &Value) -> ArchiveError {
        ArchiveError::Value(format!("column \"{}\" ({}) cannot hold {v:?}", self.column.name, self.column.pg_type))
    }

    fn push(&mut self, v: &Value) -> Result<()> {
        if *v == Value::Null {
            self.defs.push(0);
            return Ok(());
        }
        let kind = self.column.kind;
        match (&mut self.values, *v, kind) {
            (Buffer::Bool(b), Value::Bool(x), _) => b.push(x),
            (Buffer::Int32(b), Value::Int(x), Kind::Int16) if i16::try_from(x).is_ok() => b.push(x as i32),
            (Buffer::Int32(b), Value::Int(x), Kind::Int32) if i32::try_from(x).is_ok() => b.push(x as i32),
            (Buffer::Int64(b), Value::Int(x), Kind::Int64) => b.push(x),
            (Buffer::Float(b), Value::Float(x), _) => b.push(x as f32),
            (Buffer::Double(b), Value::Float(x), _) => b.push(x),
            (Buffer::Int64(b), Value::Micros(x), Kind::TimestampTz | Kind::Timestamp) => b.push(x),
            (Buffer::Int32(b), Value::Days(x), Kind::Date) => b.push(x),
            (buffer, Value::Decimal(x), Kind::Decimal { precision, .. }) => {
                if x.unsigned_abs() >= 10u128.pow(u32::from(precision)) {
                    return Err(ArchiveError::Value(format!(
                        "column \"{}\": {x} has more than {precision} digits",
                        self.column.name
                    )));
                }
                match buffer {
                    Buffer::Int32(b) => b.push(x as i32),
                    Buffer::Int64(b) => b.push(x as i64),
                    Buffer::Fixed(b) => b.push(FixedLenByteArray::from(x.to_be_bytes().to_vec())),
                    _ => return Err(self.mismatch(v)),
                }
            }
            (Buffer::Bytes(b), Value::Bytes(x), Kind::Text | Kind::Json) => {
                if std::str::from_utf8(x).is_err() {
                    return Err(ArchiveError::Value(format!(
                        "column \"{}\" holds text that is not UTF-8",
                        self.column.name
                    )));
                }
                b.push(ByteArray::from(x.to_vec()))
            }
            (Buffer::Bytes(b), Value::Bytes(x), Kind::Bytes) => b.push(ByteArray::from(x.to_vec())),
            _ => return Err(self.mismatch(v)),
        }
        self.defs.push(1);
        Ok(())
    }
}

/// Writes rows, each value in column order, into a Parquet file: zstd
/// pages, statistics for every column, the gridkit metadata entry.
pub struct ArchiveWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    buffers: Vec<ColumnBuffer>,
    next_column: usize,
    rows_in_group: usize,
    rows: u64,
    digest: RowDigest,
    options: WriteOptions,
}

impl<W: Write + Send> ArchiveWriter<W> {
    /// `properties` go into the metadata entry beside the columns.
    pub fn new(
        sink: W,
        columns: Vec<Column>,
        properties: serde_json::Map<String, serde_json::Value>,
        options: WriteOptions,
    ) -> Result<ArchiveWriter<W>> {
        if columns.is_empty() {
            return Err(ArchiveError::Format("an archive needs at least one column".into()));
        }
        let schema = message_type(&columns)?;
        let metadata = Metadata { version: 1, columns: columns.clone(), properties };
        let metadata = serde_json::to_string(&metadata).map_err(|e| ArchiveError::Format(e.to_string()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(options.zstd_level)?))
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_created_by(format!("gridkit-archive {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![KeyValue::new(METADATA_KEY.to_string(), metadata)]))
            .build();
        let file = SerializedFileWriter::new(sink, schema, Arc::new(props))?;
        let buffers = columns
            .into_iter()
            .map(|column| ColumnBuffer { values: Buffer::for_kind(column.kind), defs: Vec::new(), column })
            .collect();
        Ok(ArchiveWriter {
            file,
            buffers,
            next_column: 0,
            rows_in_group: 0,
            rows: 0,
            digest: RowDigest::new(),
            options,
        })
    }

    pub fn columns(&self) -> impl Iterator<Item = &Column> {
        self.buffers.iter().map(|b| &b.column)
    }

    /// The next value of the row being written; the last column's value
    /// ends the row.
    pub fn push(&mut self, v: Value) -> Result<()> {
        self.buffers[self.next_column].push(&v)?;
        self.digest.value(&v);
        self.next_column += 1;
        if self.next_column == self.buffers.len() {
            self.next_column = 0;
            self.rows_in_group += 1;
            self.rows += 1;
            if self.rows_in_group == self.options.row_group_rows {
                self.flush_group()?;
            }
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<()> {
        if self.rows_in_group == 0 {
            return Ok(());
        }
        let mut group = self.file.next_row_group()?;
        for buffer in &mut self.buffers {
            let Some(mut column) = group.next_column()? else {
                return Err(ArchiveError::Format("the schema has fewer columns than the rows".into()));
            };
            let defs = Some(buffer.defs.as_slice());
            match &mut buffer.values {
                Buffer::Bool(v) => column.typed::<BoolType>().write_batch(v, defs, None)?,
                Buffer::Int32(v) => column.typed::<Int32Type>().write_batch(v, defs, None)?,
                Buffer::Int64(v) => column.typed::<Int64Type>().write_batch(v, defs, None)?,
                Buffer::Float(v) => column.typed::<FloatType>().write_batch(v, defs, None)?,
                Buffer::Double(v) => column.typed::<DoubleType>().write_batch(v, defs, None)?,
                Buffer::Bytes(v) => column.typed::<ByteArrayType>().write_batch(v, defs, None)?,
                Buffer::Fixed(v) => column.typed::<FixedLenByteArrayType>().write_batch(v, defs, None)?,
            };
            column.close()?;
            buffer.defs.clear();
            buffer.values = Buffer::for_kind(buffer.column.kind);
        }
        group.close()?;
        self.rows_in_group = 0;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the sink (for the
    /// caller to fsync) and what the file holds.
    pub fn finish(mut self) -> Result<(W, Written)> {
        if self.next_column != 0 {
            return Err(ArchiveError::Format("the last row is incomplete".into()));
        }
        self.flush_group()?;
        let sink = self.file.into_inner()?;
        Ok((sink, Written { rows: self.rows, checksum: self.digest.finish() }))
    }
}
