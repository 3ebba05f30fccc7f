//! Time series (sql/timeseries.sql, sql/rollup.sql, sql/series.sql over
//! `crates/timeseries`): partition arithmetic, rollups with their change log
//! and native refresh path, exact sums of floats, and `history`'s kept plans.

pub mod archive;
mod archive_files;
pub mod exact_sum;
pub mod partitions;
pub mod rollup;
pub mod rollup_log;
pub mod rollup_native;
pub mod series;
