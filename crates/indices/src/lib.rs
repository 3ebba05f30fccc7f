//! The index formulas of docs/INDICES.md, free of PostgreSQL: the traffic
//! safety index of one minute and its two adjustments (`safety`), and the
//! normalization and rules of the grid congestion indices (`congestion`).
//! Every constant and weight named here is the one the document states.

pub mod congestion;
pub mod safety;

pub use safety::{Constants, Indices, InputError, Minute};
