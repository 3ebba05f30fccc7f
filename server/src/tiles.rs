//! `GET /tiles/{layers}/{z}/{x}/{y}.mvt` and `GET /tiles/{layers}.json`.
//!
//! A tile is one `api.tile` call. Its ETag hashes the request and the
//! versions of its layers, so a client's copy stays valid exactly until the
//! data changes; the in-process cache is keyed the same way, so a change
//! makes every cached tile of that layer unreachable at once (and the
//! listener drops them).

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use serde_json::{Map, Value};

use crate::error::{AppError, AppResult};
use crate::versions::LayerInfo;
use crate::AppState;

/// The deepest zoom the extension renders.
pub const MAX_ZOOM: u32 = 24;
const MAX_LAYERS: usize = 32;
const MAX_FILTERS: usize = 16;
const MAX_FILTER_VALUES: usize = 64;
const MAX_QUERY_BYTES: usize = 4096;
pub const MVT: &str = "application/vnd.mapbox-vector-tile";

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    layers: String,
    z: u32,
    x: u32,
    y: u32,
    filter: String,
    versions: String,
}

/// A rendered tile; its gzip form is made the first time a client accepts it.
pub struct TileBody {
    raw: Bytes,
    gzip: OnceLock<Bytes>,
}

impl TileBody {
    fn gzip(&self) -> Bytes {
        self.gzip.get_or_init(|| gzip(&self.raw)).clone()
    }
}

pub type CachedTile = Arc<TileBody>;

pub struct TileCache {
    cache: Option<quick_cache::sync::Cache<TileKey, CachedTile, TileWeight>>,
}

#[derive(Clone)]
pub struct TileWeight;

impl quick_cache::Weighter<TileKey, CachedTile> for TileWeight {
    fn weight(&self, key: &TileKey, tile: &CachedTile) -> u64 {
        // Counts the gzip form as if made: the weight is fixed at insertion.
        (key.layers.len() + key.filter.len() + key.versions.len() + tile.raw.len() * 3 / 2 + 128) as u64
    }
}

impl TileCache {
    pub fn new(megabytes: u64) -> Self {
        let bytes = megabytes * 1024 * 1024;
        TileCache {
            cache: (bytes > 0)
                .then(|| quick_cache::sync::Cache::with_weighter((bytes / 8192).max(64) as usize, bytes, TileWeight)),
        }
    }

    fn get(&self, key: &TileKey) -> Option<CachedTile> {
        self.cache.as_ref()?.get(key)
    }

    fn insert(&self, key: TileKey, tile: CachedTile) {
        if let Some(c) = &self.cache {
            c.insert(key, tile);
        }
    }

    /// Drops the tiles whose layer versions are no longer current.
    pub fn retain_current(&self, layers: Option<&HashMap<String, LayerInfo>>) {
        let Some(c) = &self.cache else { return };
        match layers {
            None => c.clear(),
            Some(layers) => c.retain(|k, _| versions_of(layers, k.layers.split(',')).is_some_and(|v| v == k.versions)),
        }
    }
}

fn versions_of<'a>(layers: &HashMap<String, LayerInfo>, names: impl Iterator<Item = &'a str>) -> Option<String> {
    names.map(|n| layers.get(n).map(|l| l.version.as_str())).collect::<Option<Vec<_>>>().map(|v| v.join(","))
}

/// `12.mvt` -> 12; the extension is required.
fn tile_y(s: &str) -> Option<u32> {
    s.strip_suffix(".mvt").or_else(|| s.strip_suffix(".pbf"))?.parse().ok()
}

fn coordinate(what: &str, s: &str) -> AppResult<u32> {
    s.parse().map_err(|_| AppError::bad_request(format!("{what} must be a non-negative integer, not {s:?}")))
}

/// Checks the layer list against the registry when it is known.
fn layer_list(names: &str, layers: Option<&HashMap<String, LayerInfo>>) -> AppResult<Vec<String>> {
    let list: Vec<String> = names.split(',').map(str::to_owned).collect();
    if list.is_empty() || list.len() > MAX_LAYERS || list.iter().any(String::is_empty) {
        return Err(AppError::bad_request(format!("name 1 to {MAX_LAYERS} layers separated by commas")));
    }
    for (i, n) in list.iter().enumerate() {
        if list[..i].contains(n) {
            return Err(AppError::bad_request(format!("layer \"{n}\" is listed twice")));
        }
        if let Some(layers) = layers {
            if !layers.contains_key(n) {
                return Err(AppError::not_found(format!("layer \"{n}\" does not exist")));
            }
        }
    }
    Ok(list)
}

