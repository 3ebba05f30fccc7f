//! Which features a tile shows at each zoom: `min_zoom` and `zoom_rules`,
//! a small predicate language on registered attributes. Rules are data, never
//! SQL text, so they are safe to take from users; the extension turns them
//! into SQL with quoted identifiers and typed literals.
//!
//! ```json
//! {"min_zoom": 5,
//!  "zoom_rules": [{"max_zoom": 6,  "where": {"voltage_kv": {">=": 345}}},
//!                 {"max_zoom": 8,  "where": {"voltage_kv": {">=": 230}}},
//!                 {"max_zoom": 10, "where": {"voltage_kv": {">=": 115}}}]}
//! ```
//!
//! At zoom z the first rule whose `max_zoom` ≥ z applies; past the last rule
//! every feature shows. A `where` object holds conditions that must all hold:
//! `"attr": value` (equality), `"attr": [values]` (any of), `"attr": {"op":
//! value, ...}` with op one of `= != < <= > >= in`, and `"any": [where, ...]`
//! / `"all": [where, ...]` to combine. A condition on a NULL attribute is not
//! met (as in SQL).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{json_kind, OptionsError};

/// Highest zoom a rule or `min_zoom` may name.
pub const MAX_ZOOM: u8 = 24;
/// Most values in one `in` list.
const MAX_VALUES: usize = 1000;
/// Most rules per layer (builds keep one bit per rule per feature).
pub const MAX_RULES: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    fn parse(s: &str) -> Option<CompareOp> {
        Some(match s {
            "=" | "==" => CompareOp::Eq,
            "!=" | "<>" => CompareOp::Ne,
            "<" => CompareOp::Lt,
            "<=" => CompareOp::Le,
            ">" => CompareOp::Gt,
            ">=" => CompareOp::Ge,
            _ => return None,
        })
    }

    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    pub fn is_ordering(self) -> bool {
        !matches!(self, CompareOp::Eq | CompareOp::Ne)
    }
}

/// A literal in a rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Literal {
    Text(String),
    /// Kept as JSON wrote it, so `345` stays an integer.
    Number(serde_json::Number),
    Bool(bool),
}

impl Literal {
    fn parse(v: &Value) -> Option<Literal> {
        match v {
            Value::String(s) => Some(Literal::Text(s.clone())),
            Value::Number(n) => Some(Literal::Number(n.clone())),
            Value::Bool(b) => Some(Literal::Bool(*b)),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Literal::Text(_) => "a string",
            Literal::Number(_) => "a number",
            Literal::Bool(_) => "a boolean",
        }
    }
}

/// A condition tree over attributes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Predicate {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Compare { attribute: String, op: CompareOp, value: Literal },
    In { attribute: String, values: Vec<Literal> },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoomRule {
    pub max_zoom: u8,
    pub predicate: Predicate,
}

/// A layer's visibility by zoom.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ZoomRules {
    /// Below this zoom the layer shows nothing.
    pub min_zoom: u8,
    /// Ascending `max_zoom`.
    pub rules: Vec<ZoomRule>,
}

/// A zoom level from JSON; the error names the option (`what`).
pub fn parse_zoom(v: &Value, what: &str) -> Result<u8, String> {
    match v.as_u64() {
        Some(z) if z <= u64::from(MAX_ZOOM) => Ok(z as u8),
        _ => Err(format!("{what} must be an integer between 0 and {MAX_ZOOM}, not {v}")),
    }
}

impl ZoomRules {
    /// The index of the rule that applies at zoom `z`, if any.
    pub fn rule_at(&self, z: u8) -> Option<usize> {
        self.rules.iter().position(|r| r.max_zoom >= z)
    }

    /// Whether the layer shows anything at zoom `z`.
    pub fn visible(&self, z: u8) -> bool {
        z >= self.min_zoom
    }

