//! `gridkit.*` settings. Each is documented in the README's settings table.

use std::ffi::CString;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Where retention archives partitions (src/timeseries/archive.rs): an
/// absolute directory on the database server. Only a superuser sets it;
/// a table's `archive => 'dir'` names a directory inside it.
pub static ARCHIVE_DIRECTORY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Features kept per tile layer when the layer's options do not say.
pub static MAX_FEATURES: GucSetting<i32> = GucSetting::<i32>::new(200_000);
/// Bytes per tile layer when the layer's options do not say (500 KB).
pub static MAX_BYTES: GucSetting<i32> = GucSetting::<i32>::new(500 * 1024);

/// How long `gridkit.job_runs` keeps a maintenance step's row (seconds; 0
/// keeps them all), and how many rows it keeps at most (0: no limit):
/// run_maintenance prunes it as its last step.
pub static JOB_RUNS_MAX_AGE: GucSetting<i32> = GucSetting::<i32>::new(30 * 86_400);
pub static JOB_RUNS_MAX_ROWS: GucSetting<i32> = GucSetting::<i32>::new(100_000);

/// Whether rollup refreshes aggregate in gridkit's own code when the
/// rollup's types allow (src/rollup_native.rs); off runs the SQL statement.
pub static ROLLUP_NATIVE: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Whether tiles of generalized layers at the zooms their build stored are
/// served from those copies (src/generalize/tile.rs).
pub static STORED_TILES: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Whether raw tiles at deep zooms read the source through its GiST index
/// directly, without a second executor (src/index_read.rs).
pub static INDEX_READ: GucSetting<bool> = GucSetting::<bool>::new(true);

pub fn init() {
    GucRegistry::define_int_guc(
        c"gridkit.job_runs_max_age",
        c"How long gridkit.job_runs keeps the log of a maintenance step (0: forever).",
        c"run_maintenance deletes older rows as its last step (gridkit.job_runs_prune).",
        &JOB_RUNS_MAX_AGE,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"gridkit.job_runs_max_rows",
        c"Most rows gridkit.job_runs keeps (0: no limit).",
        c"run_maintenance deletes the oldest beyond it as its last step (gridkit.job_runs_prune).",
        &JOB_RUNS_MAX_ROWS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"gridkit.archive_directory",
        c"Directory on the database server that retention archives partitions into, as Parquet files.",
        c"An absolute path the server's user may write; tables archive into directories inside it (retention_set's archive). Unset, nothing is archived.",
        &ARCHIVE_DIRECTORY,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"gridkit.index_read",
        c"Raw tiles from zoom 6 on read simple sources through their GiST index without a tile query.",
        c"Off, every tile runs its tile query; both give the same tiles.",
        &INDEX_READ,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"gridkit.stored_tiles",
        c"Serves the low-zoom tiles of generalized layers from the copies generalize_refresh stored.",
        c"Off, every tile is rendered from the bands; both give the same bytes.",
        &STORED_TILES,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"gridkit.rollup_native",
        c"Rollup refreshes aggregate new rows in gridkit's own code when the rollup's types allow.",
        c"Off, every refresh runs INSERT ... SELECT ... GROUP BY; both give the same rows.",
        &ROLLUP_NATIVE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"gridkit.max_features",
        c"Most features in one layer of one tile, for layers whose options set no max_features.",
        c"When a tile has more, the smallest features are dropped first (see the README).",
        &MAX_FEATURES,
        1,
        10_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"gridkit.max_bytes",
        c"Most bytes in one layer of one tile, for layers whose options set no max_bytes.",
        c"When a tile layer would be larger, the smallest features are dropped first (see the README).",
        &MAX_BYTES,
        1024,
        256 * 1024 * 1024,
        GucContext::Userset,
        GucFlags::UNIT_BYTE,
    );
}