/// Query parameters as a `grid_tile` filter: `?iso_id=PJM&tier=a&tier=b`
/// becomes `{"iso_id": "PJM", "tier": ["a", "b"]}`, typed by each
/// attribute's field type, on attributes every layer of the tile has.
fn filter_of(
    query: Option<&str>,
    names: &[String],
    layers: Option<&HashMap<String, LayerInfo>>,
) -> AppResult<Option<Value>> {
    let Some(query) = query.filter(|q| !q.is_empty()) else { return Ok(None) };
    if query.len() > MAX_QUERY_BYTES {
        return Err(AppError::new(
            StatusCode::URI_TOO_LONG,
            format!("the query is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let mut values: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut count = 0;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        count += 1;
        if count > MAX_FILTER_VALUES {
            return Err(AppError::bad_request(format!("at most {MAX_FILTER_VALUES} filter values")));
        }
        // The field type decides how the text is read; without the
        // registry at hand the database checks it.
        let kind = match layers {
            Some(layers) => {
                let mut kind = None;
                for n in names {
                    match layers.get(n).and_then(|l| l.fields.get(k.as_ref())) {
                        Some(f) => kind = Some(f.clone()),
                        None => {
                            return Err(AppError::bad_request(format!(
                                "cannot filter layer \"{n}\" on \"{k}\": it is not a registered attribute"
                            )))
                        }
                    }
                }
                kind
            }
            None => None,
        };
        let value = match kind.as_deref() {
            Some("Number") => match v.parse::<f64>() {
                Ok(n) if n.is_finite() => serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null),
                _ => return Err(AppError::bad_request(format!("filter \"{k}\" must be a number, not {v:?}"))),
            },
            Some("Boolean") => match v.as_ref() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(AppError::bad_request(format!("filter \"{k}\" must be true or false, not {v:?}"))),
            },
            _ => Value::String(v.into_owned()),
        };
        values.entry(k.into_owned()).or_default().push(value);
    }
    if values.len() > MAX_FILTERS {
        return Err(AppError::bad_request(format!("at most {MAX_FILTERS} filter attributes")));
    }
    let map: Map<String, Value> = values
        .into_iter()
        .map(|(k, mut v)| (k, if v.len() == 1 { v.pop().expect("one") } else { Value::Array(v) }))
        .collect();
    Ok(Some(Value::Object(map)))
}

fn etag(key: &TileKey) -> String {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |e| {
            let mut parts = e.trim().split(';');
            let name = parts.next().unwrap_or("").trim();
            let q0 = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            (name == "gzip" || name == "*") && !q0
        },
    )
}

fn matches_etag(headers: &HeaderMap, tag: &str) -> bool {
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
fn gzip(raw: &[u8]) -> Bytes {
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

pub async fn tile(
    State(state): State<Arc<AppState>>,
    Path((names, z, x, y)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> AppResult<Response> {
    let known = state.layers.current();
    let known = known.as_deref();
    let list = layer_list(&names, known)?;
    let z = coordinate("z", &z)?;
    let x = coordinate("x", &x)?;
    let y = tile_y(&y).ok_or_else(|| AppError::bad_request("y must be a non-negative integer followed by .mvt"))?;
    if z > MAX_ZOOM {
        return Err(AppError::bad_request(format!("zoom {z} is out of range: it must be between 0 and {MAX_ZOOM}")));
    }
    if u64::from(x) >= 1 << z || u64::from(y) >= 1 << z {
        return Err(AppError::bad_request(format!("tile {z}/{x}/{y} does not exist")));
    }
    let filter = filter_of(query.as_deref(), &list, known)?;
    let versions = known.and_then(|k| versions_of(k, list.iter().map(String::as_str)));
    let key = TileKey {
        layers: names.clone(),
        z,
        x,
        y,
        filter: filter.as_ref().map(Value::to_string).unwrap_or_default(),
        versions: versions.clone().unwrap_or_default(),
    };
    let max_age = known
        .and_then(|k| list.iter().filter_map(|n| k.get(n).and_then(|l| l.max_age)).min())
        .unwrap_or(state.config.max_age);
    // Without versions nothing may be cached or revalidated.
    let cacheable = versions.is_some();
    let tag = cacheable.then(|| etag(&key));
    if let Some(tag) = &tag {
        if matches_etag(&headers, tag) {
            state.metrics.not_modified.inc();
            return Ok(respond(StatusCode::NOT_MODIFIED, Some(tag), max_age, None, Body::empty()));
        }
    }
    let tile = match cacheable.then(|| state.tiles.get(&key)).flatten() {
        Some(t) => {
            state.metrics.cache_hits.inc();
            t
        }
        None => {
            state.metrics.cache_misses.inc();
            let rows = crate::db::query(
                &state.pool,
                "SELECT api.tile($1, $2, $3, $4, $5::text::jsonb)::bytea",
                &[&names, &(z as i32), &(x as i32), &(y as i32), &filter.as_ref().map(Value::to_string)],
            )
            .await?;
            let raw = Bytes::from(rows.first().map(|r| r.get::<_, Vec<u8>>(0)).unwrap_or_default());
            let t = Arc::new(TileBody { raw, gzip: OnceLock::new() });
            if cacheable {
                state.tiles.insert(key, t.clone());
            }
            t
        }
    };
    let gz = accepts_gzip(&headers) && !tile.raw.is_empty();
    let body = Body::from(if gz { tile.gzip() } else { tile.raw.clone() });
    Ok(respond(StatusCode::OK, tag.as_deref(), max_age, gz.then_some("gzip"), body))
}

fn respond(status: StatusCode, tag: Option<&str>, max_age: u32, encoding: Option<&str>, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MVT));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    match tag {
        Some(tag) => {
            h.insert(header::ETAG, HeaderValue::from_str(tag).expect("hex etag"));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_str(&format!("public, max-age={max_age}")).expect("ascii"),
            );
        }
        None => {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
    }
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_str(e).expect("ascii"));
    }
    r
}

