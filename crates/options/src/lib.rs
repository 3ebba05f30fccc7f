//! Parsing and validation of a layer's `options` (the jsonb given to
//! `gridkit.layer_register`). Every rejection says which option is wrong and
//! what would be accepted, so the message can go to the user unchanged.

use serde::Serialize;
use serde_json::{json, Map, Value};

pub mod cluster;
pub mod filter;
pub mod zoom;

pub use cluster::ClusterOptions;
pub use zoom::ZoomRules;

/// Options of one layer, with defaults applied where the layer sets none.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerOptions {
    /// Tile units per tile side.
    pub extent: u32,
    /// Tile units kept outside the tile on every side.
    pub buffer: u32,
    /// Most features per tile; `None` means the server default (`gridkit.max_features`).
    pub max_features: Option<u32>,
    /// Most bytes per tile layer; `None` means the server default (`gridkit.max_bytes`).
    pub max_bytes: Option<u32>,
    /// Point clustering at low zoom; `None`: points are shown one by one.
    pub cluster: Option<ClusterOptions>,
    /// `min_zoom` and `zoom_rules`: which features show at which zoom.
    pub zoom: ZoomRules,
    pub simplify: SimplifyOptions,
    /// The attribute a full tile keeps features by, before size.
    pub rank: Option<RankOptions>,
    /// Seconds HTTP clients and proxies may keep this layer's tiles
    /// (`Cache-Control: max-age`); `None`: the server's default.
    pub max_age: Option<u32>,
}

impl Default for LayerOptions {
    fn default() -> Self {
        LayerOptions {
            extent: 4096,
            buffer: 64,
            max_features: None,
            max_bytes: None,
            cluster: None,
            zoom: ZoomRules::default(),
            simplify: SimplifyOptions::default(),
            rank: None,
            max_age: None,
        }
    }
}

/// How lines and polygons are simplified for a zoom.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimplifyOptions {
    /// Douglas–Peucker tolerance in screen pixels; a pixel is 1/512 of a
    /// tile's side (MapLibre draws vector tiles 512 pixels wide).
    pub tolerance_px: f64,
    /// The highest zoom `generalize_refresh` stores; `None`: up to the first
    /// zoom where simplification keeps most of the vertices.
    pub max_zoom: Option<u8>,
}

impl Default for SimplifyOptions {
    fn default() -> Self {
        SimplifyOptions { tolerance_px: 1.0, max_zoom: None }
    }
}

impl SimplifyOptions {
    /// Tile pixels per tile side.
    pub const TILE_PX: f64 = 512.0;

    /// The tolerance in tile units for a layer of `extent` units per side.
    pub fn tolerance_units(&self, extent: u32) -> f64 {
        self.tolerance_px * f64::from(extent) / Self::TILE_PX
    }
}

/// `"rank": "voltage_kv"` or `{"attribute": "voltage_kv", "order": "desc"}`:
/// a full tile keeps the highest (`desc`, the default) or lowest (`asc`)
/// values first; features without a value go first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RankOptions {
    pub attribute: String,
    pub descending: bool,
}

/// The option names this version understands.
pub const KNOWN_OPTIONS: &[&str] = &[
    "extent",
    "buffer",
    "max_features",
    "max_bytes",
    "cluster",
    "min_zoom",
    "zoom_rules",
    "simplify",
    "rank",
    "max_age",
];
/// Largest `simplify.tolerance_px`.
pub const MAX_TOLERANCE_PX: f64 = 64.0;

