//! The cold tier (sql/archive.sql over `crates/archive`): a partition's
//! rows written to a Parquet file before retention drops it, read back
//! without restoring, and restored into a partition again.
//!
//! Files live under `gridkit.archive_directory`, which only a superuser
//! sets; a table names a directory inside it, checked component by
//! component and again after symbolic links are resolved, so no caller
//! writes or reads anywhere else. A file is written under a temporary name,
//! fsynced, read back and compared (rows and row checksum), renamed and
//! fsynced into its directory, and only then listed in `gridkit.archives`,
//! in the transaction that drops the partition (archive_files.rs undoes the
//! file if it aborts).

use std::fs::{DirBuilder, File};
use std::io::BufWriter;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use gridkit_archive::{ArchiveReader, ArchiveWriter, Column, Kind, RowDigest, Value, WriteOptions, Written};
use gridkit_sqltext::quote_ident;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

use crate::access::{has_privileges_of, relation_owner, require_owner_rights, AsRole};
use crate::error::*;
use crate::pg::rows::{for_each_row_while, varlena_bytes, Col, Plan, Planning};
use crate::timeseries::archive_files;

/// Advisory lock class of the archive steps (the key's second half is the
/// step): each step takes its lock shared, so an administrator holding one
/// exclusively stops archiving just before that step (the crash tests do).
const STEP_LOCK_CLASS: i32 = 1_735_287_157;
/// Steps: the temporary file is written and fsynced; it is verified and
/// renamed; it is listed in the catalog (the partition is dropped next).
const STEP_WRITTEN: i32 = 1;
const STEP_RENAMED: i32 = 2;
const STEP_LISTED: i32 = 3;

/// PostgreSQL's timestamps count from 2000-01-01; Parquet's from 1970.
const UNIX_EPOCH_SHIFT_MICROS: i64 = 946_684_800_000_000;
const UNIX_EPOCH_SHIFT_DAYS: i32 = 10_957;
const DAY_MICROS: i64 = 86_400_000_000;

fn step_lock(client: &SpiClient<'_>, step: i32) -> SqlResult<()> {
    client.select(
        "SELECT pg_catalog.pg_advisory_xact_lock_shared($1, $2)",
        None,
        &[STEP_LOCK_CLASS.into(), step.into()],
    )?;
    Ok(())
}

fn archive_error(e: gridkit_archive::ArchiveError) -> SqlError {
    match e {
        gridkit_archive::ArchiveError::Value(m) => SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, m),
        gridkit_archive::ArchiveError::Io(e) => SqlError::new(ERRCODE_IO_ERROR, format!("archive file: {e}")),
        e => SqlError::new(ERRCODE_DATA_CORRUPTED, format!("archive file: {e}")),
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> SqlError {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => ERRCODE_UNDEFINED_FILE,
        std::io::ErrorKind::PermissionDenied => ERRCODE_INSUFFICIENT_PRIVILEGE,
        _ => ERRCODE_IO_ERROR,
    };
    SqlError::new(code, format!("could not {what} \"{}\": {e}", path.display()))
}

/// The archive root, resolved: set, absolute, an existing directory.
fn root() -> SqlResult<PathBuf> {
    let unset = || {
        SqlError::new(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "gridkit.archive_directory is not set")
            .hint("A superuser sets it (ALTER SYSTEM SET gridkit.archive_directory = '/var/lib/gridkit/archive'; SELECT pg_reload_conf();) to a directory the server may write.")
    };
    let setting = crate::gucs::ARCHIVE_DIRECTORY.get().ok_or_else(unset)?;
    let setting = setting.to_string_lossy().into_owned();
    if setting.is_empty() {
        return Err(unset());
    }
    let path = PathBuf::from(&setting);
    if !path.is_absolute() {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("gridkit.archive_directory must be an absolute path, not \"{setting}\""),
        ));
    }
    let resolved = path.canonicalize().map_err(|e| io_error("open archive directory", &path, e))?;
    if !resolved.is_dir() {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("gridkit.archive_directory \"{setting}\" is not a directory"),
        ));
    }
    Ok(resolved)
}

/// A table's archive directory, normalized, or a 22023 naming why not.
fn relative_directory(directory: &str) -> SqlResult<String> {
    gridkit_archive::relative_directory(directory).map_err(|why| {
        SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("archive directory \"{directory}\" {why}"))
            .hint("Name a directory inside gridkit.archive_directory, such as 'traffic' or 'traffic/minutes'.")
    })
}

