//! Writing many computed rows into a table through PostgreSQL's own
//! `COPY FROM` (binary or text format), fed from Rust by a data-source callback.
//!
//! COPY inserts in batches (`table_multi_insert`) and is the fastest way
//! PostgreSQL offers to add rows, yet keeps every rule of the table:
//! indexes, constraints, defaults, triggers (with transition tables) and
//! partition routing. It checks the caller's INSERT privilege on the
//! columns, as COPY does. Rows are encoded a chunk at a time, so memory
//! stays bounded however many are written.

use std::cell::RefCell;
use std::ffi::CString;

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::*;

/// PostgreSQL's binary COPY signature, flags and header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Rows encoded per refill of the buffer.
const CHUNK_ROWS: usize = 4096;

/// One row in COPY's binary format: each field its length and its value
/// as the type's send function writes it (big-endian).
pub struct BinaryRow<'a> {
    out: &'a mut Vec<u8>,
}

impl BinaryRow<'_> {
    /// A NULL field.
    pub fn null(&mut self) {
        self.out.extend_from_slice(&(-1i32).to_be_bytes());
    }

    pub fn int2(&mut self, v: i16) {
        self.out.extend_from_slice(&2i32.to_be_bytes());
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    pub fn int8(&mut self, v: i64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// A `bytea`, or a `text` in the database's encoding: the bytes as they are.
    pub fn bytes(&mut self, v: &[u8]) {
        self.out.extend_from_slice(&(v.len() as i32).to_be_bytes());
        self.out.extend_from_slice(v);
    }

    /// A PostGIS `geometry` point, as [`BinaryRow::ewkb`] writes it.
    pub fn ewkb_point(&mut self, x: f64, y: f64, srid: i32) {
        let mut wkb = [0u8; 21];
        wkb[0] = 1;
        wkb[1..5].copy_from_slice(&1u32.to_le_bytes());
        wkb[5..13].copy_from_slice(&x.to_le_bytes());
        wkb[13..].copy_from_slice(&y.to_le_bytes());
        self.ewkb(&wkb, srid);
    }

    /// A PostGIS `geometry` from its WKB (either byte order), with `srid`
    /// set: EWKB, which `geometry_recv` takes.
    pub fn ewkb(&mut self, wkb: &[u8], srid: i32) {
        const WITH_SRID: u32 = 0x2000_0000;
        let Some((head, body)) = wkb.split_first_chunk::<5>() else {
            return self.bytes(wkb); // not WKB: geometry_recv says so
        };
        let little = head[0] == 1;
        let kind = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        let kind = if little { kind } else { kind.swap_bytes() } | WITH_SRID;
        self.out.extend_from_slice(&(wkb.len() as i32 + 4).to_be_bytes());
        self.out.push(head[0]);
        if little {
            self.out.extend_from_slice(&kind.to_le_bytes());
            self.out.extend_from_slice(&srid.to_le_bytes());
        } else {
            self.out.extend_from_slice(&kind.to_be_bytes());
            self.out.extend_from_slice(&srid.to_be_bytes());
        }
        self.out.extend_from_slice(body);
    }

    pub fn int4(&mut self, v: i32) {
        self.out.extend_from_slice(&4i32.to_be_bytes());
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    pub fn float8(&mut self, v: f64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&v.to_bits().to_be_bytes());
    }

    /// A `timestamptz` as PostgreSQL stores it (microseconds since
    /// 2000-01-01 UTC).
    pub fn timestamptz(&mut self, micros: i64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&micros.to_be_bytes());
    }
}

/// What the data-source callback reads from: the bytes not yet handed to
/// COPY, and the producer of the next ones.
struct Feed {
    buffer: Vec<u8>,
    read: usize,
    /// The producer has said it has nothing after the current buffer.
    done: bool,
    /// Appends the next bytes to the (empty) buffer; false once these are
    /// the last. Borrowed from `copy_from`'s caller for the duration of the
    /// call (see the safety note there).
    refill: *mut dyn FnMut(&mut Vec<u8>) -> bool,
}

