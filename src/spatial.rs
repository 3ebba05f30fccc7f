//! Argument checks and index search boxes for the spatial query functions
//! of `sql/spatial.sql` (nearby, along_route, within, bbox), from
//! `crates/spatial`: PostGIS's geography answers the exact question, these
//! boxes let the geometry index find the candidates.

use gridkit_spatial::{boxes_around, check_distance, viewport, LonLatBox, SpatialError};
use pgrx::prelude::*;

use crate::error::*;

// pgrx reads the column names from each signature, so they are spelled
// out there; this is the same type.
type Boxes = TableIterator<'static, (f64, f64, f64, f64)>;

fn bad(e: SpatialError) -> SqlError {
    SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, e.to_string())
}

fn rows(boxes: Vec<LonLatBox>) -> Boxes {
    TableIterator::new(boxes.into_iter().map(|b| (b.west, b.south, b.east, b.north)))
}

/// Boxes (degrees) covering every point within `distance_m` of the path
/// through the positions (`closed`: a ring whose inside counts).
#[pg_extern(schema = "gridkit", immutable, strict, parallel_safe)]
fn _search_boxes(
    lons: Vec<f64>,
    lats: Vec<f64>,
    distance_m: f64,
    closed: bool,
) -> TableIterator<'static, (name!(west, f64), name!(south, f64), name!(east, f64), name!(north, f64))> {
    let positions: Vec<(f64, f64)> = lons.into_iter().zip(lats).collect();
    rows(boxes_around(&positions, distance_m, closed).map_err(bad).or_raise())
}

/// A viewport as one box, or two when `west > east` (across the antimeridian).
#[pg_extern(schema = "gridkit", immutable, strict, parallel_safe)]
fn _viewport_boxes(
    west: f64,
    south: f64,
    east: f64,
    north: f64,
) -> TableIterator<'static, (name!(west, f64), name!(south, f64), name!(east, f64), name!(north, f64))> {
    rows(viewport(west, south, east, north).map_err(bad).or_raise())
}

/// Raises `22023` unless `distance_m` is a distance the functions accept.
#[pg_extern(schema = "gridkit", immutable, parallel_safe)]
fn _check_distance(what: &str, distance_m: Option<f64>, allow_zero: bool) -> bool {
    match distance_m {
        Some(d) if check_distance(d, allow_zero).is_ok() => true,
        d => SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "{what} must be a {} number of metres up to {} (got {})",
                if allow_zero { "non-negative" } else { "positive" },
                gridkit_spatial::MAX_DISTANCE_M,
                d.map_or("NULL".into(), |d| d.to_string())
            ),
        )
        .raise(),
    }
}
