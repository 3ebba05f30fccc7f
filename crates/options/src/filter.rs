//! Tile filters: `{"iso_id": "PJM"}`, `{"tier": ["critical", "elevated"]}`.
//! Equality or membership on attributes; values are data, never SQL.

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
}
