//! JSON endpoints over the api schema: each request is one SQL call whose
//! result PostgreSQL already renders as JSON. Parameters are checked here
//! for shape (numbers are numbers, nothing unknown), and by the database
//! for meaning (ranges, layers, polygons), whose SQLSTATE picks the status.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio_postgres::types::ToSql;

use crate::error::{AppError, AppResult};
use crate::AppState;

type Params = Query<HashMap<String, String>>;

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Rejects parameters the endpoint does not take (a typo must not be
/// silently ignored).
fn only(params: &HashMap<String, String>, allowed: &[&str]) -> AppResult<()> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => {
            Err(AppError::bad_request(format!("unknown parameter \"{k}\"; this endpoint takes {}", allowed.join(", "))))
        }
        None => Ok(()),
    }
}

fn number(params: &HashMap<String, String>, name: &str) -> AppResult<Option<f64>> {
    params
        .get(name)
        .map(|v| v.parse::<f64>().map_err(|_| AppError::bad_request(format!("\"{name}\" must be a number, not {v:?}"))))
        .transpose()
}

fn required(params: &HashMap<String, String>, name: &str) -> AppResult<f64> {
    number(params, name)?.ok_or_else(|| AppError::bad_request(format!("\"{name}\" is required")))
}

fn integer(params: &HashMap<String, String>, name: &str, default: i32) -> AppResult<i32> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| AppError::bad_request(format!("\"{name}\" must be an integer, not {v:?}"))),
    }
}

/// The rows of `SELECT ... FROM api.<function>(...)` as one JSON array,
/// and how many there are.
async fn rows_counted(state: &AppState, from: &str, params: &[&(dyn ToSql + Sync)]) -> AppResult<(String, i64)> {
    let sql = format!("SELECT coalesce(json_agg(t), '[]')::text, count(*) FROM {from} t");
    let rows = crate::db::query(&state.pool, &sql, params).await?;
    Ok(rows.first().map(|r| (r.get(0), r.get(1))).unwrap_or_else(|| ("[]".into(), 0)))
}

async fn rows_json(state: &AppState, from: &str, params: &[&(dyn ToSql + Sync)]) -> AppResult<String> {
    Ok(rows_counted(state, from, params).await?.0)
}

