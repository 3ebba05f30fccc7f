//! The in-process tile cache: keyed by the request and its layers'
//! versions, so a data change makes every cached tile of that layer
//! unreachable at once (and the listener drops them), weighed by bytes.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::versions::LayerInfo;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    pub layers: String,
    pub z: u32,
    pub x: u32,
    pub y: u32,
    pub filter: String,
    pub versions: String,
}

/// A rendered tile; its gzip form is made the first time a client accepts it.
pub struct TileBody {
    pub raw: Bytes,
    gzip: OnceLock<Bytes>,
}

impl TileBody {
    pub fn new(raw: Bytes) -> TileBody {
        TileBody { raw, gzip: OnceLock::new() }
    }

    pub fn gzip(&self) -> Bytes {
        self.gzip.get_or_init(|| super::http::gzip(&self.raw)).clone()
    }
}

pub type CachedTile = Arc<TileBody>;

pub struct TileCache {
    cache: Option<quick_cache::sync::Cache<TileKey, CachedTile, TileWeight>>,
}

#[derive(Clone)]
pub struct TileWeight;

impl quick_cache::Weighter<TileKey, CachedTile> for TileWeight {
    fn weight(&self, key: &TileKey, tile: &CachedTile) -> u64 {
        // Counts the gzip form as if made: the weight is fixed at insertion.
        (key.layers.len() + key.filter.len() + key.versions.len() + tile.raw.len() * 3 / 2 + 128) as u64
    }
}

impl TileCache {
    pub fn new(megabytes: u64) -> Self {
        let bytes = megabytes * 1024 * 1024;
        TileCache {
            cache: (bytes > 0)
                .then(|| quick_cache::sync::Cache::with_weighter((bytes / 8192).max(64) as usize, bytes, TileWeight)),
        }
    }

    pub fn get(&self, key: &TileKey) -> Option<CachedTile> {
        self.cache.as_ref()?.get(key)
    }

    pub fn insert(&self, key: TileKey, tile: CachedTile) {
        if let Some(c) = &self.cache {
            c.insert(key, tile);
        }
    }

    /// Drops the tiles whose layer versions are no longer current.
    pub fn retain_current(&self, layers: Option<&HashMap<String, LayerInfo>>) {
        let Some(c) = &self.cache else { return };
        match layers {
            None => c.clear(),
            Some(layers) => c.retain(|k, _| versions_of(layers, k.layers.split(',')).is_some_and(|v| v == k.versions)),
        }
    }
}

pub fn versions_of<'a>(layers: &HashMap<String, LayerInfo>, names: impl Iterator<Item = &'a str>) -> Option<String> {
    names.map(|n| layers.get(n).map(|l| l.version.as_str())).collect::<Option<Vec<_>>>().map(|v| v.join(","))
}
