//! gridkit: vector tiles and grid analytics inside PostgreSQL.
//!
//! This crate is the thin pgrx layer: argument checks, SPI, memory and errors.
//! Algorithms live in the pgrx-free crates under `crates/`.

use pgrx::prelude::*;

mod access;
mod cluster;
mod congestion;
mod copy_in;
mod demo;
mod derived;
mod error;
mod exact_sum;
mod filter;
mod generalize;
mod gucs;
mod index_read;
mod layers;
mod postgis;
mod rollup;
mod rollup_log;
mod rollup_native;
mod rows;
mod safety;
mod series;
mod spatial;
mod tests;
mod tile;
mod timeseries;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!(
    "../sql/timeseries.sql",
    name = "timeseries",
    requires = [
        timeseries::_ts_check_interval,
        timeseries::_ts_partition_start,
        timeseries::_ts_partition_next,
        timeseries::_ts_partition_suffix,
        timeseries::ts_check_window
    ]
);
pgrx::extension_sql_file!(
    "../sql/rollup.sql",
    name = "rollup",
    requires = [
        "timeseries",
        rollup::rollup_create,
        rollup::rollup_refresh,
        rollup::rollup_covers,
        exact_sum::exact_sum_step8,
        exact_sum::exact_sum_step4,
        exact_sum::exact_sum_squares_step8,
        exact_sum::exact_sum_squares_step4,
        exact_sum::exact_sum_final,
        exact_sum::exact_sum_combine,
        exact_sum::exact_sum_serialize,
        exact_sum::exact_sum_deserialize
    ]
);
pgrx::extension_sql_file!(
    "../sql/series.sql",
    name = "series",
    requires = ["rollup", series::history_rows, series::history_count]
);
pgrx::extension_sql_file!(
    "../sql/indices.sql",
    name = "indices",
    requires = [safety::safety_compute, congestion::zone_classify, congestion::pnode_severity]
);
pgrx::extension_sql_file!(
    "../sql/spatial.sql",
    name = "spatial",
    requires = [spatial::_search_boxes, spatial::_viewport_boxes, spatial::_check_distance]
);
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);
pgrx::extension_sql_file!("../sql/api.sql", name = "api", requires = ["finalize", "series", "spatial"]);

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
