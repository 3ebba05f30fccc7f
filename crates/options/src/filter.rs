//! Tile filters: `{"iso_id": "PJM"}`, `{"tier": ["critical", "elevated"]}`.
//! Equality or membership on attributes; values are data, never SQL.
//!
//! [`parse`] reads the JSON; [`TypedFilter::resolve`] checks it against a
//! layer's attributes and turns each value into its attribute's type, the
//! form both readers use: the tile query binds the values as typed arrays,
//! and the packed points of a cluster build test values with
//! [`Accepted::matches`]. Both compare as PostgreSQL's `=` does.

use std::collections::BTreeSet;

use gridkit_attrs::{AttrKind, AttrValue};
use gridkit_cluster::points::ValueKey;
use serde_json::Value;

use crate::json_kind;

/// One filter value.
#[derive(Clone, Debug, PartialEq)]
pub enum FilterValue {
    Text(String),
    Number(f64),
    Bool(bool),
}

impl FilterValue {
    /// The value as PostgreSQL's text input for a column of its kind.
    pub fn to_sql_text(&self) -> String {
        match self {
            FilterValue::Text(s) => s.clone(),
            FilterValue::Number(n) => format!("{n}"),
            FilterValue::Bool(b) => b.to_string(),
        }
    }
}

/// Attribute = any of `values`.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub attribute: String,
    pub values: Vec<FilterValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("a filter must be a JSON object of attribute: value or attribute: [values], not {0}")]
    NotAnObject(&'static str),
    #[error("filter on \"{0}\": a value must be a string, a number or a boolean, not {1}")]
    BadValue(String, &'static str),
    #[error("filter on \"{0}\": the list of values is empty")]
    Empty(String),
    #[error("filter on \"{0}\": at most 1000 values")]
    TooMany(String),
}

fn value(attr: &str, v: &Value) -> Result<FilterValue, FilterError> {
    match v {
        Value::String(s) => Ok(FilterValue::Text(s.clone())),
        Value::Number(n) => Ok(FilterValue::Number(n.as_f64().unwrap_or(f64::NAN))),
        Value::Bool(b) => Ok(FilterValue::Bool(*b)),
        other => Err(FilterError::BadValue(attr.to_string(), json_kind(other))),
    }
}

/// Parses a filter; conditions sorted by attribute name (so equal filters
/// give equal plans and cache keys).
pub fn parse(filter: &Value) -> Result<Vec<Condition>, FilterError> {
    let Value::Object(map) = filter else { return Err(FilterError::NotAnObject(json_kind(filter))) };
    let mut out = Vec::with_capacity(map.len());
    for (attr, v) in map {
        let values = match v {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(FilterError::Empty(attr.clone()));
                }
                if items.len() > 1000 {
                    return Err(FilterError::TooMany(attr.clone()));
                }
                items.iter().map(|i| value(attr, i)).collect::<Result<Vec<_>, _>>()?
            }
            v => vec![value(attr, v)?],
        };
        out.push(Condition { attribute: attr.clone(), values });
    }
    out.sort_by(|a, b| a.attribute.cmp(&b.attribute));
    Ok(out)
}

/// The values one attribute accepts, in its type, without repeats.
#[derive(Clone, Debug, PartialEq)]
pub enum Accepted {
    Text(BTreeSet<String>),
    Int(BTreeSet<i64>),
    /// f64 bits, zero unsigned (`-0 = 0` in SQL). A `real` attribute's
    /// values are rounded to `real` first: the stored values are, so a
    /// filter value is compared at the precision it can match.
    Number(BTreeSet<u64>),
    Bool(BTreeSet<bool>),
}

fn number_bits(x: f64) -> u64 {
    (x + 0.0).to_bits()
}

