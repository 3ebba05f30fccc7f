//! Indices in SQL over `crates/indices` (docs/INDICES.md): traffic safety
//! with the empirical-Bayes blend, and grid congestion from LMP components.

pub mod congestion;
pub mod safety;
