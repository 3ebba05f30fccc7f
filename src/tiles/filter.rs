//! Tile filters resolved against a layer: each value checked against its
//! attribute's type and turned into the text the tile query binds.

use gridkit_options::filter::{self, FilterValue};
use pgrx::JsonB;

use gridkit_mvt::AttrValue;

use crate::error::*;
use crate::layers::plan::{AttrKind, LayerPlan};
use gridkit_cluster::points::ValueKey;

/// A filter ready to bind: per attribute index, the accepted values as text
/// (`None`: no condition on that attribute).
pub struct ResolvedFilter {
    pub values: Vec<Option<Vec<String>>>,
}

impl ResolvedFilter {
    pub fn parse(plan: &LayerPlan, json: &JsonB) -> SqlResult<ResolvedFilter> {
        let bad = |m: String| SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, m);
        let conditions = filter::parse(&json.0).map_err(|e| bad(format!("layer \"{}\": {e}", plan.name)))?;
        let mut values: Vec<Option<Vec<String>>> = vec![None; plan.attributes.len()];
        for c in conditions {
            let Some(i) = plan.attribute_index(&c.attribute) else {
                let known: Vec<&str> = plan.attributes.iter().map(|a| a.name.as_str()).collect();
                return Err(bad(format!(
                    "cannot filter layer \"{}\" on \"{}\": it is not a registered attribute",
                    plan.name, c.attribute
                ))
                .hint(if known.is_empty() {
                    "The layer has no attributes.".to_string()
                } else {
                    format!("Registered attributes: {}.", known.join(", "))
                }));
            };
            let kind = plan.attributes[i].kind;
            let texts = c
                .values
                .iter()
                .map(|v| {
                    canonical(kind, v).ok_or_else(|| {
                        bad(format!(
                            "cannot filter layer \"{}\" on \"{}\": {} is not {}",
                            plan.name,
                            c.attribute,
                            show(v),
                            match kind {
                                AttrKind::Int => "an integer",
                                AttrKind::Float | AttrKind::Double => "a number",
                                AttrKind::Bool => "a boolean",
                                AttrKind::Text => "a text value",
                            }
                        ))
                    })
                })
                .collect::<SqlResult<Vec<String>>>()?;
            values[i] = Some(texts);
        }
        Ok(ResolvedFilter { values })
    }

    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    /// The values of attribute `index` when the filter is on that attribute
    /// alone.
    pub fn only_on(&self, index: usize) -> Option<&[String]> {
        let others = self.values.iter().enumerate().any(|(i, v)| i != index && v.is_some());
        if others {
            return None;
        }
        self.values[index].as_deref()
    }
}

fn show(v: &FilterValue) -> String {
    match v {
        FilterValue::Text(s) => format!("\"{s}\""),
        other => other.to_sql_text(),
    }
}

/// The value as the text PostgreSQL reads for a column of `kind`; `None`
/// when it cannot be one. The text is `ValueKey::canonical_text` of the
/// value read as that kind, which is also how pyramids store partition
/// values, so a filter on the partition attribute matches them exactly.
pub fn canonical(kind: AttrKind, v: &FilterValue) -> Option<String> {
    let value = match (kind, v) {
        (AttrKind::Int, FilterValue::Number(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => AttrValue::Int(*n as i64),
        (AttrKind::Int, FilterValue::Text(s)) => AttrValue::Int(s.trim().parse::<i64>().ok()?),
        (AttrKind::Float | AttrKind::Double, FilterValue::Number(n)) => AttrValue::Double(*n),
        (AttrKind::Float | AttrKind::Double, FilterValue::Text(s)) => AttrValue::Double(s.trim().parse::<f64>().ok()?),
        (AttrKind::Bool, FilterValue::Bool(b)) => AttrValue::Bool(*b),
        (AttrKind::Bool, FilterValue::Text(s)) => AttrValue::Bool(s.parse::<bool>().ok()?),
        (AttrKind::Text, v) => return Some(v.to_sql_text()),
        _ => return None,
    };
    let value = match value {
        AttrValue::Double(d) if !d.is_finite() => return None,
        // Stored reals are read as f32: compare at that precision.
        AttrValue::Double(d) if kind == AttrKind::Float => AttrValue::Float(d as f32),
        v => v,
    };
    Some(ValueKey::from_attr(&value).canonical_text())
}
