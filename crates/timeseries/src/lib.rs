//! Time-series arithmetic, free of PostgreSQL: partition boundaries
//! (`partition`), rollup buckets in a time zone (`bucket`), the SQL that
//! keeps a rollup's mergeable state (`rollup`) and the spans a refresh
//! rewrites (`spans`).
//!
//! Timestamps are PostgreSQL's: microseconds since 2000-01-01 00:00 UTC.

pub mod accumulate;
pub mod bucket;
pub mod changes;
pub mod exact_sum;
pub mod partition;
pub mod rollup;
pub mod spans;

pub use bucket::Bucket;
pub use partition::{utc_literal, Step, StepError};
pub use rollup::{Aggregate, Func, Rollup, RollupError, Source};