/// `relative` under the root, resolved; refused if symbolic links lead it
/// out of the root. `what` names it in errors ("archive directory").
fn inside_root(root: &Path, relative: &str, what: &str) -> SqlResult<PathBuf> {
    let path = root.join(relative);
    let resolved = path.canonicalize().map_err(|e| io_error(&format!("open {what}"), &path, e))?;
    if !resolved.starts_with(root) {
        return Err(SqlError::new(
            ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("{what} \"{relative}\" leads outside gridkit.archive_directory"),
        ));
    }
    Ok(resolved)
}

/// `relative` under the root, made if missing (owner only), and still under
/// the root once symbolic links are resolved.
fn directory_path(root: &Path, relative: &str) -> SqlResult<PathBuf> {
    let path = root.join(relative);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&path)
        .map_err(|e| io_error("create archive directory", &path, e))?;
    inside_root(root, relative, "archive directory")
}

/// Checks (and makes) a table's archive directory; returns it normalized.
#[pg_extern(schema = "gridkit", name = "_archive_directory", strict)]
fn archive_directory(directory: &str) -> String {
    (|| -> SqlResult<String> {
        let relative = relative_directory(directory)?;
        directory_path(&root()?, &relative)?;
        Ok(relative)
    })()
    .or_raise()
}

/// One column of the archived table: how it is selected, read and stored.
struct SourceColumn {
    column: Column,
    read: Col,
    select: String,
}

fn source_columns(client: &SpiClient<'_>, relid: pg_sys::Oid) -> SqlResult<Vec<SourceColumn>> {
    let rows = client.select(
        "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod),
                pg_catalog.format_type(t.oid, NULL), a.atttypmod
           FROM pg_catalog.pg_attribute a
           JOIN pg_catalog.pg_type t ON t.oid = CASE WHEN (SELECT typtype FROM pg_catalog.pg_type WHERE oid = a.atttypid) = 'd'
                                                      THEN (SELECT typbasetype FROM pg_catalog.pg_type WHERE oid = a.atttypid)
                                                      ELSE a.atttypid END
          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum",
        None,
        &[relid.into()],
    )?;
    let mut out = Vec::new();
    for row in rows {
        let name = row.get::<String>(1)?.unwrap_or_default();
        let pg_type = row.get::<String>(2)?.unwrap_or_default();
        let base = row.get::<String>(3)?.unwrap_or_default();
        let typmod = row.get::<i32>(4)?.unwrap_or(-1);
        let q = quote_ident(&name);
        let (kind, read, select) = match base.as_str() {
            "boolean" => (Kind::Bool, Col::Bool, q),
            "smallint" => (Kind::Int16, Col::Int2, q),
            "integer" => (Kind::Int32, Col::Int4, q),
            "bigint" => (Kind::Int64, Col::Int8, q),
            "real" => (Kind::Float32, Col::Float4, q),
            "double precision" => (Kind::Float64, Col::Float8, q),
            "timestamp with time zone" => (Kind::TimestampTz, Col::TimestampTz, q),
            // Same microseconds, read as a timestamptz.
            "timestamp without time zone" => (Kind::Timestamp, Col::TimestampTz, format!("({q} AT TIME ZONE 'UTC')")),
            "date" => (Kind::Date, Col::TimestampTz, format!("({q}::timestamp AT TIME ZONE 'UTC')")),
            "numeric" => match gridkit_archive::numeric_typmod(typmod).and_then(|(p, s)| Kind::decimal(p, s)) {
                Some(kind @ Kind::Decimal { precision, scale }) => {
                    let scaled = format!("({q} * '1e{scale}'::numeric)");
                    if precision <= 18 {
                        (kind, Col::Int8, format!("{scaled}::int8"))
                    } else {
                        (kind, Col::Varlena, format!("{scaled}::text"))
                    }
                }
                // Unconstrained (or beyond Parquet's decimals): its exact text.
                _ => (Kind::Text, Col::Varlena, format!("{q}::text")),
            },
            "text" | "character varying" | "character" | "name" => (Kind::Text, Col::Varlena, format!("{q}::text")),
            "json" | "jsonb" => (Kind::Json, Col::Varlena, format!("{q}::text")),
            "bytea" => (Kind::Bytes, Col::Varlena, q),
            _ => (Kind::Text, Col::Varlena, format!("{q}::text")),
        };
        out.push(SourceColumn { column: Column::new(name, pg_type, kind), read, select });
    }
    Ok(out)
}