/// `GET /tiles/{layers}.json`: TileJSON 3.0 whose tile URLs point here.
pub async fn tilejson(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let names = file.strip_suffix(".json").ok_or_else(|| AppError::not_found("not found"))?;
    let known = state.layers.current();
    layer_list(names, known.as_deref())?;
    let base = match &state.config.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    let url = format!("{base}/tiles/{names}/{{z}}/{{x}}/{{y}}.mvt");
    let rows = crate::db::query(&state.pool, "SELECT api.tilejson($1, $2)::text", &[&names, &url]).await?;
    let body: String = rows.first().map(|r| r.get(0)).unwrap_or_else(|| "null".into());
    Ok(([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> HashMap<String, LayerInfo> {
        let info = |fields: &[(&str, &str)]| LayerInfo {
            version: "v1".into(),
            fields: fields.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            max_age: None,
        };
        HashMap::from([
            ("pnodes".to_string(), info(&[("iso_id", "String"), ("severity_score", "Number"), ("ok", "Boolean")])),
            ("zones".to_string(), info(&[("iso_id", "String")])),
        ])
    }

    #[test]
    fn filters_are_typed_by_field() {
        let l = layers();
        let names = vec!["pnodes".to_string()];
        let f = filter_of(Some("iso_id=PJM&iso_id=MISO&severity_score=0.5&ok=true"), &names, Some(&l)).unwrap();
        assert_eq!(f.unwrap(), serde_json::json!({"iso_id": ["PJM", "MISO"], "severity_score": 0.5, "ok": true}));
        assert!(filter_of(Some("severity_score=high"), &names, Some(&l)).is_err());
        assert!(filter_of(Some("nope=1"), &names, Some(&l)).is_err());
        // Every layer of the tile must have the attribute.
        let both = vec!["pnodes".to_string(), "zones".to_string()];
        assert!(filter_of(Some("iso_id=PJM"), &both, Some(&l)).is_ok());
        assert!(filter_of(Some("ok=true"), &both, Some(&l)).is_err());
        assert_eq!(filter_of(Some(""), &names, Some(&l)).unwrap(), None);
    }

    #[test]
    fn layer_lists_are_checked() {
        let l = layers();
        assert_eq!(layer_list("pnodes,zones", Some(&l)).unwrap().len(), 2);
        assert_eq!(layer_list("nope", Some(&l)).unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(layer_list("pnodes,pnodes", Some(&l)).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(layer_list("pnodes,", Some(&l)).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn gzip_members_decode_to_the_tile() {
        use std::io::Read;
        for raw in [Vec::new(), b"tile".to_vec(), (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect()] {
            for _ in 0..2 {
                let mut back = Vec::new();
                flate2::read::MultiGzDecoder::new(&gzip(&raw)[..]).read_to_end(&mut back).unwrap();
                assert_eq!(back, raw);
            }
        }
    }

    #[test]
    fn tile_paths_and_headers() {
        assert_eq!(tile_y("12.mvt"), Some(12));
        assert_eq!(tile_y("12.pbf"), Some(12));
        assert_eq!(tile_y("12"), None);
        assert_eq!(tile_y("-1.mvt"), None);
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.8"));
        assert!(accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, br"));
        assert!(!accepts_gzip(&h));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(matches_etag(&h, "\"b\""));
        assert!(!matches_etag(&h, "\"c\""));
    }
}
