//! What a tile request names, checked before any SQL runs: the layer list
//! against the registry, the coordinates, and query parameters as a typed
//! `grid_tile` filter.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::error::{AppError, AppResult};
use crate::versions::LayerInfo;

const MAX_FILTERS: usize = 16;
const MAX_FILTER_VALUES: usize = 64;
const MAX_QUERY_BYTES: usize = 4096;

/// `12.mvt` -> 12; the extension is required.
pub fn tile_y(s: &str) -> Option<u32> {
    s.strip_suffix(".mvt").or_else(|| s.strip_suffix(".pbf"))?.parse().ok()
}

pub fn coordinate(what: &str, s: &str) -> AppResult<u32> {
    s.parse().map_err(|_| AppError::bad_request(format!("{what} must be a non-negative integer, not {s:?}")))
}

/// Checks the layer list against the registry when it is known.
pub fn layer_list(names: &str, layers: Option<&HashMap<String, LayerInfo>>) -> AppResult<Vec<String>> {
    // The same check as grid_tile's and the api's.
    let list: Vec<String> = gridkit_tilecoord::split_layers(names)
        .map_err(|e| AppError::bad_request(e.to_string()))?
        .into_iter()
        .map(str::to_owned)
        .collect();
    for n in &list {
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
pub fn filter_of(
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
