//! Reading an archive file back, a row group at a time.

use parquet::basic::Type as PhysicalType;
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};

use crate::schema::{Column, ColumnValues as Decoded, Kind, Metadata, METADATA_KEY};
use crate::value::{RowDigest, Value};
use crate::write::Written;
use crate::{ArchiveError, Result};

/// One column of a row group: for each row the index of its value, or
/// `None` for NULL.
struct ColumnData {
    kind: Kind,
    values: Decoded,
    index: Vec<Option<u32>>,
}

/// The rows of one row group, decoded.
pub struct RowGroupRows {
    columns: Vec<ColumnData>,
    rows: usize,
}

impl RowGroupRows {
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Column `column`'s value in row `row`.
    pub fn value(&self, column: usize, row: usize) -> Value<'_> {
        let c = &self.columns[column];
        let Some(i) = c.index[row] else { return Value::Null };
        let i = i as usize;
        match (&c.values, c.kind) {
            (Decoded::Bool(v), _) => Value::Bool(v[i]),
            (Decoded::Int32(v), Kind::Date) => Value::Days(v[i]),
            (Decoded::Int32(v), Kind::Decimal { .. }) => Value::Decimal(i128::from(v[i])),
            (Decoded::Int32(v), _) => Value::Int(i64::from(v[i])),
            (Decoded::Int64(v), Kind::TimestampTz | Kind::Timestamp) => Value::Micros(v[i]),
            (Decoded::Int64(v), Kind::Decimal { .. }) => Value::Decimal(i128::from(v[i])),
            (Decoded::Int64(v), _) => Value::Int(v[i]),
            (Decoded::Float(v), _) => Value::Float(f64::from(v[i])),
            (Decoded::Double(v), _) => Value::Float(v[i]),
            (Decoded::Bytes(v), _) => Value::Bytes(v[i].data()),
            (Decoded::Fixed(v), _) => {
                // Big-endian two's complement of up to 16 bytes, sign-extended.
                let data = v[i].data();
                let fill = if data.first().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 };
                let mut bytes = [fill; 16];
                bytes[16 - data.len().min(16)..].copy_from_slice(&data[data.len().saturating_sub(16)..]);
                Value::Decimal(i128::from_be_bytes(bytes))
            }
        }
    }

    pub fn kind(&self, column: usize) -> Kind {
        self.columns[column].kind
    }

    /// Every value of every row, in file order, into `digest`.
    pub fn hash_into(&self, digest: &mut RowDigest) {
        for row in 0..self.rows {
            for column in 0..self.columns.len() {
                digest.value(&self.value(column, row));
            }
        }
    }

    /// Row `row` as a line of COPY text (tab-separated fields, no newline)
    /// of the columns at `positions`, appended to `line`.
    pub fn write_copy_line(&self, row: usize, positions: &[usize], line: &mut String, scratch: &mut String) {
        for (n, &c) in positions.iter().enumerate() {
            if n > 0 {
                line.push('\t');
            }
            self.value(c, row).write_copy_field(self.kind(c), line, scratch);
        }
    }
}

/// An archive file opened for reading: its columns from the gridkit
/// metadata, checked against the Parquet schema.
pub struct ArchiveReader<R: ChunkReader + 'static> {
    file: SerializedFileReader<R>,
    columns: Vec<Column>,
    properties: serde_json::Map<String, serde_json::Value>,
}

fn read_column<T: DataType>(
    mut reader: ColumnReaderImpl<T>,
    rows: usize,
    wrap: impl FnOnce(Vec<T::T>) -> Decoded,
) -> Result<(Vec<i16>, Decoded)> {
    let mut defs = Vec::with_capacity(rows);
    let mut values = Vec::with_capacity(rows);
    let mut read = 0;
    while read < rows {
        let (records, _, _) = reader.read_records(rows - read, Some(&mut defs), None, &mut values)?;
        if records == 0 {
            return Err(ArchiveError::Format(format!("a column ends after {read} of {rows} rows")));
        }
        read += records;
    }
    Ok((defs, wrap(values)))
}

