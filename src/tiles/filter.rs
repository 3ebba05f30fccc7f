//! Tile filters resolved against a layer's attributes (the typing and
//! matching are `gridkit_options::filter`'s): errors as SQL errors, and the
//! accepted values as the arrays the tile query binds.

use gridkit_options::filter::{Accepted, TypedFilter};
use pgrx::{pg_sys, IntoDatum, JsonB};

use crate::error::*;
use crate::layers::plan::LayerPlan;

/// `json` checked against `plan`'s attributes; `None` when it has no
/// condition.
pub fn resolve(plan: &LayerPlan, json: &JsonB) -> SqlResult<Option<TypedFilter>> {
    let attributes: Vec<(&str, _)> = plan.attributes.iter().map(|a| (a.name.as_str(), a.kind)).collect();
    let filter = TypedFilter::resolve(&plan.name, &json.0, &attributes)?;
    Ok(Some(filter).filter(|f| !f.is_empty()))
}

/// The accepted values as an array of the attribute's type (int8[],
/// float8[], bool[], text[]; see `LayerPlan::plan_for`).
pub fn bound_values(accepted: &Accepted) -> Option<pg_sys::Datum> {
    match accepted {
        Accepted::Text(set) => set.iter().cloned().collect::<Vec<String>>().into_datum(),
        Accepted::Int(set) => set.iter().copied().collect::<Vec<i64>>().into_datum(),
        Accepted::Number(set) => set.iter().map(|&b| f64::from_bits(b)).collect::<Vec<f64>>().into_datum(),
        Accepted::Bool(set) => set.iter().copied().collect::<Vec<bool>>().into_datum(),
    }
}
