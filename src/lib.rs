//! gridkit: vector tiles and grid analytics inside PostgreSQL.
//!
//! This crate is the thin pgrx layer: argument checks, SPI, memory and errors.
//! Algorithms live in the pgrx-free crates under `crates/`.

// pgrx reads a table function's column names from its signature
// (`TableIterator<(name!(...), ...)>`): a type alias would hide them.
#![allow(clippy::type_complexity)]

use pgrx::prelude::*;

mod access;
mod cluster;
mod demo;
mod derived;
mod error;
mod generalize;
mod gucs;
mod indices;
mod layers;
mod pg;
mod spatial;
mod tests;
mod tiles;
mod timeseries;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!(
    "../sql/timeseries.sql",
    name = "timeseries",
    requires = [
        timeseries::partitions::_ts_check_interval,
        timeseries::partitions::_ts_partition_start,
        timeseries::partitions::_ts_partition_next,
        timeseries::partitions::_ts_partition_suffix,
        timeseries::partitions::ts_check_window
    ]
);
pgrx::extension_sql_file!(
    "../sql/rollup.sql",
    name = "rollup",
    requires = [
        "timeseries",
        timeseries::rollup::rollup_create,
        timeseries::rollup::rollup_refresh,
        timeseries::rollup::rollup_covers,
        timeseries::exact_sum::exact_sum_step8,
        timeseries::exact_sum::exact_sum_step4,
        timeseries::exact_sum::exact_sum_squares_step8,
        timeseries::exact_sum::exact_sum_squares_step4,
        timeseries::exact_sum::exact_sum_final,
        timeseries::exact_sum::exact_sum_combine,
        timeseries::exact_sum::exact_sum_serialize,
        timeseries::exact_sum::exact_sum_deserialize
    ]
);
pgrx::extension_sql_file!(
    "../sql/series.sql",
    name = "series",
    requires = ["rollup", timeseries::series::history_rows, timeseries::series::history_count]
);
pgrx::extension_sql_file!(
    "../sql/indices.sql",
    name = "indices",
    requires =
        [indices::safety::safety_compute, indices::congestion::zone_classify, indices::congestion::pnode_severity]
);
pgrx::extension_sql_file!(
    "../sql/spatial.sql",
    name = "spatial",
    requires = [spatial::_search_boxes, spatial::_viewport_boxes, spatial::_check_distance]
);
pgrx::extension_sql_file!(
    "../sql/archive.sql",
    name = "archive",
    requires = [
        "series",
        timeseries::archive::archive_directory,
        timeseries::archive::archive_partition,
        timeseries::archive::archive_load,
        timeseries::archive::archive_rows
    ]
);
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);
pgrx::extension_sql_file!("../sql/api.sql", name = "api", requires = ["finalize", "series", "spatial", "archive"]);
pgrx::extension_sql_file!("../sql/publish.sql", name = "publish", requires = ["api"]);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    layers::cache::init();
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