thread_local! {
    static FEED: RefCell<Option<Feed>> = const { RefCell::new(None) };
}

/// COPY's data source: copies up to `maxread` bytes into `outbuf`; 0 at
/// the end.
#[pg_guard]
unsafe extern "C-unwind" fn feed_copy(outbuf: *mut std::ffi::c_void, _minread: i32, maxread: i32) -> i32 {
    FEED.with(|feed| {
        let mut feed = feed.borrow_mut();
        let Some(feed) = feed.as_mut() else { return 0 };
        while feed.read == feed.buffer.len() {
            if feed.done {
                return 0;
            }
            feed.buffer.clear();
            feed.read = 0;
            // SAFETY: `refill` outlives the COPY (copy_from clears FEED
            // before returning or unwinding), and nothing else calls it meanwhile.
            feed.done = !unsafe { (*feed.refill)(&mut feed.buffer) };
        }
        let n = (feed.buffer.len() - feed.read).min(maxread.max(0) as usize);
        // SAFETY: COPY hands a buffer of at least `maxread` bytes.
        unsafe { std::ptr::copy_nonoverlapping(feed.buffer.as_ptr().add(feed.read), outbuf.cast::<u8>(), n) };
        feed.read += n;
        n as i32
    })
}

/// Clears the feed however `copy_rows` ends, so no dangling `encode`
/// remains.
struct FeedGuard;

impl Drop for FeedGuard {
    fn drop(&mut self) {
        FEED.with(|feed| feed.borrow_mut().take());
    }
}

/// Binary COPY converts text fields from the client's encoding; the rows
/// we write are in the database's. For the COPY's duration the client
/// encoding is the database's (no conversion), and is put back however
/// the COPY ends.
struct ClientEncodingGuard {
    previous: i32,
}

impl ClientEncodingGuard {
    fn database() -> ClientEncodingGuard {
        // SAFETY: setting the client encoding to the server's always
        // succeeds (no conversion is looked up); the previous one was in use.
        unsafe {
            let previous = pg_sys::pg_get_client_encoding();
            pg_sys::SetClientEncoding(pg_sys::GetDatabaseEncoding());
            ClientEncodingGuard { previous }
        }
    }
}

impl Drop for ClientEncodingGuard {
    fn drop(&mut self) {
        // SAFETY: the encoding was in use before, so its conversion is prepared.
        unsafe { pg_sys::SetClientEncoding(self.previous) };
    }
}

/// Whether `copy_rows` can write to a relation of this kind without
/// row-level security (COPY FROM refuses tables with RLS enabled for the
/// caller).
pub fn can_copy_into(relid: pg_sys::Oid, relkind: u8) -> bool {
    if !matches!(relkind, b'r' | b'p') {
        return false;
    }
    // SAFETY: a catalog lookup; noError returns RLS_ENABLED rather than raising.
    let rls = unsafe { pg_sys::check_enable_rls(relid, pg_sys::InvalidOid, true) };
    rls != pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
}

/// Writes `rows` rows into the `columns` of `relid` with COPY FROM;
/// `encode` writes row i's fields in column order, with the columns' exact
/// types. Returns the rows written.
pub fn copy_rows(
    relid: pg_sys::Oid,
    columns: &[&str],
    rows: usize,
    encode: &mut dyn FnMut(usize, &mut BinaryRow),
) -> SqlResult<u64> {
    let fields = columns.len() as i16;
    let mut next_row = 0usize;
    let mut refill = |buffer: &mut Vec<u8>| -> bool {
        if next_row == 0 {
            buffer.extend_from_slice(HEADER);
        }
        let end = (next_row + CHUNK_ROWS).min(rows);
        for i in next_row..end {
            buffer.extend_from_slice(&fields.to_be_bytes());
            encode(i, &mut BinaryRow { out: buffer });
        }
        next_row = end;
        if end == rows {
            buffer.extend_from_slice(&(-1i16).to_be_bytes());
            return false;
        }
        true
    };
    copy_from(relid, columns, c"binary", &mut refill)
}