    pub fn parse(min_zoom: Option<&Value>, rules: Option<&Value>) -> Result<ZoomRules, OptionsError> {
        let bad = |m: String| OptionsError::ZoomRules(m);
        let mut out = ZoomRules::default();
        if let Some(v) = min_zoom {
            out.min_zoom = parse_zoom(v, "\"min_zoom\"").map_err(bad)?;
        }
        let Some(rules) = rules else { return Ok(out) };
        let Value::Array(rules) = rules else {
            return Err(bad(format!("\"zoom_rules\" must be an array of rules, not {}", json_kind(rules))));
        };
        if rules.len() > MAX_RULES {
            return Err(bad(format!("at most {MAX_RULES} zoom rules, not {}", rules.len())));
        }
        for (i, rule) in rules.iter().enumerate() {
            let n = i + 1;
            let Value::Object(rule) = rule else {
                return Err(bad(format!(
                    "zoom rule {n} must be an object {{\"max_zoom\": ..., \"where\": {{...}}}}, not {}",
                    json_kind(rule)
                )));
            };
            if let Some(k) = rule.keys().find(|k| !matches!(k.as_str(), "max_zoom" | "where")) {
                return Err(bad(format!("zoom rule {n}: unknown key \"{k}\"; a rule has \"max_zoom\" and \"where\"")));
            }
            let max_zoom = match rule.get("max_zoom") {
                None => return Err(bad(format!("zoom rule {n} has no \"max_zoom\""))),
                Some(v) => parse_zoom(v, &format!("zoom rule {n}: \"max_zoom\"")).map_err(bad)?,
            };
            if let Some(prev) = out.rules.last() {
                if max_zoom <= prev.max_zoom {
                    return Err(bad(format!(
                        "zoom rule {n}: \"max_zoom\" {max_zoom} must be greater than the previous rule's {}: \
                         the first rule whose max_zoom is at least the zoom applies, so this one never would",
                        prev.max_zoom
                    )));
                }
            }
            let Some(w) = rule.get("where") else { return Err(bad(format!("zoom rule {n} has no \"where\""))) };
            let predicate = parse_where(w).map_err(|m| bad(format!("zoom rule {n}: {m}")))?;
            out.rules.push(ZoomRule { max_zoom, predicate });
        }
        Ok(out)
    }
}

fn parse_where(v: &Value) -> Result<Predicate, String> {
    let Value::Object(map) = v else {
        return Err(format!("\"where\" must be an object of conditions, not {}", json_kind(v)));
    };
    if map.is_empty() {
        return Err("\"where\" is empty; leave the rule out to show every feature".into());
    }
    let mut all = Vec::with_capacity(map.len());
    for (key, cond) in sorted(map) {
        match key.as_str() {
            "any" | "all" => {
                let Value::Array(items) = cond else {
                    return Err(format!("\"{key}\" must be an array of conditions, not {}", json_kind(cond)));
                };
                if items.is_empty() {
                    return Err(format!("\"{key}\" is empty"));
                }
                let parts = items.iter().map(parse_where).collect::<Result<Vec<_>, _>>()?;
                all.push(if key == "any" { Predicate::Any(parts) } else { Predicate::All(parts) });
            }
            attribute => all.extend(parse_condition(attribute, cond)?),
        }
    }
    Ok(if all.len() == 1 { all.pop().expect("one") } else { Predicate::All(all) })
}