impl Accepted {
    /// No value yet, for an attribute of `kind`.
    fn empty(kind: AttrKind) -> Accepted {
        match kind {
            AttrKind::Text => Accepted::Text(BTreeSet::new()),
            AttrKind::Int => Accepted::Int(BTreeSet::new()),
            AttrKind::Float | AttrKind::Double => Accepted::Number(BTreeSet::new()),
            AttrKind::Bool => Accepted::Bool(BTreeSet::new()),
        }
    }

    /// Adds `v` as a value of an attribute of `kind`; `None` when it cannot
    /// be one. Text stands for any kind (as SQL's untyped literals do); a
    /// number or boolean is a text attribute's value as written.
    fn add(&mut self, kind: AttrKind, v: &FilterValue) -> Option<()> {
        match (self, v) {
            (Accepted::Text(set), FilterValue::Text(s)) => {
                set.insert(s.clone());
            }
            (Accepted::Text(set), other) => {
                set.insert(other.to_sql_text());
            }
            (Accepted::Int(set), FilterValue::Number(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                set.insert(*n as i64);
            }
            (Accepted::Int(set), FilterValue::Text(s)) => {
                set.insert(s.trim().parse::<i64>().ok()?);
            }
            (Accepted::Number(set), v) => {
                let d = match v {
                    FilterValue::Number(n) => *n,
                    FilterValue::Text(s) => s.trim().parse::<f64>().ok()?,
                    FilterValue::Bool(_) => return None,
                };
                if !d.is_finite() {
                    return None;
                }
                // Stored reals are read as f32: compare at that precision.
                let d = if kind == AttrKind::Float { f64::from(d as f32) } else { d };
                set.insert(number_bits(d));
            }
            (Accepted::Bool(set), FilterValue::Bool(b)) => {
                set.insert(*b);
            }
            (Accepted::Bool(set), FilterValue::Text(s)) => {
                set.insert(s.parse::<bool>().ok()?);
            }
            _ => return None,
        }
        Some(())
    }

    /// Whether an attribute value read from the source or a build matches.
    /// A value of another kind matches nothing (as NULL does not).
    pub fn matches(&self, v: &AttrValue<'_>) -> bool {
        match (self, *v) {
            (Accepted::Text(set), AttrValue::String(s)) => set.contains(s),
            (Accepted::Int(set), AttrValue::Int(n)) => set.contains(&n),
            (Accepted::Number(set), AttrValue::Double(d)) => set.contains(&number_bits(d)),
            (Accepted::Number(set), AttrValue::Float(f)) => set.contains(&number_bits(f64::from(f))),
            (Accepted::Bool(set), AttrValue::Bool(b)) => set.contains(&b),
            _ => false,
        }
    }

    /// The values as `ValueKey::canonical_text` writes them, which is how
    /// cluster builds store the partition attribute's values.
    pub fn canonical_texts(&self) -> Vec<String> {
        let key = |v: AttrValue<'_>| ValueKey::from_attr(&v).canonical_text();
        match self {
            Accepted::Text(set) => set.iter().cloned().collect(),
            Accepted::Int(set) => set.iter().map(|&n| key(AttrValue::Int(n))).collect(),
            Accepted::Number(set) => set.iter().map(|&b| key(AttrValue::Double(f64::from_bits(b)))).collect(),
            Accepted::Bool(set) => set.iter().map(|&b| key(AttrValue::Bool(b))).collect(),
        }
    }
}

/// A filter checked against a layer's attributes: per attribute (by index),
/// the values it accepts, or `None` for no condition.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedFilter {
    on: Vec<Option<Accepted>>,
}

/// Why a filter does not fit a layer; the messages name the layer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    #[error("layer \"{layer}\": {error}")]
    Malformed { layer: String, error: FilterError },
    #[error("cannot filter layer \"{layer}\" on \"{attribute}\": it is not a registered attribute")]
    NotAnAttribute { layer: String, attribute: String, known: Vec<String> },
    #[error("cannot filter layer \"{layer}\" on \"{attribute}\": {value} is not {expected}")]
    WrongType { layer: String, attribute: String, value: String, expected: &'static str },
}