/// The value of a datum read as `read` for a column of `kind`.
///
/// # Safety
/// `datum` is a non-null datum of the type `read` was checked against.
unsafe fn datum_value<'a>(datum: pg_sys::Datum, read: Col, kind: Kind) -> SqlResult<Value<'a>> {
    let raw = datum.value();
    Ok(match (read, kind) {
        (Col::Bool, _) => Value::Bool(raw != 0),
        (Col::Int2, _) => Value::Int(i64::from(raw as i16)),
        (Col::Int4, _) => Value::Int(i64::from(raw as i32)),
        (Col::Int8, Kind::Decimal { .. }) => Value::Decimal(i128::from(raw as i64)),
        (Col::Int8, _) => Value::Int(raw as i64),
        (Col::Float4, _) => Value::Float(f64::from(f32::from_bits(raw as u32))),
        (Col::Float8, _) => Value::Float(f64::from_bits(raw as u64)),
        (Col::TimestampTz, Kind::Date) => {
            let t = raw as i64;
            Value::Days(match t {
                i64::MAX => gridkit_archive::INFINITY_DAYS,
                i64::MIN => gridkit_archive::NEG_INFINITY_DAYS,
                t => (t.div_euclid(DAY_MICROS) as i32) + UNIX_EPOCH_SHIFT_DAYS,
            })
        }
        (Col::TimestampTz, _) => Value::Micros(match raw as i64 {
            t @ (i64::MAX | i64::MIN) => t,
            t => t + UNIX_EPOCH_SHIFT_MICROS,
        }),
        // SAFETY: the caller's guarantee.
        (Col::Varlena, Kind::Decimal { .. }) => {
            let text = unsafe { varlena_bytes(datum) };
            let text = std::str::from_utf8(text).unwrap_or("");
            // The scaled value is an integer: no fraction digits but zeros.
            let whole = text.split('.').next().unwrap_or(text);
            Value::Decimal(whole.parse::<i128>().map_err(|_| {
                SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("{text} does not fit a decimal column"))
            })?)
        }
        // SAFETY: the caller's guarantee.
        (Col::Varlena, _) => Value::Bytes(unsafe { varlena_bytes(datum) }),
        (Col::Tid, _) => return Err(SqlError::new(ERRCODE_INTERNAL_ERROR, "a tid column is not archived")),
    })
}

/// The relation's name as SQL text (schema-qualified unless on the
/// search path, quoted), for statements and messages.
fn relation_name(relid: pg_sys::Oid) -> String {
    pgrx::Spi::get_one_with_args::<String>("SELECT $1::regclass::text", &[relid.into()])
        .ok()
        .flatten()
        .unwrap_or_else(|| relid.to_string())
}

fn require_utf8() -> SqlResult<()> {
    // SAFETY: reads the database's encoding.
    if unsafe { pg_sys::GetDatabaseEncoding() } != pg_sys::pg_enc::PG_UTF8 as i32 {
        return Err(SqlError::new(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            "archives are written from UTF8 databases only (Parquet text is UTF-8)",
        ));
    }
    Ok(())
}

fn unix_micros(t: TimestampWithTimeZone) -> i64 {
    let raw: i64 = t.into_inner();
    raw + UNIX_EPOCH_SHIFT_MICROS
}