fn sorted(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn literal(attribute: &str, v: &Value) -> Result<Literal, String> {
    Literal::parse(v).ok_or_else(|| {
        format!("condition on \"{attribute}\": a value must be a string, a number or a boolean, not {}", json_kind(v))
    })
}

fn in_list(attribute: &str, v: &Value) -> Result<Predicate, String> {
    let Value::Array(items) = v else {
        return Err(format!("condition on \"{attribute}\": \"in\" takes an array of values, not {}", json_kind(v)));
    };
    if items.is_empty() {
        return Err(format!("condition on \"{attribute}\": the list of values is empty"));
    }
    if items.len() > MAX_VALUES {
        return Err(format!("condition on \"{attribute}\": at most {MAX_VALUES} values"));
    }
    let values = items.iter().map(|i| literal(attribute, i)).collect::<Result<Vec<_>, _>>()?;
    Ok(Predicate::In { attribute: attribute.to_string(), values })
}

fn parse_condition(attribute: &str, v: &Value) -> Result<Vec<Predicate>, String> {
    match v {
        Value::Array(_) => Ok(vec![in_list(attribute, v)?]),
        Value::Object(ops) => {
            if ops.is_empty() {
                return Err(format!("condition on \"{attribute}\" is empty"));
            }
            let mut out = Vec::with_capacity(ops.len());
            for (op, value) in sorted(ops) {
                if op == "in" {
                    out.push(in_list(attribute, value)?);
                    continue;
                }
                let Some(cmp) = CompareOp::parse(op) else {
                    return Err(format!(
                        "condition on \"{attribute}\": unknown operator \"{op}\"; use one of =, !=, <, <=, >, >=, in"
                    ));
                };
                out.push(Predicate::Compare {
                    attribute: attribute.to_string(),
                    op: cmp,
                    value: literal(attribute, value)?,
                });
            }
            Ok(out)
        }
        scalar => Ok(vec![Predicate::Compare {
            attribute: attribute.to_string(),
            op: CompareOp::Eq,
            value: literal(attribute, scalar)?,
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every (attribute, op, literal) in a tree (`None` for `in`).
    fn conditions(p: &Predicate) -> Vec<(&str, Option<CompareOp>, &Literal)> {
        match p {
            Predicate::All(ps) | Predicate::Any(ps) => ps.iter().flat_map(conditions).collect(),
            Predicate::Compare { attribute, op, value } => vec![(attribute.as_str(), Some(*op), value)],
            Predicate::In { attribute, values } => values.iter().map(|v| (attribute.as_str(), None, v)).collect(),
        }
    }

    fn rules(v: Value) -> Result<ZoomRules, String> {
        ZoomRules::parse(v.get("min_zoom"), v.get("zoom_rules")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_first_rule_covering_a_zoom_applies() {
        let r = rules(json!({"min_zoom": 5, "zoom_rules": [
            {"max_zoom": 6, "where": {"voltage_kv": {">=": 345}}},
            {"max_zoom": 8, "where": {"voltage_kv": {">=": 230}}},
            {"max_zoom": 10, "where": {"voltage_kv": {">=": 115}}}]}))
        .unwrap();
        assert_eq!(r.min_zoom, 5);
        assert!(!r.visible(4) && r.visible(5));
        let at: Vec<Option<usize>> = (0..=12).map(|z| r.rule_at(z)).collect();
        assert_eq!(at, [0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2].into_iter().map(Some).chain([None, None]).collect::<Vec<_>>());
        assert_eq!(
            r.rules[1].predicate,
            Predicate::Compare {
                attribute: "voltage_kv".into(),
                op: CompareOp::Ge,
                value: Literal::Number(230.into())
            }
        );
    }

    #[test]
    fn forms_of_conditions() {
        let r = rules(json!({"zoom_rules": [{"max_zoom": 3, "where": {
            "tier": ["critical", "elevated"], "owner": "PJM", "kv": {">": 100, "<=": 500},
            "any": [{"in_service": true}, {"kv": {"in": [765, 500]}}]}}]}))
        .unwrap();
        let Predicate::All(parts) = &r.rules[0].predicate else { panic!("expected all") };
        assert_eq!(parts.len(), 5);
        assert!(matches!(&parts[0], Predicate::Any(a) if a.len() == 2));
        assert_eq!(conditions(&r.rules[0].predicate).len(), 8);
    }

    #[test]
    fn rejections_say_what_is_wrong() {
        let msg = |v: Value| rules(v).unwrap_err();
        assert_eq!(msg(json!({"min_zoom": 25})), "\"min_zoom\" must be an integer between 0 and 24, not 25");
        assert_eq!(msg(json!({"zoom_rules": {}})), "\"zoom_rules\" must be an array of rules, not an object");
        assert_eq!(msg(json!({"zoom_rules": [{"where": {"a": 1}}]})), "zoom rule 1 has no \"max_zoom\"");
        assert_eq!(msg(json!({"zoom_rules": [{"max_zoom": 4}]})), "zoom rule 1 has no \"where\"");
        assert!(msg(json!({"zoom_rules": [{"max_zoom": 4, "where": {"a": 1}}, {"max_zoom": 4, "where": {"a": 2}}]}))
            .starts_with("zoom rule 2: \"max_zoom\" 4 must be greater than the previous rule's 4"));
        assert_eq!(
            msg(json!({"zoom_rules": [{"max_zoom": 4, "where": {"kv": {"~": 1}}}]})),
            "zoom rule 1: condition on \"kv\": unknown operator \"~\"; use one of =, !=, <, <=, >, >=, in"
        );
        assert!(msg(json!({"zoom_rules": [{"max_zoom": 4, "where": {"kv": null}}]})).contains("not null"));
        assert!(msg(json!({"zoom_rules": [{"max_zoom": 4, "where": {"kv": {"in": 5}}}]})).contains("takes an array"));
        assert!(msg(json!({"zoom_rules": [{"max_zoom": 4, "where": {}}]})).contains("is empty"));
        assert!(msg(json!({"zoom_rules": [{"max_zoom": 4, "where": {"kv": []}}]})).contains("list of values is empty"));
        assert!(msg(json!({"zoom_rules": [{"max_zoom": 4, "where": {"any": []}}]})).contains("\"any\" is empty"));
        assert!(msg(json!({"zoom_rules": [{"max_zoom": 4, "wher": {}}]})).contains("unknown key \"wher\""));
        assert!(msg(json!({"zoom_rules": [3]})).contains("must be an object"));
    }
}
