//! `GET /tiles/{layers}/{z}/{x}/{y}.mvt` and `GET /tiles/{layers}.json`.
//!
//! A tile is one `api.tile` call. Its ETag hashes the request and the
//! versions of its layers, so a client's copy stays valid exactly until the
//! data changes; the in-process cache is keyed the same way, so a change
//! makes every cached tile of that layer unreachable at once (and the
//! listener drops them).

mod cache;
mod http;
mod request;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

pub use cache::TileCache;
use cache::{versions_of, TileBody, TileKey};
use http::{accepts_gzip, etag, matches_etag};
use request::{coordinate, filter_of, layer_list, tile_y};

use crate::error::{AppError, AppResult};
use crate::AppState;

pub const MVT: &str = "application/vnd.mapbox-vector-tile";

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
    // The extension's own check, before any SQL.
    gridkit_tilecoord::check(z.into(), x.into(), y.into()).map_err(|e| AppError::bad_request(e.to_string()))?;
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
            let t = Arc::new(TileBody::new(raw));
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
    use std::collections::HashMap;

    use super::http::gzip;
    use super::*;
    use crate::versions::LayerInfo;

    fn layers() -> HashMap<String, LayerInfo> {
        let info = |fields: &[(&str, &str)]| LayerInfo {
            version: "v1".into(),
            fields: fields.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            max_age: None,
            notified: true,
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
        let too_many: Vec<String> = (0..33).map(|i| format!("l{i}")).collect();
        let err = layer_list(&too_many.join(","), None).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.message, "a tile holds at most 32 layers, not 33");
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