pub const EXTENT_RANGE: (u32, u32) = (256, 65536);
pub const MAX_FEATURES_RANGE: (u32, u32) = (1, 10_000_000);
pub const MAX_BYTES_RANGE: (u32, u32) = (1024, 256 * 1024 * 1024);
/// Up to a year, the longest `max-age` HTTP caches honour.
pub const MAX_AGE_RANGE: (u32, u32) = (0, 31_536_000);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("options must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("unknown option \"{name}\"; known options are: {known}")]
    Unknown { name: String, known: String },
    #[error("option \"{name}\" must be an integer between {min} and {max}, not {got}")]
    OutOfRange { name: &'static str, min: u64, max: u64, got: String },
    #[error("{0}")]
    Cluster(String),
    #[error("{0}")]
    ZoomRules(String),
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn integer(map: &Map<String, Value>, name: &'static str, (min, max): (u32, u32)) -> Result<Option<u32>, OptionsError> {
    let Some(v) = map.get(name) else { return Ok(None) };
    match v.as_u64() {
        Some(n) if n >= u64::from(min) && n <= u64::from(max) => Ok(Some(n as u32)),
        _ => Err(OptionsError::OutOfRange { name, min: u64::from(min), max: u64::from(max), got: v.to_string() }),
    }
}

impl LayerOptions {
    /// What a cluster build depends on of the options, defaults spelled
    /// out: `{"cluster": {}}` and `{"cluster": {"radius": 40}}` are the
    /// same build. Stored with a build and compared when it is read.
    pub fn cluster_settings(&self) -> Value {
        json!({ "cluster": self.cluster })
    }

    /// What generalized bands depend on of the options, defaults spelled
    /// out: which features show at each zoom, how they are simplified, and
    /// the tile layout and budget bands are thinned by.
    pub fn band_settings(&self) -> Value {
        json!({
            "zoom": self.zoom,
            "simplify": self.simplify,
            "rank": self.rank,
            "extent": self.extent,
            "buffer": self.buffer,
            "max_bytes": self.max_bytes,
            "max_features": self.max_features,
        })
    }

    /// Parses and validates `options`.
    pub fn parse(options: &Value) -> Result<Self, OptionsError> {
        let Value::Object(map) = options else {
            return Err(OptionsError::NotAnObject(json_kind(options)));
        };
        // Sorted, so the first unknown name reported does not depend on hashing.
        let mut names: Vec<&String> = map.keys().collect();
        names.sort();
        if let Some(name) = names.into_iter().find(|n| !KNOWN_OPTIONS.contains(&n.as_str())) {
            return Err(OptionsError::Unknown { name: name.clone(), known: KNOWN_OPTIONS.join(", ") });
        }
        let mut o = LayerOptions::default();
        if let Some(e) = integer(map, "extent", EXTENT_RANGE)? {
            o.extent = e;
        }
        if let Some(b) = integer(map, "buffer", (0, o.extent))? {
            o.buffer = b;
        }
        o.max_features = integer(map, "max_features", MAX_FEATURES_RANGE)?;
        o.max_bytes = integer(map, "max_bytes", MAX_BYTES_RANGE)?;
        o.max_age = integer(map, "max_age", MAX_AGE_RANGE)?;
        if let Some(c) = map.get("cluster") {
            o.cluster = Some(ClusterOptions::parse(c)?);
        }
        o.zoom = ZoomRules::parse(map.get("min_zoom"), map.get("zoom_rules"))?;
        if let Some(s) = map.get("simplify") {
            o.simplify = parse_simplify(s)?;
        }
        if let Some(r) = map.get("rank") {
            o.rank = Some(parse_rank(r)?);
        }
        Ok(o)
    }
}

fn parse_simplify(v: &Value) -> Result<SimplifyOptions, OptionsError> {
    let bad = |m: String| OptionsError::Invalid(m);
    let Value::Object(map) = v else {
        return Err(bad(format!(
            "\"simplify\" must be an object such as {{\"tolerance_px\": 1.0}}, not {}",
            json_kind(v)
        )));
    };
    if let Some(k) = map.keys().find(|k| !matches!(k.as_str(), "tolerance_px" | "max_zoom")) {
        return Err(bad(format!("unknown simplify option \"{k}\"; known options are: tolerance_px, max_zoom")));
    }
    let mut o = SimplifyOptions::default();
    if let Some(t) = map.get("tolerance_px") {
        o.tolerance_px = match t.as_f64() {
            Some(t) if (0.0..=MAX_TOLERANCE_PX).contains(&t) => t,
            _ => {
                return Err(bad(format!("\"tolerance_px\" must be a number between 0 and {MAX_TOLERANCE_PX}, not {t}")))
            }
        };
    }
    if let Some(z) = map.get("max_zoom") {
        o.max_zoom = Some(zoom::parse_zoom(z, "simplify \"max_zoom\"").map_err(bad)?);
    }
    Ok(o)
}

fn parse_rank(v: &Value) -> Result<RankOptions, OptionsError> {
    let bad = |m: String| OptionsError::Invalid(m);
    match v {
        Value::String(a) if !a.is_empty() => Ok(RankOptions { attribute: a.clone(), descending: true }),
        Value::Object(map) => {
            if let Some(k) = map.keys().find(|k| !matches!(k.as_str(), "attribute" | "order")) {
                return Err(bad(format!("unknown rank option \"{k}\"; known options are: attribute, order")));
            }
            let attribute = match map.get("attribute") {
                Some(Value::String(a)) if !a.is_empty() => a.clone(),
                _ => return Err(bad("\"rank\" needs \"attribute\": the name of a numeric attribute".into())),
            };
            let descending = match map.get("order") {
                None => true,
                Some(Value::String(o)) if o.eq_ignore_ascii_case("desc") => true,
                Some(Value::String(o)) if o.eq_ignore_ascii_case("asc") => false,
                Some(o) => return Err(bad(format!("rank \"order\" must be \"desc\" or \"asc\", not {o}"))),
            };
            Ok(RankOptions { attribute, descending })
        }
        other => Err(bad(format!(
            "\"rank\" must be an attribute name or {{\"attribute\": ..., \"order\": \"desc\"}}, not {}",
            json_kind(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        assert_eq!(LayerOptions::parse(&json!({})).unwrap(), LayerOptions::default());
    }

    #[test]
    fn build_settings_spell_out_the_defaults() {
        let settings = |o: Value| LayerOptions::parse(&o).unwrap();
        let spelled = settings(json!({"cluster": {"radius": 40, "max_zoom": 9, "min_points": 2}}));
        assert_eq!(settings(json!({"cluster": {}})).cluster_settings(), spelled.cluster_settings());
        assert_eq!(
            spelled.cluster_settings(),
            json!({"cluster": {"radius": 40.0, "max_zoom": 9, "min_points": 2, "aggregates": [], "partition_by": null}})
        );
        let aggregated = settings(json!({"cluster": {"aggregates": {"mw": "sum"}}})).cluster_settings();
        assert_eq!(aggregated["cluster"]["aggregates"], json!([["mw", "sum"]]));
        assert_ne!(settings(json!({"cluster": {"radius": 50}})).cluster_settings(), spelled.cluster_settings());
        assert_eq!(settings(json!({})).cluster_settings(), json!({"cluster": null}));

        let plain = settings(json!({})).band_settings();
        assert_eq!(settings(json!({"simplify": {}})).band_settings(), plain);
        assert_eq!(
            settings(json!({"simplify": {"tolerance_px": 1}, "extent": 4096, "buffer": 64})).band_settings(),
            plain
        );
        assert_eq!(plain["simplify"], json!({"tolerance_px": 1.0, "max_zoom": null}));
        assert_ne!(settings(json!({"simplify": {"tolerance_px": 2}})).band_settings(), plain);
        let ruled = settings(json!({"min_zoom": 3, "zoom_rules": [{"max_zoom": 6, "where": {"kv": {">=": 345}}}],
                                    "rank": "kv"}))
        .band_settings();
        assert_eq!(ruled["zoom"]["min_zoom"], json!(3));
        assert_eq!(
            ruled["zoom"]["rules"],
            json!([{"max_zoom": 6, "predicate": {"compare": {"attribute": "kv", "op": "ge", "value": 345}}}])
        );
        assert_eq!(ruled["rank"], json!({"attribute": "kv", "descending": true}));
    }

    #[test]
    fn accepts_all_known_options() {
        let o =
            LayerOptions::parse(&json!({"extent": 512, "buffer": 8, "max_features": 10, "max_bytes": 2048})).unwrap();
        assert_eq!(
            o,
            LayerOptions {
                extent: 512,
                buffer: 8,
                max_features: Some(10),
                max_bytes: Some(2048),
                ..Default::default()
            }
        );
    }

    #[test]
    fn rejects_with_a_useful_message() {
        let e = LayerOptions::parse(&json!({"extnet": 512})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown option \"extnet\"; known options are: extent, buffer, max_features, max_bytes, cluster, \
             min_zoom, zoom_rules, simplify, rank, max_age"
        );
        assert!(LayerOptions::parse(&json!({"max_age": -1})).is_err());
        assert_eq!(LayerOptions::parse(&json!({"max_age": 300})).unwrap().max_age, Some(300));
        let e = LayerOptions::parse(&json!({"extent": 100})).unwrap_err();
        assert_eq!(e.to_string(), "option \"extent\" must be an integer between 256 and 65536, not 100");
        let e = LayerOptions::parse(&json!({"extent": 4096.5})).unwrap_err();
        assert!(e.to_string().ends_with("not 4096.5"));
        let e = LayerOptions::parse(&json!({"buffer": "64"})).unwrap_err();
        assert_eq!(e.to_string(), "option \"buffer\" must be an integer between 0 and 4096, not \"64\"");
        // The buffer's limit follows the extent.
        assert!(LayerOptions::parse(&json!({"extent": 256, "buffer": 300})).is_err());
        assert!(LayerOptions::parse(&json!({"max_features": 0})).is_err());
        assert!(LayerOptions::parse(&json!({"max_bytes": -5})).is_err());
        assert_eq!(LayerOptions::parse(&json!([1])).unwrap_err(), OptionsError::NotAnObject("an array"));
    }

    #[test]
    fn cluster_options() {
        let o = LayerOptions::parse(&json!({"cluster": {}})).unwrap();
        assert_eq!(o.cluster, Some(ClusterOptions::default()));
        let o = LayerOptions::parse(&json!({"cluster": {"radius": 60, "max_zoom": 12, "min_points": 3,
            "aggregates": {"capacity_mw": "sum", "tier": "mode"}, "partition_by": "iso_id"}}))
        .unwrap();
        let c = o.cluster.unwrap();
        assert_eq!((c.radius, c.max_zoom, c.min_points), (60.0, 12, 3));
        assert_eq!(c.partition_by.as_deref(), Some("iso_id"));
        assert_eq!(c.aggregates.len(), 2);
        let msg = |v: serde_json::Value| LayerOptions::parse(&v).unwrap_err().to_string();
        assert_eq!(msg(json!({"cluster": 1})), "\"cluster\" must be an object, not a number");
        assert!(msg(json!({"cluster": {"radus": 1}})).starts_with("unknown cluster option \"radus\""));
        assert!(msg(json!({"cluster": {"radius": 0}})).contains("between 1 and 512"));
        assert!(msg(json!({"cluster": {"max_zoom": 21}})).contains("between 0 and 20"));
        assert!(msg(json!({"cluster": {"min_points": 1}})).contains("between 2 and"));
        assert_eq!(
            msg(json!({"cluster": {"aggregates": {"x": "median"}}})),
            "aggregate of \"x\" must be one of count, sum, avg, min, max, mode, not \"median\""
        );
        assert!(msg(json!({"cluster": {"partition_by": 3}})).contains("attribute name"));
    }

    #[test]
    fn simplify_and_rank() {
        let o = LayerOptions::parse(&json!({"simplify": {"tolerance_px": 2.5, "max_zoom": 9}, "rank": "kv"})).unwrap();
        assert_eq!(o.simplify, SimplifyOptions { tolerance_px: 2.5, max_zoom: Some(9) });
        assert_eq!(o.simplify.tolerance_units(4096), 20.0);
        assert_eq!(o.rank, Some(RankOptions { attribute: "kv".into(), descending: true }));
        let o = LayerOptions::parse(&json!({"rank": {"attribute": "kv", "order": "ASC"}})).unwrap();
        assert_eq!(o.rank, Some(RankOptions { attribute: "kv".into(), descending: false }));
        assert_eq!(LayerOptions::default().simplify.tolerance_units(4096), 8.0);
        let msg = |v: serde_json::Value| LayerOptions::parse(&v).unwrap_err().to_string();
        assert!(msg(json!({"simplify": {"tolerance_px": -1}})).contains("between 0 and 64"));
        assert!(msg(json!({"simplify": {"tolerance": 1}})).contains("unknown simplify option \"tolerance\""));
        assert!(msg(json!({"simplify": 1})).contains("must be an object"));
        assert!(msg(json!({"rank": {"order": "desc"}})).contains("needs \"attribute\""));
        assert!(msg(json!({"rank": {"attribute": "kv", "order": "up"}})).contains("\"desc\" or \"asc\""));
        assert!(msg(json!({"rank": 3})).contains("attribute name"));
    }
}
