//! Files written and read back: every kind, NULLs, several row groups,
//! damaged and foreign files.

use std::fs::File;

use gridkit_archive::{write_json_row, ArchiveError, ArchiveReader, ArchiveWriter, Column, Kind, Value, WriteOptions};

fn columns() -> Vec<Column> {
    vec![
        Column::new("at", "timestamp with time zone", Kind::TimestampTz),
        Column::new("local", "timestamp without time zone", Kind::Timestamp),
        Column::new("day", "date", Kind::Date),
        Column::new("flag", "boolean", Kind::Bool),
        Column::new("small", "smallint", Kind::Int16),
        Column::new("n", "integer", Kind::Int32),
        Column::new("big", "bigint", Kind::Int64),
        Column::new("r", "real", Kind::Float32),
        Column::new("x", "double precision", Kind::Float64),
        Column::new("price", "numeric(7,2)", Kind::Decimal { precision: 7, scale: 2 }),
        Column::new("mwh", "numeric(16,4)", Kind::Decimal { precision: 16, scale: 4 }),
        Column::new("huge", "numeric(38,10)", Kind::Decimal { precision: 38, scale: 10 }),
        Column::new("name", "text", Kind::Text),
        Column::new("doc", "jsonb", Kind::Json),
        Column::new("raw", "bytea", Kind::Bytes),
        Column::new("span", "interval", Kind::Text),
    ]
}

/// Row i: every eleventh value NULL, the others varied by i.
fn row(i: i64) -> Vec<Value<'static>> {
    let null = |c: i64| (i + c) % 11 == 0;
    let vals = vec![
        Value::Micros(1_796_688_000_000_000 + i * 60_000_000),
        Value::Micros(-i * 1_000_001),
        Value::Days(20_795 - i as i32),
        Value::Bool(i % 2 == 0),
        Value::Int(i % 30_000 - 15_000),
        Value::Int(i * 7 - 1_000_000),
        Value::Int(i * 1_000_000_007),
        Value::Float(f64::from(i as f32 / 3.0)),
        Value::Float(if i == 5 { f64::NAN } else { i as f64 / 7.0 }),
        Value::Decimal(i128::from(i) * 3 - 9_999_999),
        Value::Decimal(i128::from(i) * 123_456_789),
        Value::Decimal(-(i128::from(i) * 10i128.pow(30))),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
    ];
    vals.into_iter().enumerate().map(|(c, v)| if null(c as i64) { Value::Null } else { v }).collect()
}

fn name(i: i64) -> String {
    format!("node {i}\twith a tab, \u{e9}")
}

fn write(path: &std::path::Path, rows: i64, options: WriteOptions) -> gridkit_archive::Written {
    let file = File::create(path).unwrap();
    let mut props = serde_json::Map::new();
    props.insert("table".into(), "demo.observations".into());
    let mut w = ArchiveWriter::new(file, columns(), props, options).unwrap();
    for i in 0..rows {
        let mut vals = row(i);
        let text = name(i);
        let doc = format!("{{\"i\": {i}}}");
        let raw = [i as u8, 0, 255];
        if (i + 12) % 11 != 0 {
            vals[12] = Value::Bytes(text.as_bytes());
        }
        if (i + 13) % 11 != 0 {
            vals[13] = Value::Bytes(doc.as_bytes());
        }
        if (i + 14) % 11 != 0 {
            vals[14] = Value::Bytes(&raw);
        }
        if (i + 15) % 11 != 0 {
            vals[15] = Value::Bytes(b"1 day 02:00:00");
        }
        for v in vals {
            w.push(v).unwrap();
        }
    }
    let (file, written) = w.finish().unwrap();
    file.sync_all().unwrap();
    written
}