/// A page of the rows of `from`, with the URL of the next page when this
/// one is full. The rows stay the text PostgreSQL rendered.
async fn rows_page(
    state: &AppState,
    from: &str,
    params: &[&(dyn ToSql + Sync)],
    path: &str,
    query: &HashMap<String, String>,
    limit: i32,
    offset: i32,
) -> AppResult<String> {
    let (items, count) = rows_counted(state, from, params).await?;
    let next = (count == i64::from(limit)).then(|| {
        let mut p: Vec<(&str, String)> =
            query.iter().filter(|(k, _)| k.as_str() != "offset").map(|(k, v)| (k.as_str(), v.clone())).collect();
        p.sort();
        p.push(("offset", (offset + limit).to_string()));
        format!("{path}?{}", form_urlencoded::Serializer::new(String::new()).extend_pairs(p).finish())
    });
    let next = serde_json::to_string(&next).expect("a string or null");
    Ok(format!(r#"{{"items":{items},"limit":{limit},"offset":{offset},"next":{next}}}"#))
}

pub async fn layers(State(state): State<Arc<AppState>>) -> AppResult<Response> {
    Ok(json_response(rows_json(&state, "api.layers()", &[]).await?))
}

pub async fn feature(
    State(state): State<Arc<AppState>>,
    Path((layer, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let id: i64 =
        id.parse().map_err(|_| AppError::bad_request(format!("feature id must be an integer, not {id:?}")))?;
    let rows = crate::db::query(&state.pool, "SELECT api.feature($1, $2)::text", &[&layer, &id]).await?;
    match rows.first().and_then(|r| r.get::<_, Option<String>>(0)) {
        Some(body) => Ok(json_response(body)),
        None => Err(AppError::not_found(format!("layer \"{layer}\" has no feature {id}"))),
    }
}

pub async fn nearby(
    State(state): State<Arc<AppState>>,
    Path(layer): Path<String>,
    Query(p): Params,
) -> AppResult<Response> {
    only(&p, &["lon", "lat", "radius_m", "limit"])?;
    let (lon, lat, r) = (required(&p, "lon")?, required(&p, "lat")?, required(&p, "radius_m")?);
    let limit = integer(&p, "limit", 100)?;
    let body = rows_json(&state, "api.nearby($1, $2, $3, $4, $5)", &[&layer, &lon, &lat, &r, &limit]).await?;
    Ok(json_response(body))
}

pub async fn bbox(
    State(state): State<Arc<AppState>>,
    Path(layer): Path<String>,
    Query(p): Params,
) -> AppResult<Response> {
    only(&p, &["west", "south", "east", "north", "limit", "offset"])?;
    let (w, s, e, n) = (required(&p, "west")?, required(&p, "south")?, required(&p, "east")?, required(&p, "north")?);
    let (limit, offset) = (integer(&p, "limit", 500)?, integer(&p, "offset", 0)?);
    let path = format!("/api/layers/{layer}/bbox");
    let from = "api.bbox($1, $2, $3, $4, $5, $6, $7)";
    let params: [&(dyn ToSql + Sync); 7] = [&layer, &w, &s, &e, &n, &limit, &offset];
    Ok(json_response(rows_page(&state, from, &params, &path, &p, limit, offset).await?))
}

fn body_json(body: &Bytes, allowed: &[&str]) -> AppResult<serde_json::Map<String, Value>> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| AppError::bad_request(format!("the body is not JSON: {e}")))?;
    let Value::Object(map) = v else { return Err(AppError::bad_request("the body must be a JSON object")) };
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(AppError::bad_request(format!("unknown field \"{k}\"; the body takes {}", allowed.join(", "))));
    }
    Ok(map)
}

fn body_number(map: &serde_json::Map<String, Value>, name: &str) -> AppResult<Option<f64>> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| AppError::bad_request(format!("\"{name}\" must be a number"))),
    }
}

fn body_limit(map: &serde_json::Map<String, Value>, default: i32) -> AppResult<i32> {
    match map.get("limit") {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| AppError::bad_request("\"limit\" must be an integer")),
    }
}

pub async fn within(State(state): State<Arc<AppState>>, Path(layer): Path<String>, body: Bytes) -> AppResult<Response> {
    let map = body_json(&body, &["polygon", "limit"])?;
    let polygon = map.get("polygon").cloned().ok_or_else(|| AppError::bad_request("\"polygon\" is required"))?;
    let limit = body_limit(&map, 1000)?;
    let body =
        rows_json(&state, "api.within($1, $2::text::jsonb, $3)", &[&layer, &polygon.to_string(), &limit]).await?;
    Ok(json_response(body))
}

pub async fn along_route(
    State(state): State<Arc<AppState>>,
    Path(layer): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let map = body_json(&body, &["route", "buffer_m", "limit"])?;
    let route = map.get("route").cloned().ok_or_else(|| AppError::bad_request("\"route\" is required"))?;
    let buffer = body_number(&map, "buffer_m")?.ok_or_else(|| AppError::bad_request("\"buffer_m\" is required"))?;
    let limit = body_limit(&map, 1000)?;
    let body = rows_json(
        &state,
        "api.along_route($1, $2::text::jsonb, $3, $4)",
        &[&layer, &route.to_string(), &buffer, &limit],
    )
    .await?;
    Ok(json_response(body))
}

pub async fn series(State(state): State<Arc<AppState>>) -> AppResult<Response> {
    Ok(json_response(rows_json(&state, "api.series()", &[]).await?))
}

pub async fn latest(
    State(state): State<Arc<AppState>>,
    Path(source): Path<String>,
    Query(p): Params,
) -> AppResult<Response> {
    only(&p, &["limit", "offset"])?;
    let (limit, offset) = (integer(&p, "limit", 100)?, integer(&p, "offset", 0)?);
    let path = format!("/api/series/{source}/latest");
    let params: [&(dyn ToSql + Sync); 3] = [&source, &limit, &offset];
    Ok(json_response(rows_page(&state, "api.latest($1, $2, $3)", &params, &path, &p, limit, offset).await?))
}

