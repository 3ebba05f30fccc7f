//! `gridkit.*` settings. Each is documented in the README's settings table.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Features kept per tile layer when the layer's options do not say.
pub static MAX_FEATURES: GucSetting<i32> = GucSetting::<i32>::new(200_000);
/// Bytes per tile layer when the layer's options do not say (500 KB).
pub static MAX_BYTES: GucSetting<i32> = GucSetting::<i32>::new(500 * 1024);

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