/// Writes rows in COPY's text format (tab-separated fields, `\N` for NULL,
/// one row per line) into the `columns` of `relid`: each field goes
/// through its column type's input function, so any type can be written.
/// `refill` appends the next lines to the buffer it is given and returns
/// false with the last ones. Returns the rows written.
pub fn copy_text(relid: pg_sys::Oid, columns: &[&str], refill: &mut dyn FnMut(&mut Vec<u8>) -> bool) -> SqlResult<u64> {
    copy_from(relid, columns, c"text", refill)
}

fn copy_from(
    relid: pg_sys::Oid,
    columns: &[&str],
    format: &std::ffi::CStr,
    refill: &mut dyn FnMut(&mut Vec<u8>) -> bool,
) -> SqlResult<u64> {
    let names: Vec<CString> = columns
        .iter()
        .map(|c| CString::new(*c).map_err(|_| SqlError::new(ERRCODE_INVALID_NAME, "column name contains NUL")))
        .collect::<SqlResult<_>>()?;
    // SAFETY: `refill` is only called from feed_copy while CopyFrom runs
    // below; the guard clears the feed before this frame is left, also when
    // COPY raises an error.
    let refill: *mut (dyn FnMut(&mut Vec<u8>) -> bool + '_) = refill;
    let refill: *mut (dyn FnMut(&mut Vec<u8>) -> bool + 'static) = unsafe { std::mem::transmute(refill) };
    FEED.with(|feed| *feed.borrow_mut() = Some(Feed { buffer: Vec::new(), read: 0, done: false, refill }));
    let _guard = FeedGuard;
    let _encoding = ClientEncodingGuard::database();
    // SAFETY: the sequence DoCopy runs for COPY ... FROM (PostgreSQL 15):
    // lock, range table entry with the INSERT permission on the columns,
    // permission check, then BeginCopyFrom / CopyFrom / EndCopyFrom. Every
    // pointer is palloc'd in the current context; errors unwind through the
    // pgrx guards.
    unsafe {
        let lock = pg_sys::RowExclusiveLock as i32;
        let rel = pg_sys::table_open(relid, lock);
        let pstate = pg_sys::make_parsestate(std::ptr::null_mut());
        let nsitem = pg_sys::addRangeTableEntryForRelation(pstate, rel, lock, std::ptr::null_mut(), false, false);
        let rte = (*nsitem).p_rte;
        (*rte).requiredPerms = pg_sys::ACL_INSERT as pg_sys::AclMode;
        let mut attnames: *mut pg_sys::List = std::ptr::null_mut();
        for name in &names {
            let attno = pg_sys::attnameAttNum(rel, name.as_ptr(), false);
            if attno <= 0 {
                return Err(SqlError::new(
                    ERRCODE_UNDEFINED_COLUMN,
                    format!("column {} not found", name.to_string_lossy()),
                ));
            }
            (*rte).insertedCols =
                pg_sys::bms_add_member((*rte).insertedCols, attno - pg_sys::FirstLowInvalidHeapAttributeNumber);
            attnames = pg_sys::lappend(attnames, pg_sys::makeString(pg_sys::pstrdup(name.as_ptr())).cast());
        }
        pg_sys::ExecCheckRTPerms((*pstate).p_rtable, true);
        let format = pg_sys::makeDefElem(
            pg_sys::pstrdup(c"format".as_ptr()),
            pg_sys::makeString(pg_sys::pstrdup(format.as_ptr())).cast(),
            -1,
        );
        let options = pg_sys::lappend(std::ptr::null_mut(), format.cast());
        let cstate = pg_sys::BeginCopyFrom(
            pstate,
            rel,
            std::ptr::null_mut(),
            std::ptr::null(),
            false,
            Some(feed_copy),
            attnames,
            options,
        );
        let written = pg_sys::CopyFrom(cstate);
        pg_sys::EndCopyFrom(cstate);
        pg_sys::free_parsestate(pstate);
        pg_sys::table_close(rel, pg_sys::NoLock as i32);
        Ok(written)
    }
}