impl ResolveError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ResolveError::NotAnAttribute { known, .. } if known.is_empty() => {
                Some("The layer has no attributes.".to_string())
            }
            ResolveError::NotAnAttribute { known, .. } => Some(format!("Registered attributes: {}.", known.join(", "))),
            _ => None,
        }
    }
}

fn expected(kind: AttrKind) -> &'static str {
    match kind {
        AttrKind::Int => "an integer",
        AttrKind::Float | AttrKind::Double => "a number",
        AttrKind::Bool => "a boolean",
        AttrKind::Text => "a text value",
    }
}

fn shown(v: &FilterValue) -> String {
    match v {
        FilterValue::Text(s) => format!("\"{s}\""),
        other => other.to_sql_text(),
    }
}

impl TypedFilter {
    /// Parses `filter` and checks it against `attributes` (name and kind,
    /// in the layer's order) of layer `layer`.
    pub fn resolve(layer: &str, filter: &Value, attributes: &[(&str, AttrKind)]) -> Result<TypedFilter, ResolveError> {
        let conditions = parse(filter).map_err(|error| ResolveError::Malformed { layer: layer.to_string(), error })?;
        let mut on: Vec<Option<Accepted>> = vec![None; attributes.len()];
        for c in conditions {
            let Some(i) = attributes.iter().position(|(name, _)| *name == c.attribute) else {
                return Err(ResolveError::NotAnAttribute {
                    layer: layer.to_string(),
                    attribute: c.attribute,
                    known: attributes.iter().map(|(name, _)| name.to_string()).collect(),
                });
            };
            let kind = attributes[i].1;
            let mut accepted = Accepted::empty(kind);
            for v in &c.values {
                accepted.add(kind, v).ok_or_else(|| ResolveError::WrongType {
                    layer: layer.to_string(),
                    attribute: c.attribute.clone(),
                    value: shown(v),
                    expected: expected(kind),
                })?;
            }
            on[i] = Some(accepted);
        }
        Ok(TypedFilter { on })
    }

    /// Whether the filter has no condition at all.
    pub fn is_empty(&self) -> bool {
        self.on.iter().all(Option::is_none)
    }

    /// Per attribute index, the values it accepts (`None`: no condition).
    pub fn conditions(&self) -> &[Option<Accepted>] {
        &self.on
    }

    /// The filtered attributes with what each accepts.
    pub fn filtered(&self) -> impl Iterator<Item = (usize, &Accepted)> {
        self.on.iter().enumerate().filter_map(|(i, a)| a.as_ref().map(|a| (i, a)))
    }

