//! Generalized line and polygon layers: `gridkit.generalize_refresh` stores
//! each feature simplified for each zoom band (shared polygon borders
//! simplified once), and tiles at those zooms read the band instead of the
//! full-resolution source.

pub mod build;
pub mod tile;

use pgrx::prelude::*;

use crate::error::*;

/// Builds or rebuilds the generalized bands of line or polygon layer
/// `layer`; returns the number of features generalized. Readers keep the
/// previous bands until this commits.
#[pg_extern(schema = "gridkit", volatile)]
fn generalize_refresh(layer: &str) -> i64 {
    build::refresh(layer).or_raise()
}
