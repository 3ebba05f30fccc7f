//! HTTP details of a tile response: the ETag and `If-None-Match`, whether
//! the client takes gzip, and the gzip member itself. Tiles are compressed
//! once and served compressed from the cache many times, which a
//! compression layer (tower-http's) would redo on every response: the
//! server compresses here, with a deflate state kept per thread.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use axum::http::{header, HeaderMap};
use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use super::cache::TileKey;

pub fn etag(key: &TileKey) -> String {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |e| {
            let mut parts = e.trim().split(';');
            let name = parts.next().unwrap_or("").trim();
            let q0 = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            (name == "gzip" || name == "*") && !q0
        },
    )
}

pub fn matches_etag(headers: &HeaderMap, tag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == tag
    })
}

thread_local! {
    // A deflate state is a few hundred KB that the compressor zeroes when
    // made: made once per thread and reset per tile, not per tile.
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
}

/// `raw` as a gzip member (RFC 1952): header, raw deflate, CRC-32, size.
pub fn gzip(raw: &[u8]) -> Bytes {
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut out = Vec::with_capacity(raw.len() / 2 + 64);
    out.extend_from_slice(&HEADER);
    DEFLATE.with(|d| {
        let mut d = d.borrow_mut();
        d.reset();
        loop {
            let consumed = d.total_in() as usize;
            out.reserve(4096.max(raw.len() - consumed));
            match d.compress_vec(&raw[consumed..], &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => break,
                Ok(_) => continue,
                Err(e) => unreachable!("deflate into a growing buffer cannot fail: {e}"),
            }
        }
    });
    let mut crc = Crc::new();
    crc.update(raw);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    Bytes::from(out)
}