#[test]
fn rows_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.parquet");
    let written = write(&path, 10_000, WriteOptions { row_group_rows: 3_000, zstd_level: 3 });
    assert_eq!(written.rows, 10_000);

    let reader = ArchiveReader::open(File::open(&path).unwrap()).unwrap();
    assert_eq!(reader.columns(), columns().as_slice());
    assert_eq!(reader.properties()["table"], "demo.observations");
    assert_eq!(reader.rows(), 10_000);
    assert_eq!(reader.row_groups(), 4);
    assert_eq!(reader.verify().unwrap(), written);

    let mut i = 0i64;
    for g in 0..reader.row_groups() {
        let group = reader.read_group(g).unwrap();
        for r in 0..group.rows() {
            let expected = row(i);
            let text = name(i);
            for (c, &want) in expected.iter().enumerate().take(12) {
                let got = group.value(c, r);
                match (got, want) {
                    (Value::Float(a), Value::Float(b)) if a.is_nan() => assert!(b.is_nan()),
                    _ => assert_eq!(got, want, "row {i} column {c}"),
                }
            }
            let name = group.value(12, r);
            if (i + 12) % 11 == 0 {
                assert_eq!(name, Value::Null);
            } else {
                assert_eq!(name, Value::Bytes(text.as_bytes()));
            }
            i += 1;
        }
    }
    assert_eq!(i, 10_000);
}

#[test]
fn copy_lines_and_json_are_postgresql_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.parquet");
    write(&path, 3, WriteOptions::default());
    let reader = ArchiveReader::open(File::open(&path).unwrap()).unwrap();
    let mut lines = Vec::new();
    reader
        .for_each_copy_line(&[0, 2, 9, 12, 14], |l| {
            lines.push(l.to_string());
            Ok(())
        })
        .unwrap();
    // Row 0's time is NULL (every eleventh value is).
    assert_eq!(lines[0], "\\N\t2026-12-08\t-99999.99\tnode 0\\twith a tab, \u{e9}\t\\\\x0000ff");
    assert_eq!(lines[1], "2026-12-08 00:01:00+00\t2026-12-07\t-99999.96\tnode 1\\twith a tab, \u{e9}\t\\\\x0100ff");
    assert_eq!(lines.len(), 3);

    let group = reader.read_group(0).unwrap();
    let (mut out, mut scratch) = (String::new(), String::new());
    write_json_row(reader.columns(), &group, 1, &mut out, &mut scratch);
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["at"], "2026-12-08T00:01:00+00:00");
    assert_eq!(parsed["doc"]["i"], 1);
    assert_eq!(parsed["price"].to_string(), "-99999.96");
    assert_eq!(parsed["raw"], "\\x0100ff");
    assert_eq!(parsed["span"], "1 day 02:00:00");
}

#[test]
fn a_damaged_file_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.parquet");
    let written = write(&path, 5_000, WriteOptions::default());
    let mut bytes = std::fs::read(&path).unwrap();
    // A byte in the middle of the data pages.
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0x5a;
    std::fs::write(&path, &bytes).unwrap();
    let outcome = ArchiveReader::open(File::open(&path).unwrap()).and_then(|r| r.verify());
    if let Ok(w) = outcome {
        assert_ne!(w, written, "a flipped byte went unnoticed");
    }
    // A truncated file does not open.
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(ArchiveReader::open(File::open(&path).unwrap()).is_err());
}

#[test]
fn foreign_files_and_bad_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.parquet");
    std::fs::write(&path, b"PAR1 not really").unwrap();
    assert!(ArchiveReader::open(File::open(&path).unwrap()).is_err());

    let cols = vec![Column::new("p", "numeric(4,1)", Kind::Decimal { precision: 4, scale: 1 })];
    let mut w = ArchiveWriter::new(Vec::new(), cols, Default::default(), WriteOptions::default()).unwrap();
    assert!(w.push(Value::Decimal(9_999)).is_ok());
    let err = w.push(Value::Decimal(10_000)).unwrap_err();
    assert!(matches!(err, ArchiveError::Value(ref m) if m.contains("more than 4 digits")), "{err}");
    assert!(w.push(Value::Int(3)).is_err());

    let cols = vec![Column::new("t", "text", Kind::Text), Column::new("s", "smallint", Kind::Int16)];
    let mut w = ArchiveWriter::new(Vec::new(), cols, Default::default(), WriteOptions::default()).unwrap();
    assert!(w.push(Value::Bytes(&[0xff, 0xfe])).is_err());
    w.push(Value::Null).unwrap();
    assert!(w.push(Value::Int(40_000)).is_err());
    // An incomplete row is not a file.
    assert!(w.finish().is_err());
}

#[test]
fn an_empty_partition_is_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    let written = write(&path, 0, WriteOptions::default());
    let reader = ArchiveReader::open(File::open(&path).unwrap()).unwrap();
    assert_eq!(reader.rows(), 0);
    assert_eq!(reader.verify().unwrap(), written);
}