/// Writes the rows of `partition` (of `source`, holding [lower, upper)) to
/// a new file in `directory`, checks it, lists it in `gridkit.archives` and
/// unlists the archives whose rows had been restored into this partition
/// (their files go when this transaction commits). Returns the rows
/// archived. The caller drops the partition in the same transaction.
#[pg_extern(schema = "gridkit", name = "_archive_partition", strict)]
fn archive_partition(
    source: pg_sys::Oid,
    partition: pg_sys::Oid,
    lower: TimestampWithTimeZone,
    upper: TimestampWithTimeZone,
    directory: &str,
) -> i64 {
    (|| -> SqlResult<i64> {
        require_owner_rights(source, "archive its partitions")?;
        require_utf8()?;
        let root = root()?;
        let relative_dir = relative_directory(directory)?;
        let dir = directory_path(&root, &relative_dir)?;
        Spi::connect_mut(|client| -> SqlResult<i64> {
            let (nsp, rel) = {
                let row = client.select(
                    "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c
                       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
                    None,
                    &[source.into()],
                )?;
                let row = row.first();
                (row.get::<String>(1)?.unwrap_or_default(), row.get::<String>(2)?.unwrap_or_default())
            };
            let id = {
                let _owner = AsRole::extension_owner()?;
                client
                    .select("SELECT pg_catalog.nextval('gridkit.archives_id_seq')", None, &[])?
                    .first()
                    .get::<i64>(1)?
                    .unwrap_or(0)
            };
            let name = gridkit_archive::file_name(&nsp, &rel, unix_micros(lower), unix_micros(upper), id);
            let partition_name = relation_name(partition);
            // The temporary name starts with the table's oid: a backend
            // killed while writing left one, which no one else can be
            // writing now (retention holds the table's lock), so it goes.
            let temp_prefix = format!(".{}.", u32::from(source));
            remove_stale_temporaries(&dir, &temp_prefix);
            let temp = dir.join(format!("{temp_prefix}{name}.tmp"));
            let path = dir.join(&name);
            let relative = format!("{relative_dir}/{name}");

            let columns = source_columns(client, source)?;
            let file = File::options()
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(|e| io_error("create archive file", &temp, e))?;
            archive_files::written(temp.clone());
            let mut properties = serde_json::Map::new();
            properties.insert("table".into(), format!("{}.{}", quote_ident(&nsp), quote_ident(&rel)).into());
            properties.insert("lower".into(), lower.to_iso_string().into());
            properties.insert("upper".into(), upper.to_iso_string().into());
            let mut writer = ArchiveWriter::new(
                BufWriter::with_capacity(1 << 20, file),
                columns.iter().map(|c| c.column.clone()).collect(),
                properties,
                WriteOptions::default(),
            )
            .map_err(archive_error)?;

            let select = columns.iter().map(|c| c.select.as_str()).collect::<Vec<_>>().join(", ");
            let plan =
                Plan::prepare(&format!("SELECT {select} FROM ONLY {partition_name}"), &[], Planning::Custom, false)?;
            let reads: Vec<Col> = columns.iter().map(|c| c.read).collect();
            let mut failure: Option<SqlError> = None;
            for_each_row_while(&plan, &[], true, &reads, |values, nulls| {
                for (i, c) in columns.iter().enumerate() {
                    let value = if nulls[i] {
                        Ok(Value::Null)
                    } else {
                        // SAFETY: a non-null datum of the checked column type.
                        unsafe { datum_value(values[i], c.read, c.column.kind) }
                    };
                    let pushed = value.and_then(|v| {
                        writer.push(v).map_err(|e| match e {
                            gridkit_archive::ArchiveError::Value(m) => SqlError::new(
                                ERRCODE_INVALID_PARAMETER_VALUE,
                                format!("cannot archive {partition_name}: {m}"),
                            ),
                            e => archive_error(e),
                        })
                    });
                    if let Err(e) = pushed {
                        failure = Some(e);
                        return false;
                    }
                }
                true
            });
            drop(plan);
            if let Some(e) = failure {
                return Err(e);
            }
            let (sink, written) = writer.finish().map_err(archive_error)?;
            let file = sink.into_inner().map_err(|e| io_error("write archive file", &temp, e.into_error()))?;
            file.sync_all().map_err(|e| io_error("fsync archive file", &temp, e))?;
            let bytes = file.metadata().map_err(|e| io_error("stat archive file", &temp, e))?.len();
            drop(file);
            step_lock(client, STEP_WRITTEN)?;

            let read_back = verify_file(&temp)?;
            if read_back != written {
                return Err(SqlError::new(
                    ERRCODE_DATA_CORRUPTED,
                    format!(
                        "archive file \"{}\" reads back {} rows (checksum {}), not the {} written ({})",
                        temp.display(),
                        read_back.rows,
                        read_back.checksum,
                        written.rows,
                        written.checksum
                    ),
                ));
            }
            std::fs::rename(&temp, &path).map_err(|e| io_error("rename archive file", &temp, e))?;
            archive_files::written(path.clone());
            File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| io_error("fsync archive directory", &dir, e))?;
            step_lock(client, STEP_RENAMED)?;

            {
                let _owner = AsRole::extension_owner()?;
                client.update(
                    "INSERT INTO gridkit.archives (id, relid, source, lower, upper, path, rows, bytes, checksum)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    None,
                    &[
                        id.into(),
                        source.into(),
                        format!("{}.{}", quote_ident(&nsp), quote_ident(&rel)).into(),
                        lower.into(),
                        upper.into(),
                        relative.into(),
                        (written.rows as i64).into(),
                        (bytes as i64).into(),
                        written.checksum.into(),
                    ],
                )?;
                let superseded = client.update(
                    "DELETE FROM gridkit.archives WHERE relid = $1 AND restored_into = $2 RETURNING path",
                    None,
                    &[source.into(), partition.into()],
                )?;
                for row in superseded {
                    if let Some(p) = row.get::<String>(1)? {
                        archive_files::superseded(root.join(p));
                    }
                }
            }
            step_lock(client, STEP_LISTED)?;
            Ok(written.rows as i64)
        })
    })()
    .or_raise()
}

fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn verify_file(path: &Path) -> SqlResult<Written> {
    let file = File::open(path).map_err(|e| io_error("open archive file", path, e))?;
    ArchiveReader::open(file).and_then(|r| r.verify()).map_err(archive_error)
}

/// A listed archive: its table, file and what it held.
struct Listed {
    relid: pg_sys::Oid,
    path: String,
    rows: i64,
    checksum: String,
}

fn listed(client: &SpiClient<'_>, column: &str, key: pgrx::datum::DatumWithOid<'_>, shown: &str) -> SqlResult<Listed> {
    let rows = client.select(
        &format!("SELECT relid, path, rows, checksum FROM gridkit.archives WHERE {column} = $1"),
        None,
        &[key],
    )?;
    if rows.is_empty() {
        return Err(SqlError::new(ERRCODE_UNDEFINED_OBJECT, format!("no archive with {column} {shown}")));
    }
    let row = rows.first();
    Ok(Listed {
        relid: row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::Oid::INVALID),
        path: row.get::<String>(2)?.unwrap_or_default(),
        rows: row.get::<i64>(3)?.unwrap_or(0),
        checksum: row.get::<String>(4)?.unwrap_or_default(),
    })
}

fn open_reader(path: &Path) -> SqlResult<ArchiveReader<File>> {
    let file = File::open(path).map_err(|e| io_error("open archive file", path, e))?;
    ArchiveReader::open(file).map_err(archive_error)
}

/// Loads the rows of archive `id` into `partition` (COPY, as the table's
/// owner: its constraints, triggers and indexes apply), checking they are
/// the rows listed (count and checksum) before the transaction may commit.
/// Columns are matched by name; generated columns are computed again. The
/// archive is then listed as restored into `partition`, which retention
/// leaves for `keep`.
#[pg_extern(schema = "gridkit", name = "_archive_load", strict)]
fn archive_load(id: i64, partition: pg_sys::Oid, keep: Interval) -> i64 {
    (|| -> SqlResult<i64> {
        let owner = require_owner_rights(partition, "restore its archives")?;
        let root = root()?;
        let (entry, targets) = Spi::connect(|client| -> SqlResult<_> {
            let entry = listed(client, "id", id.into(), &id.to_string())?;
            let targets = client
                .select(
                    "SELECT a.attname::text FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                      ORDER BY a.attnum",
                    None,
                    &[partition.into()],
                )?
                .map(|r| r.get::<String>(1).map(Option::unwrap_or_default))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((entry, targets))
        })?;
        let path = inside_root(&root, &entry.path, "archive file")?;
        let reader = open_reader(&path)?;
        let file_columns: Vec<&str> = reader.columns().iter().map(|c| c.name.as_str()).collect();
        let (names, positions): (Vec<&str>, Vec<usize>) =
            targets.iter().filter_map(|t| file_columns.iter().position(|c| c == t).map(|p| (t.as_str(), p))).unzip();
        if names.is_empty() {
            return Err(SqlError::new(
                ERRCODE_DATATYPE_MISMATCH,
                format!("archive \"{}\" has no column of {}", entry.path, relation_name(partition)),
            ));
        }
        for c in &file_columns {
            if !targets.iter().any(|t| t == c) {
                pgrx::notice!(
                    "gridkit: column \"{c}\" of archive \"{}\" is not restored: the table has no such column now",
                    entry.path
                );
            }
        }
        if !crate::pg::copy_in::can_copy_into(partition, b'r') {
            return Err(SqlError::new(
                ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("cannot restore into {}: row-level security applies to its owner", relation_name(partition)),
            ));
        }
        let mut digest = RowDigest::new();
        let mut rows = 0u64;
        let mut group = 0usize;
        let mut failure: Option<SqlError> = None;
        let mut scratch = String::new();
        let mut line = String::new();
        let mut refill = |buffer: &mut Vec<u8>| -> bool {
            if group == reader.row_groups() || failure.is_some() {
                return false;
            }
            let decoded = match reader.read_group(group) {
                Ok(d) => d,
                Err(e) => {
                    failure = Some(archive_error(e));
                    return false;
                }
            };
            decoded.hash_into(&mut digest);
            for row in 0..decoded.rows() {
                line.clear();
                decoded.write_copy_line(row, &positions, &mut line, &mut scratch);
                line.push('\n');
                buffer.extend_from_slice(line.as_bytes());
            }
            rows += decoded.rows() as u64;
            group += 1;
            group < reader.row_groups()
        };
        let copied = {
            let _as_owner = AsRole::switch(owner);
            crate::pg::copy_in::copy_text(partition, &names, &mut refill)?
        };
        if let Some(e) = failure {
            return Err(e);
        }
        let checksum = digest.finish();
        if rows as i64 != entry.rows || checksum != entry.checksum || copied != rows {
            return Err(SqlError::new(
                ERRCODE_DATA_CORRUPTED,
                format!(
                    "archive file \"{}\" holds {rows} rows (checksum {checksum}), not the {} it was listed with ({})",
                    entry.path, entry.rows, entry.checksum
                ),
            )
            .hint("The file changed after it was written; nothing was restored."));
        }
        Spi::connect_mut(|client| -> SqlResult<()> {
            let _owner = AsRole::extension_owner()?;
            client.update(
                "UPDATE gridkit.archives SET restored_into = $2, restored_at = pg_catalog.now(),
                        kept_until = pg_catalog.now() + $3 WHERE id = $1",
                None,
                &[id.into(), partition.into(), keep.into()],
            )?;
            Ok(())
        })?;
        Ok(rows as i64)
    })()
    .or_raise()
}

