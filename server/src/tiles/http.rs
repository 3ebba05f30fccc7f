//! HTTP details of a tile response: the ETag and `If-None-Match`, whether
//! the client takes gzip, and the gzip member itself. Tiles are compressed
//! once and served compressed from the cache many times, which a
//! compression layer (tower-http's) would redo on every response: the
//! server compresses here, with a deflate state kept per thread.

use std::cell::RefCell;
use std::fmt::Write;

use axum::http::{header, HeaderMap};
use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use sha2::{Digest, Sha256};

use super::cache::TileKey;

/// The same for the same request and layer versions in every server
/// process, build and machine (a primary's and its replicas' servers behind
/// one address agree): SHA-256 of the key's fields, each length-prefixed.
pub fn etag(key: &TileKey) -> String {
    let mut h = Sha256::new();
    for field in [key.layers.as_bytes(), key.filter.as_bytes(), key.versions.as_bytes()] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field);
    }
    for n in [key.z, key.x, key.y] {
        h.update(n.to_le_bytes());
    }
    let digest = h.finalize();
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest[..16] {
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('"');
    tag
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The tag is part of the contract between server instances and with
    /// caches in front of them: it must not change with the build. The
    /// expected value is Python's hashlib over the same bytes.
    #[test]
    fn etag_is_sha256_of_the_length_prefixed_key() {
        let key = TileKey {
            layers: "zones,pnodes".into(),
            z: 5,
            x: 9,
            y: 12,
            filter: r#"{"iso_id":["PJM"]}"#.into(),
            versions: "v1,v2".into(),
        };
        assert_eq!(etag(&key), "\"139b57c79499e074aab54ba52f49bfda\"");
        let moved = TileKey { versions: "v1,v3".into(), ..key.clone() };
        assert_ne!(etag(&moved), etag(&key));
    }
}