pub async fn history(
    State(state): State<Arc<AppState>>,
    Path(source): Path<String>,
    Query(p): Params,
) -> AppResult<Response> {
    only(&p, &["key", "from", "to", "max_points"])?;
    let key = p
        .get("key")
        .ok_or_else(|| AppError::bad_request("\"key\" is required, a JSON object such as {\"ba\": \"CISO\"}"))?;
    serde_json::from_str::<serde_json::Map<String, Value>>(key)
        .map_err(|_| AppError::bad_request("\"key\" must be a JSON object such as {\"ba\": \"CISO\"}"))?;
    let (from, to) = window(&p)?;
    let max_points = integer(&p, "max_points", 2000)?;
    let body = rows_json(
        &state,
        "api.history($1, $2::text::jsonb, $3::text::timestamptz, $4::text::timestamptz, $5)",
        &[&source, key, from, to, &max_points],
    )
    .await?;
    Ok(json_response(body))
}

pub async fn freshness(State(state): State<Arc<AppState>>, Query(p): Params) -> AppResult<Response> {
    only(&p, &["source"])?;
    let source = p.get("source");
    Ok(json_response(rows_json(&state, "api.freshness($1)", &[&source]).await?))
}

/// The congestion endpoints' arguments after the series name: the window,
/// then each optional parameter of `optional` as text (NULL when absent:
/// the SQL default), then the typed ones the caller appends.
fn congestion_params<'a>(
    source: &'a String,
    p: &'a HashMap<String, String>,
    optional: &[&str],
) -> AppResult<Vec<&'a (dyn ToSql + Sync)>> {
    let (from, to) = window(p)?;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![source, from, to];
    params.extend(optional.iter().map(|n| match p.get_key_value(*n) {
        Some((_, v)) => v as &(dyn ToSql + Sync),
        None => &None::<String> as &(dyn ToSql + Sync),
    }));
    Ok(params)
}

pub async fn zone_classify(
    State(state): State<Arc<AppState>>,
    Path(source): Path<String>,
    Query(p): Params,
) -> AppResult<Response> {
    const COLUMNS: [&str; 8] = [
        "iso_column",
        "timezone",
        "zone_column",
        "time_column",
        "lmp_column",
        "energy_column",
        "congestion_column",
        "loss_column",
    ];
    only(&p, &[&["from", "to", "threshold"][..], &COLUMNS].concat())?;
    let threshold = number(&p, "threshold")?;
    let mut params = congestion_params(&source, &p, &COLUMNS)?;
    params.push(&threshold);
    let body = rows_json(
        &state,
        "api.zone_classify($1, $2::text::timestamptz, $3::text::timestamptz, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &params,
    )
    .await?;
    Ok(json_response(body))
}

pub async fn pnode_severity(
    State(state): State<Arc<AppState>>,
    Path(source): Path<String>,
    Query(p): Params,
) -> AppResult<Response> {
    const COLUMNS: [&str; 5] = ["iso_column", "node_column", "zone_column", "time_column", "congestion_column"];
    only(&p, &[&["from", "to", "min_hours", "threshold"][..], &COLUMNS].concat())?;
    let min_hours = p.get("min_hours").map(|_| integer(&p, "min_hours", 0)).transpose()?;
    let threshold = number(&p, "threshold")?;
    let mut params = congestion_params(&source, &p, &COLUMNS)?;
    params.push(&min_hours);
    params.push(&threshold);
    let body = rows_json(
        &state,
        "api.pnode_severity($1, $2::text::timestamptz, $3::text::timestamptz, $4, $5, $6, $7, $8, $9, $10)",
        &params,
    )
    .await?;
    Ok(json_response(body))
}

fn window(p: &HashMap<String, String>) -> AppResult<(&String, &String)> {
    let from = p.get("from").ok_or_else(|| AppError::bad_request("\"from\" is required"))?;
    let to = p.get("to").ok_or_else(|| AppError::bad_request("\"to\" is required"))?;
    Ok((from, to))
}