/// Who may read an archive without restoring it: whoever may read its
/// table (all of it: row-level security cannot filter a file), or, once the
/// table is gone, whoever has the extension owner's rights.
fn require_reader(relid: pg_sys::Oid, path: &str) -> SqlResult<()> {
    let exists = relation_owner(relid).is_some();
    let allowed = if exists {
        // SAFETY: privilege and RLS checks on an existing relation.
        unsafe {
            pg_sys::pg_class_aclcheck(relid, pg_sys::GetUserId(), pg_sys::ACL_SELECT as pg_sys::AclMode)
                == pg_sys::AclResult::ACLCHECK_OK
                && pg_sys::check_enable_rls(relid, pg_sys::InvalidOid, true)
                    != pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
        }
    } else {
        has_privileges_of(crate::access::extension_owner()?)
    };
    if allowed {
        return Ok(());
    }
    Err(SqlError::new(ERRCODE_INSUFFICIENT_PRIVILEGE, format!("permission denied for archive \"{path}\""))
        .hint("Reading an archive takes SELECT on its whole table (row-level security cannot filter a file)."))
}

/// The rows of a listed archive file as JSON objects, in file order.
struct JsonRows {
    reader: ArchiveReader<File>,
    group: Option<gridkit_archive::RowGroupRows>,
    next_group: usize,
    next_row: usize,
    scratch: String,
}

impl Iterator for JsonRows {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            if let Some(g) = &self.group {
                if self.next_row < g.rows() {
                    let mut out = String::new();
                    gridkit_archive::write_json_row(
                        self.reader.columns(),
                        g,
                        self.next_row,
                        &mut out,
                        &mut self.scratch,
                    );
                    self.next_row += 1;
                    return Some(out);
                }
            }
            if self.next_group == self.reader.row_groups() {
                return None;
            }
            match self.reader.read_group(self.next_group) {
                Ok(g) => self.group = Some(g),
                Err(e) => archive_error(e).raise(),
            }
            self.next_group += 1;
            self.next_row = 0;
        }
    }
}

#[pg_extern(schema = "gridkit", name = "_archive_rows", strict)]
fn archive_rows(path: &str) -> SetOfIterator<'static, String> {
    (|| -> SqlResult<SetOfIterator<'static, String>> {
        let root = root()?;
        let entry = Spi::connect(|client| listed(client, "path", path.into(), &format!("\"{path}\"")))?;
        require_reader(entry.relid, &entry.path)?;
        let reader = open_reader(&inside_root(&root, &entry.path, "archive file")?)?;
        if reader.rows() as i64 != entry.rows {
            return Err(SqlError::new(
                ERRCODE_DATA_CORRUPTED,
                format!(
                    "archive file \"{path}\" holds {} rows, not the {} it was listed with",
                    reader.rows(),
                    entry.rows
                ),
            ));
        }
        Ok(SetOfIterator::new(JsonRows { reader, group: None, next_group: 0, next_row: 0, scratch: String::new() }))
    })()
    .or_raise()
}