    /// What attribute `index` accepts when the filter is on that attribute
    /// alone.
    pub fn only_on(&self, index: usize) -> Option<&Accepted> {
        let others = self.on.iter().enumerate().any(|(i, v)| i != index && v.is_some());
        if others {
            return None;
        }
        self.on.get(index)?.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_equality_and_lists() {
        let f = parse(&json!({"tier": ["critical", "elevated"], "iso_id": "PJM", "kv": 345, "on": true})).unwrap();
        assert_eq!(f.iter().map(|c| c.attribute.as_str()).collect::<Vec<_>>(), ["iso_id", "kv", "on", "tier"]);
        assert_eq!(f[0].values, [FilterValue::Text("PJM".into())]);
        assert_eq!(f[1].values, [FilterValue::Number(345.0)]);
        assert_eq!(f[3].values.len(), 2);
        assert!(parse(&json!({})).unwrap().is_empty());
    }

    #[test]
    fn rejects_what_it_cannot_bind() {
        assert_eq!(parse(&json!([1])).unwrap_err(), FilterError::NotAnObject("an array"));
        assert_eq!(parse(&json!({"a": null})).unwrap_err(), FilterError::BadValue("a".into(), "null"));
        assert_eq!(parse(&json!({"a": {"$gt": 1}})).unwrap_err(), FilterError::BadValue("a".into(), "an object"));
        assert_eq!(parse(&json!({"a": []})).unwrap_err(), FilterError::Empty("a".into()));
        assert_eq!(parse(&json!({"a": [[1]]})).unwrap_err(), FilterError::BadValue("a".into(), "an array"));
    }

    fn layer() -> Vec<(&'static str, AttrKind)> {
        vec![
            ("iso", AttrKind::Text),
            ("units", AttrKind::Int),
            ("mw", AttrKind::Double),
            ("share", AttrKind::Float),
            ("open", AttrKind::Bool),
        ]
    }

    #[test]
    fn resolves_each_value_to_its_attributes_type() {
        let f = TypedFilter::resolve(
            "sites",
            &json!({"iso": ["PJM", 7], "units": [3, "4", 3], "mw": -0.0, "share": 0.1, "open": "true"}),
            &layer(),
        )
        .unwrap();
        assert!(!f.is_empty());
        let on = f.conditions();
        assert_eq!(on[0], Some(Accepted::Text(["7".to_string(), "PJM".to_string()].into())));
        assert_eq!(on[1], Some(Accepted::Int([3, 4].into())));
        // -0 is 0, as in SQL.
        assert!(on[2].as_ref().unwrap().matches(&AttrValue::Double(0.0)));
        // A real attribute holds 0.1 rounded to real; the filter matches it
        // and not the double 0.1.
        let share = on[3].as_ref().unwrap();
        assert!(share.matches(&AttrValue::Float(0.1)));
        assert!(!share.matches(&AttrValue::Double(0.1)));
        assert_eq!(share.canonical_texts(), [f64::from(0.1f32).to_string()]);
        assert_eq!(on[4], Some(Accepted::Bool([true].into())));
        // Another kind never matches (a text "3" is not the integer 3).
        assert!(!on[1].as_ref().unwrap().matches(&AttrValue::String("3")));
        assert_eq!(on[1].as_ref().unwrap().canonical_texts(), ["3", "4"]);
        assert_eq!(f.filtered().map(|(i, _)| i).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!(f.only_on(1), None);
    }

    #[test]
    fn only_on_names_the_single_filtered_attribute() {
        let f = TypedFilter::resolve("sites", &json!({"units": 2}), &layer()).unwrap();
        assert_eq!(f.only_on(1), Some(&Accepted::Int([2].into())));
        assert_eq!(f.only_on(0), None);
        assert!(TypedFilter::resolve("sites", &json!({}), &layer()).unwrap().is_empty());
    }

    #[test]
    fn refuses_what_the_layer_cannot_match() {
        let err = |f: Value| TypedFilter::resolve("sites", &f, &layer()).unwrap_err();
        let e = err(json!({"colour": "red"}));
        assert_eq!(e.to_string(), "cannot filter layer \"sites\" on \"colour\": it is not a registered attribute");
        assert_eq!(e.hint().unwrap(), "Registered attributes: iso, units, mw, share, open.");
        let none = TypedFilter::resolve("bare", &json!({"a": 1}), &[]).unwrap_err();
        assert_eq!(none.hint().unwrap(), "The layer has no attributes.");
        for (filter, message) in [
            (json!({"units": "many"}), "cannot filter layer \"sites\" on \"units\": \"many\" is not an integer"),
            (json!({"units": 1.5}), "cannot filter layer \"sites\" on \"units\": 1.5 is not an integer"),
            (json!({"mw": "NaN"}), "cannot filter layer \"sites\" on \"mw\": \"NaN\" is not a number"),
            (json!({"open": 1}), "cannot filter layer \"sites\" on \"open\": 1 is not a boolean"),
            (
                json!({"iso": null}),
                "layer \"sites\": filter on \"iso\": a value must be a string, a number or a boolean, not null",
            ),
        ] {
            assert_eq!(err(filter).to_string(), message);
        }
        assert_eq!(err(json!({"units": 1.5})).hint(), None);
    }
}
