//! The `"cluster"` option of a point layer.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{json_kind, OptionsError};
pub use gridkit_cluster::aggregate::AggFn;

/// How a point layer is clustered at low zoom.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterOptions {
    /// Radius in pixels of a 512-pixel tile.
    pub radius: f64,
    /// Points are clustered up to this zoom, shown one by one above it.
    pub max_zoom: u8,
    /// A group of fewer points is not a cluster.
    pub min_points: u32,
    /// (attribute, aggregate) in the order given.
    #[serde(serialize_with = "aggregate_names")]
    pub aggregates: Vec<(String, AggFn)>,
    /// Points cluster only with points of the same value of this attribute.
    pub partition_by: Option<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { radius: 40.0, max_zoom: 9, min_points: 2, aggregates: Vec::new(), partition_by: None }
    }
}

pub const KNOWN: &[&str] = &["radius", "max_zoom", "min_points", "aggregates", "partition_by"];
pub const RADIUS_RANGE: (f64, f64) = (1.0, 512.0);
/// Clusters below zoom 21: a 40-pixel radius there is a few metres.
pub const MAX_ZOOM_LIMIT: u8 = 20;
pub const AGGREGATES: &str = "count, sum, avg, min, max, mode";

/// Names the tile gives cluster features; attributes may not use them.
pub const RESERVED: &[&str] = &["cluster", "cluster_id", "point_count", "expansion_zoom"];

/// `[["mw", "sum"], ...]`, as the option is written.
fn aggregate_names<S: Serializer>(aggregates: &[(String, AggFn)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(aggregates.iter().map(|(attribute, f)| (attribute, f.name())))
}

fn err(message: String) -> OptionsError {
    OptionsError::Cluster(message)
}

impl ClusterOptions {
    pub fn parse(value: &Value) -> Result<ClusterOptions, OptionsError> {
        let Value::Object(map) = value else {
            return Err(err(format!("\"cluster\" must be an object, not {}", json_kind(value))));
        };
        let mut names: Vec<&String> = map.keys().collect();
        names.sort();
        if let Some(n) = names.into_iter().find(|n| !KNOWN.contains(&n.as_str())) {
            return Err(err(format!(
                "unknown cluster option \"{n}\"; known cluster options are: {}",
                KNOWN.join(", ")
            )));
        }
        let mut o = ClusterOptions::default();
        if let Some(v) = map.get("radius") {
            match v.as_f64() {
                Some(r) if (RADIUS_RANGE.0..=RADIUS_RANGE.1).contains(&r) => o.radius = r,
                _ => {
                    return Err(err(format!(
                        "cluster option \"radius\" must be a number of pixels between {} and {}, not {v}",
                        RADIUS_RANGE.0, RADIUS_RANGE.1
                    )))
                }
            }
        }
        if let Some(v) = map.get("max_zoom") {
            match v.as_u64() {
                Some(z) if z <= u64::from(MAX_ZOOM_LIMIT) => o.max_zoom = z as u8,
                _ => {
                    return Err(err(format!(
                        "cluster option \"max_zoom\" must be an integer between 0 and {MAX_ZOOM_LIMIT}, not {v}"
                    )))
                }
            }
        }
        if let Some(v) = map.get("min_points") {
            match v.as_u64() {
                Some(n) if (2..=1_000_000).contains(&n) => o.min_points = n as u32,
                _ => {
                    return Err(err(format!(
                        "cluster option \"min_points\" must be an integer between 2 and 1000000, not {v}"
                    )))
                }
            }
        }
        if let Some(v) = map.get("partition_by") {
            match v {
                Value::String(s) if !s.is_empty() => o.partition_by = Some(s.clone()),
                _ => return Err(err(format!("cluster option \"partition_by\" must be an attribute name, not {v}"))),
            }
        }
        if let Some(v) = map.get("aggregates") {
            let Value::Object(aggs) = v else {
                return Err(err(format!(
                    "cluster option \"aggregates\" must be an object of attribute: aggregate, not {}",
                    json_kind(v)
                )));
            };
            o.aggregates = parse_aggregates(aggs)?;
        }
        Ok(o)
    }
}

fn parse_aggregates(aggs: &Map<String, Value>) -> Result<Vec<(String, AggFn)>, OptionsError> {
    let mut out = Vec::with_capacity(aggs.len());
    for (attr, f) in aggs {
        let f = f
            .as_str()
            .and_then(AggFn::parse)
            .ok_or_else(|| err(format!("aggregate of \"{attr}\" must be one of {AGGREGATES}, not {f}")))?;
        out.push((attr.clone(), f));
    }
    Ok(out)
}