impl<R: ChunkReader + 'static> ArchiveReader<R> {
    pub fn open(source: R) -> Result<ArchiveReader<R>> {
        let file = SerializedFileReader::new(source)?;
        let entry = file
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|e| e.key == METADATA_KEY))
            .and_then(|e| e.value.clone())
            .ok_or_else(|| ArchiveError::Format(format!("not a gridkit archive (no {METADATA_KEY} metadata)")))?;
        let metadata = Metadata::parse(&entry)?;
        let schema = file.metadata().file_metadata().schema_descr();
        if schema.num_columns() != metadata.columns.len() {
            return Err(ArchiveError::Format(format!(
                "the file has {} columns, its metadata names {}",
                schema.num_columns(),
                metadata.columns.len()
            )));
        }
        for (i, column) in metadata.columns.iter().enumerate() {
            let expected = column.parquet_type()?;
            let actual = schema.column(i);
            // Decimals rewritten by another writer (pyarrow stores them as
            // fixed-length bytes) read the same.
            let decimal_alike = matches!(column.kind, Kind::Decimal { .. })
                && matches!(
                    actual.physical_type(),
                    PhysicalType::INT32 | PhysicalType::INT64 | PhysicalType::FIXED_LEN_BYTE_ARRAY
                );
            if actual.name() != column.name
                || (actual.physical_type() != expected.get_physical_type() && !decimal_alike)
            {
                return Err(ArchiveError::Format(format!(
                    "column {} of the file is {} {:?}, its metadata says {} {:?}",
                    i + 1,
                    actual.name(),
                    actual.physical_type(),
                    column.name,
                    expected.get_physical_type()
                )));
            }
            if actual.physical_type() == PhysicalType::FIXED_LEN_BYTE_ARRAY && !(1..=16).contains(&actual.type_length())
            {
                return Err(ArchiveError::Format(format!(
                    "column {} has decimals of {} bytes",
                    column.name,
                    actual.type_length()
                )));
            }
        }
        Ok(ArchiveReader { file, columns: metadata.columns, properties: metadata.properties })
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The properties the writer stored beside the columns.
    pub fn properties(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.properties
    }

    pub fn rows(&self) -> u64 {
        self.file.metadata().file_metadata().num_rows().max(0) as u64
    }

    pub fn row_groups(&self) -> usize {
        self.file.num_row_groups()
    }

    pub fn read_group(&self, i: usize) -> Result<RowGroupRows> {
        let group = self.file.get_row_group(i)?;
        let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
        let mut columns = Vec::with_capacity(self.columns.len());
        for (j, column) in self.columns.iter().enumerate() {
            let (defs, values) = match group.get_column_reader(j)? {
                ColumnReader::BoolColumnReader(r) => read_column(r, rows, Decoded::Bool)?,
                ColumnReader::Int32ColumnReader(r) => read_column(r, rows, Decoded::Int32)?,
                ColumnReader::Int64ColumnReader(r) => read_column(r, rows, Decoded::Int64)?,
                ColumnReader::FloatColumnReader(r) => read_column(r, rows, Decoded::Float)?,
                ColumnReader::DoubleColumnReader(r) => read_column(r, rows, Decoded::Double)?,
                ColumnReader::ByteArrayColumnReader(r) => read_column(r, rows, Decoded::Bytes)?,
                ColumnReader::FixedLenByteArrayColumnReader(r) => read_column(r, rows, Decoded::Fixed)?,
                ColumnReader::Int96ColumnReader(_) => {
                    return Err(ArchiveError::Format(format!("column {} is INT96", column.name)))
                }
            };
            if defs.len() != rows {
                return Err(ArchiveError::Format(format!(
                    "column {} has {} levels for {rows} rows",
                    column.name,
                    defs.len()
                )));
            }
            let mut next = 0u32;
            let index: Vec<Option<u32>> = defs
                .iter()
                .map(|&d| {
                    (d > 0).then(|| {
                        next += 1;
                        next - 1
                    })
                })
                .collect();
            let count = values.len();
            if count != next as usize {
                return Err(ArchiveError::Format(format!(
                    "column {} has {count} values for {next} non-NULL rows",
                    column.name
                )));
            }
            columns.push(ColumnData { kind: column.kind, values, index });
        }
        Ok(RowGroupRows { columns, rows })
    }

    /// Every row decoded and hashed: what the file holds, to compare with
    /// what was written.
    pub fn verify(&self) -> Result<Written> {
        let mut digest = RowDigest::new();
        let mut rows = 0u64;
        for g in 0..self.row_groups() {
            let group = self.read_group(g)?;
            group.hash_into(&mut digest);
            rows += group.rows() as u64;
        }
        if rows != self.rows() {
            return Err(ArchiveError::Format(format!("the footer counts {} rows, the row groups {rows}", self.rows())));
        }
        Ok(Written { rows, checksum: digest.finish() })
    }

    /// Calls `each` with every row as COPY text (tab-separated fields, no
    /// newline) of the columns at `positions`, in file order.
    pub fn for_each_copy_line(&self, positions: &[usize], mut each: impl FnMut(&str) -> Result<()>) -> Result<()> {
        let (mut line, mut scratch) = (String::new(), String::new());
        for g in 0..self.row_groups() {
            let group = self.read_group(g)?;
            for row in 0..group.rows() {
                line.clear();
                group.write_copy_line(row, positions, &mut line, &mut scratch);
                each(&line)?;
            }
        }
        Ok(())
    }
}

/// A row as a JSON object of its columns.
pub fn write_json_row(columns: &[Column], group: &RowGroupRows, row: usize, out: &mut String, scratch: &mut String) {
    out.push('{');
    for (c, column) in columns.iter().enumerate() {
        if c > 0 {
            out.push(',');
        }
        crate::value::write_json_string(out, &column.name);
        out.push(':');
        group.value(c, row).write_json(column.kind, out, scratch);
    }
    out.push('}');
}
