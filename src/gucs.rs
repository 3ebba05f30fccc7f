//! `gridkit.*` settings. Each is documented in the README's settings table.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Features kept per tile layer when the layer's options do not say.
pub static MAX_FEATURES: GucSetting<i32> = GucSetting::<i32>::new(200_000);
/// Bytes per tile layer when the layer's options do not say (500 KB).
pub static MAX_BYTES: GucSetting<i32> = GucSetting::<i32>::new(500 * 1024);

pub fn init() {
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
