//! Builds one MVT layer: interns keys and values, keeps the features a tile
//! has room for, and encodes them.
//!
//! ## Which features a full tile drops
//! A tile keeps at most `max_features` features and at most `max_bytes` bytes
//! per layer. When it has to drop, it drops in this order, which depends only
//! on the data, never on scan order or timing:
//! 1. the lowest rank first, when the layer declares a `rank` attribute
//!    (features without a value before any with one);
//! 2. then the smallest first: polygons by clipped area, lines by clipped
//!    length, points by number of points (so single points tie);
//! 3. among equals, the highest feature id first (features without an id
//!    before any with one);
//! 4. among features with equal ids, the one read last.
//!
//! `max_features` is applied while features stream in, with a bounded heap, so
//! a tile over millions of rows holds at most `max_features` of them in memory.
//! `max_bytes` is then met exactly: the largest prefix of the kept features (in
//! keep order) whose encoded layer fits.
//!
//! Kept features are written in ascending id order, and keys and values are
//! numbered by first use in that order, so the same data always gives the
//! same bytes, whatever order the rows arrived in.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use prost::encoding::{encoded_len_varint, key_len};
use prost::Message;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

pub use gridkit_attrs::{AttrKind, AttrValue};

use crate::clip::EncodedGeometry;
use crate::proto::{self, GeomType};

/// Upper bounds for one layer of one tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub max_features: usize,
    pub max_bytes: usize,
}

/// What a finished layer holds and what it had to drop.
#[derive(Debug, Default)]
pub struct FinishedLayer {
    /// A complete `Tile` message holding just this layer (tiles concatenate),
    /// or empty when the layer has no feature.
    pub bytes: Vec<u8>,
    pub features: usize,
    pub dropped_max_features: usize,
    pub dropped_max_bytes: usize,
}

#[cfg_attr(test, derive(Clone))]
struct Candidate {
    id: Option<u64>,
    seq: u64,
    rank: f64,
    weight: f64,
    kind: GeomType,
    commands: Vec<u32>,
    /// Encoded size of the packed geometry payload, computed once.
    geometry_len: usize,
    /// Pairs of key and value indexes into the builder's tables.
    tags: Vec<u32>,
}

/// Features without an id sort after every id.
fn id_key(id: Option<u64>) -> (bool, u64) {
    match id {
        Some(v) => (false, v),
        None => (true, 0),
    }
}

impl Candidate {
    /// `Greater` means "dropped earlier" (see the module documentation).
    fn drop_order(&self, other: &Self) -> Ordering {
        other
            .rank
            .total_cmp(&self.rank)
            .then_with(|| other.weight.total_cmp(&self.weight))
            .then_with(|| id_key(self.id).cmp(&id_key(other.id)))
            .then_with(|| self.seq.cmp(&other.seq))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.drop_order(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.drop_order(other)
    }
}

/// Deduplicated attribute values, indexed in first-seen order.
#[derive(Default)]
struct ValueTable {
    values: Vec<proto::Value>,
    /// Indexes of string values, hashed by their text (stored once, in `values`).
    strings: HashTable<u32>,
    floats: FxHashMap<u32, u32>,
    doubles: FxHashMap<u64, u32>,
    uints: FxHashMap<u64, u32>,
    sints: FxHashMap<i64, u32>,
    bools: [Option<u32>; 2],
}

impl ValueTable {
    fn add(values: &mut Vec<proto::Value>, v: proto::Value) -> u32 {
        values.push(v);
        (values.len() - 1) as u32
    }

    fn intern(&mut self, v: AttrValue<'_>) -> u32 {
        let values = &mut self.values;
        match v {
            AttrValue::String(s) => {
                let text = |i: &u32| values[*i as usize].string_value.as_deref().unwrap_or_default();
                let hash = FxBuildHasher.hash_one(s);
                if let Some(&i) = self.strings.find(hash, |i| text(i) == s) {
                    return i;
                }
                let i = Self::add(values, proto::Value { string_value: Some(s.to_owned()), ..Default::default() });
                let values = &self.values;
                self.strings.insert_unique(hash, i, |i| {
                    FxBuildHasher.hash_one(values[*i as usize].string_value.as_deref().unwrap_or_default())
                });
                i
            }
            AttrValue::Float(f) => *self
                .floats
                .entry(f.to_bits())
                .or_insert_with(|| Self::add(values, proto::Value { float_value: Some(f), ..Default::default() })),
            AttrValue::Double(f) => *self
                .doubles
                .entry(f.to_bits())
                .or_insert_with(|| Self::add(values, proto::Value { double_value: Some(f), ..Default::default() })),
            // Like ST_AsMVT: non-negative integers as uint, negative as sint (zigzag).
            AttrValue::Int(n) if n >= 0 => *self.uints.entry(n as u64).or_insert_with(|| {
                Self::add(values, proto::Value { uint_value: Some(n as u64), ..Default::default() })
            }),
            AttrValue::Int(n) => *self
                .sints
                .entry(n)
                .or_insert_with(|| Self::add(values, proto::Value { sint_value: Some(n), ..Default::default() })),
            AttrValue::Bool(b) => *self.bools[b as usize]
                .get_or_insert_with(|| Self::add(values, proto::Value { bool_value: Some(b), ..Default::default() })),
        }
    }
}

/// Builds one layer of one tile.
pub struct LayerBuilder {
    name: String,
    extent: u32,
    budget: Budget,
    keys: Vec<String>,
    /// Key -> index, once there are more than [`LINEAR_KEYS`] keys.
    key_index: FxHashMap<String, u32>,
    values: ValueTable,
    /// The kept features. A plain list until `max_features` is reached, a
    /// heap with the next feature to drop on top from then on.
    kept: Vec<Candidate>,
    heap: Option<BinaryHeap<Candidate>>,
    seq: u64,
    offered: usize,
}

/// Keys looked up by linear search, below a map.
const LINEAR_KEYS: usize = 16;

impl LayerBuilder {
    pub fn new(name: &str, extent: u32, budget: Budget) -> Self {
        LayerBuilder {
            name: name.to_owned(),
            extent,
            budget,
            keys: Vec::new(),
            key_index: FxHashMap::default(),
            values: ValueTable::default(),
            kept: Vec::new(),
            heap: None,
            seq: 0,
            offered: 0,
        }
    }

    /// The index of attribute key `name`, added on first use.
    pub fn key(&mut self, name: &str) -> u32 {
        // A layer has a handful of keys, registered once per tile: a linear
        // search costs less than hashing, and the map is built only for
        // layers with many keys.
        let found = if self.keys.len() <= LINEAR_KEYS {
            self.keys.iter().position(|k| k == name).map(|k| k as u32)
        } else {
            self.key_index.get(name).copied()
        };
        if let Some(k) = found {
            return k;
        }
        let k = self.keys.len() as u32;
        self.keys.push(name.to_owned());
        if self.keys.len() > LINEAR_KEYS {
            if self.key_index.is_empty() {
                self.key_index = self.keys.iter().enumerate().map(|(i, k)| (k.clone(), i as u32)).collect();
            } else {
                self.key_index.insert(name.to_owned(), k);
            }
        }
        k
    }

    /// Offers a feature; it is kept unless `max_features` better ones are.
    pub fn push(&mut self, id: Option<u64>, geometry: EncodedGeometry, attrs: &[(u32, AttrValue<'_>)]) {
        self.offered += 1;
        let seq = self.seq;
        self.seq += 1;
        if self.budget.max_features == 0 {
            return;
        }
        let geometry_len = geometry.commands.iter().map(|&c| encoded_len_varint(u64::from(c))).sum();
        let mut c = Candidate {
            id,
            seq,
            rank: geometry.rank,
            weight: geometry.weight,
            kind: geometry.kind,
            commands: geometry.commands,
            geometry_len,
            tags: Vec::new(),
        };
        if self.heap.is_none() && self.kept.len() == self.budget.max_features {
            self.heap = Some(BinaryHeap::from(std::mem::take(&mut self.kept)));
        }
        if let Some(heap) = &self.heap {
            if heap.peek().is_some_and(|worst| c >= *worst) {
                return;
            }
        }
        c.tags.reserve(attrs.len() * 2);
        for &(k, v) in attrs {
            debug_assert!((k as usize) < self.keys.len());
            c.tags.push(k);
            c.tags.push(self.values.intern(v));
        }
        match &mut self.heap {
            None => self.kept.push(c),
            Some(heap) => {
                heap.push(c);
                heap.pop();
            }
        }
    }

    /// Applies the byte budget and encodes the layer.
    pub fn finish(self) -> FinishedLayer {
        if self.offered == 0 {
            return FinishedLayer::default();
        }
        let mut kept = match self.heap {
            Some(heap) => heap.into_vec(),
            None => self.kept,
        };
        let dropped_max_features = self.offered - kept.len();
        // Output order: ascending id. Keys and values are numbered by first
        // use in this order, so equal data gives equal bytes whatever order
        // the rows arrived in.
        kept.sort_unstable_by(|a, b| id_key(a.id).cmp(&id_key(b.id)).then(a.seq.cmp(&b.seq)));
        let sizer = Sizer::new(&self.name, self.extent, &self.keys, &self.values.values);
        let mut chosen: Vec<usize> = (0..kept.len()).collect();
        let (mut remap, len) = sizer.remap_and_len(&kept, &chosen);
        if len > self.budget.max_bytes {
            // Keep the largest prefix of the drop order (best first) whose
            // layer fits; the empty prefix always does.
            let mut by_rank: Vec<usize> = (0..kept.len()).collect();
            by_rank.sort_unstable_by(|&a, &b| kept[a].drop_order(&kept[b]));
            let subset = |n: usize| {
                let mut s = by_rank[..n].to_vec();
                s.sort_unstable();
                s
            };
            // Bounds first, in one pass (tag indexes counted at one byte,
            // then at the most bytes any index takes), so the exact search
            // below runs on a narrow window instead of the whole list.
            let (mut fits, mut too_big) = sizer.prefix_bounds(&kept, &by_rank, self.budget.max_bytes);
            while too_big - fits > 1 {
                let mid = fits + (too_big - fits) / 2;
                if sizer.remap_and_len(&kept, &subset(mid)).1 <= self.budget.max_bytes {
                    fits = mid;
                } else {
                    too_big = mid;
                }
            }
            chosen = subset(fits);
            remap = Remap::new(&kept, &chosen, self.keys.len(), self.values.values.len());
        }
        let dropped_max_bytes = kept.len() - chosen.len();
        if chosen.is_empty() {
            return FinishedLayer { dropped_max_features, dropped_max_bytes, ..Default::default() };
        }

        let mut keys: Vec<Option<String>> = self.keys.into_iter().map(Some).collect();
        let keys: Vec<String> = remap.key_order.iter().map(|&k| keys[k as usize].take().unwrap_or_default()).collect();
        let mut values: Vec<Option<proto::Value>> = self.values.values.into_iter().map(Some).collect();
        let values: Vec<proto::Value> =
            remap.value_order.iter().map(|&v| values[v as usize].take().unwrap_or_default()).collect();
        let mut slots: Vec<Option<Candidate>> = kept.into_iter().map(Some).collect();
        let features: Vec<proto::Feature> = chosen
            .iter()
            .map(|&i| {
                let c = slots[i].take().expect("each feature is written once");
                proto::Feature {
                    id: c.id,
                    tags: remap.tags(&c.tags).collect(),
                    r#type: Some(c.kind as i32),
                    geometry: c.commands,
                }
            })
            .collect();
        let count = features.len();
        let tile = proto::Tile {
            layers: vec![proto::Layer {
                version: 2,
                name: self.name,
                features,
                keys,
                values,
                extent: Some(self.extent),
            }],
        };
        let bytes = tile.encode_to_vec();
        debug_assert!(bytes.len() <= self.budget.max_bytes);
        FinishedLayer { bytes, features: count, dropped_max_features, dropped_max_bytes }
    }
}

const UNUSED: u32 = u32::MAX;

/// New key and value indexes for the features `chosen` (indexes into
/// `features`, in output order): numbered by first use.
struct Remap {
    keys: Vec<u32>,
    values: Vec<u32>,
    /// Old indexes in their new order.
    key_order: Vec<u32>,
    value_order: Vec<u32>,
}

impl Remap {
    fn new(features: &[Candidate], chosen: &[usize], n_keys: usize, n_values: usize) -> Self {
        let mut r = Remap {
            keys: vec![UNUSED; n_keys],
            values: vec![UNUSED; n_values],
            key_order: Vec::new(),
            value_order: Vec::new(),
        };
        for &i in chosen {
            for pair in features[i].tags.chunks_exact(2) {
                let (k, v) = (pair[0] as usize, pair[1] as usize);
                if r.keys[k] == UNUSED {
                    r.keys[k] = r.key_order.len() as u32;
                    r.key_order.push(k as u32);
                }
                if r.values[v] == UNUSED {
                    r.values[v] = r.value_order.len() as u32;
                    r.value_order.push(v as u32);
                }
            }
        }
        r
    }

    fn tags<'a>(&'a self, tags: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
        tags.chunks_exact(2).flat_map(|p| [self.keys[p[0] as usize], self.values[p[1] as usize]])
    }
}

/// Computes the encoded size of a layer without encoding it.
struct Sizer {
    header_len: usize,
    key_lens: Vec<usize>,
    value_lens: Vec<usize>,
}

fn field_len(tag: u32, payload: usize) -> usize {
    key_len(tag) + encoded_len_varint(payload as u64) + payload
}

impl Sizer {
    fn new(name: &str, extent: u32, keys: &[String], values: &[proto::Value]) -> Self {
        let header_len = key_len(15) + encoded_len_varint(2) // version
            + field_len(1, name.len())
            + key_len(5) + encoded_len_varint(u64::from(extent));
        Sizer {
            header_len,
            key_lens: keys.iter().map(|k| field_len(3, k.len())).collect(),
            value_lens: values.iter().map(|v| field_len(4, v.encoded_len())).collect(),
        }
    }

    /// For prefixes of `order` (indexes into `features`): the longest one
    /// that surely fits in `max_bytes` and the shortest that surely does
    /// not (`features.len()` if every prefix may fit), without numbering
    /// keys and values.
    fn prefix_bounds(&self, features: &[Candidate], order: &[usize], max_bytes: usize) -> (usize, usize) {
        let widest = |n: usize| encoded_len_varint(n.saturating_sub(1) as u64);
        let (key_width, value_width) = (widest(self.key_lens.len()), widest(self.value_lens.len()));
        let mut seen_keys = vec![false; self.key_lens.len()];
        let mut seen_values = vec![false; self.value_lens.len()];
        let (mut low, mut high) = (self.header_len, self.header_len);
        let (mut fits, mut too_big) = (0, features.len());
        for (n, &i) in order.iter().enumerate() {
            let f = &features[i];
            let mut base = key_len(3) + encoded_len_varint(f.kind as u64);
            if let Some(id) = f.id {
                base += key_len(1) + encoded_len_varint(id);
            }
            if !f.commands.is_empty() {
                base += field_len(4, f.geometry_len);
            }
            let pairs = f.tags.len() / 2;
            let tags_low = if pairs == 0 { 0 } else { field_len(2, 2 * pairs) };
            let tags_high = if pairs == 0 { 0 } else { field_len(2, pairs * (key_width + value_width)) };
            low += field_len(2, base + tags_low);
            high += field_len(2, base + tags_high);
            for pair in f.tags.chunks_exact(2) {
                let (k, v) = (pair[0] as usize, pair[1] as usize);
                if !seen_keys[k] {
                    seen_keys[k] = true;
                    low += self.key_lens[k];
                    high += self.key_lens[k];
                }
                if !seen_values[v] {
                    seen_values[v] = true;
                    low += self.value_lens[v];
                    high += self.value_lens[v];
                }
            }
            if field_len(3, high) <= max_bytes {
                fits = n + 1;
            }
            if field_len(3, low) > max_bytes {
                too_big = n + 1;
                break;
            }
        }
        (fits, too_big.max(fits + 1).min(features.len()))
    }

    /// The remap of the chosen features, and the size of
    /// `Tile { layers: [layer of those features] }` as `finish` writes it
    /// with that remap (0 for no feature).
    fn remap_and_len(&self, features: &[Candidate], chosen: &[usize]) -> (Remap, usize) {
        let remap = Remap::new(features, chosen, self.key_lens.len(), self.value_lens.len());
        if chosen.is_empty() {
            return (remap, 0);
        }
        let mut layer = self.header_len;
        layer += remap.key_order.iter().map(|&k| self.key_lens[k as usize]).sum::<usize>();
        layer += remap.value_order.iter().map(|&v| self.value_lens[v as usize]).sum::<usize>();
        for &i in chosen {
            let f = &features[i];
            let mut len = key_len(3) + encoded_len_varint(f.kind as u64);
            if let Some(id) = f.id {
                len += key_len(1) + encoded_len_varint(id);
            }
            if !f.tags.is_empty() {
                let tags: usize = remap.tags(&f.tags).map(|t| encoded_len_varint(u64::from(t))).sum();
                len += field_len(2, tags);
            }
            if !f.commands.is_empty() {
                len += field_len(4, f.geometry_len);
            }
            layer += field_len(2, len);
        }
        (remap, field_len(3, layer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: i32, weight: f64) -> EncodedGeometry {
        EncodedGeometry { kind: GeomType::Point, commands: vec![9, (x << 1) as u32, 0], weight, rank: 0.0 }
    }

    fn decode(bytes: &[u8]) -> proto::Layer {
        let mut t = proto::Tile::decode(bytes).unwrap();
        assert_eq!(t.layers.len(), 1);
        t.layers.pop().unwrap()
    }

    #[test]
    fn keys_are_numbered_once_past_the_linear_search() {
        let mut b = LayerBuilder::new("l", 4096, ROOMY);
        let names: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(b.key(n), i as u32);
        }
        for (i, n) in names.iter().enumerate().rev() {
            assert_eq!(b.key(n), i as u32, "{n} again");
        }
        assert_eq!(b.key("new"), 40);
        // No feature: no bytes.
        assert!(b.finish().bytes.is_empty());
    }

    const ROOMY: Budget = Budget { max_features: 1000, max_bytes: 1 << 20 };

    #[test]
    fn keys_and_values_are_deduplicated_and_typed() {
        let mut b = LayerBuilder::new("pnodes", 4096, ROOMY);
        let (k_tier, k_score, k_n, k_ok) = (b.key("tier"), b.key("score"), b.key("n"), b.key("ok"));
        assert_eq!(b.key("tier"), k_tier);
        for i in 0..3u64 {
            b.push(
                Some(i),
                point(i as i32, 1.0),
                &[
                    (k_tier, AttrValue::String("critical")),
                    (k_score, AttrValue::Double(0.5)),
                    (k_n, AttrValue::Int(-(i as i64))),
                    (k_ok, AttrValue::Bool(true)),
                ],
            );
        }
        let out = b.finish();
        let layer = decode(&out.bytes);
        assert_eq!(layer.version, 2);
        assert_eq!(layer.extent, Some(4096));
        assert_eq!(layer.keys, vec!["tier", "score", "n", "ok"]);
        // By first use: "critical", 0.5, 0 (uint), true, then -1 and -2 (sint).
        assert_eq!(layer.values.len(), 6);
        assert_eq!(layer.values[0].string_value.as_deref(), Some("critical"));
        assert_eq!(layer.values[2].uint_value, Some(0));
        assert_eq!(layer.values[3].bool_value, Some(true));
        assert_eq!(layer.values[5].sint_value, Some(-2));
        assert!(layer.values.iter().any(|v| v.sint_value == Some(-2)));
        assert_eq!(layer.features.iter().map(|f| f.id.unwrap()).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn unused_keys_and_values_are_left_out() {
        let mut b = LayerBuilder::new("l", 4096, Budget { max_features: 1, max_bytes: 1 << 20 });
        let k = b.key("a");
        let _unused = b.key("never");
        b.push(Some(1), point(1, 1.0), &[(k, AttrValue::String("dropped"))]);
        b.push(Some(2), point(2, 5.0), &[(k, AttrValue::String("kept"))]);
        let out = b.finish();
        let layer = decode(&out.bytes);
        assert_eq!(layer.keys, vec!["a"]);
        assert_eq!(layer.values.len(), 1);
        assert_eq!(layer.values[0].string_value.as_deref(), Some("kept"));
        assert_eq!(layer.features[0].tags, vec![0, 0]);
        assert_eq!(out.dropped_max_features, 1);
    }

    #[test]
    fn max_features_drops_smallest_then_highest_id() {
        let mut b = LayerBuilder::new("l", 4096, Budget { max_features: 3, max_bytes: 1 << 20 });
        for (id, w) in [(10, 1.0), (11, 9.0), (12, 1.0), (13, 1.0), (14, 5.0)] {
            b.push(Some(id), point(id as i32, w), &[]);
        }
        let out = b.finish();
        let ids: Vec<u64> = decode(&out.bytes).features.iter().map(|f| f.id.unwrap()).collect();
        assert_eq!(ids, vec![10, 11, 14]);
        assert_eq!(out.dropped_max_features, 2);
    }

    #[test]
    fn max_bytes_is_met_exactly_and_deterministically() {
        let build = |max_bytes: usize, reversed: bool| {
            let mut b = LayerBuilder::new("l", 4096, Budget { max_features: 100_000, max_bytes });
            let k = b.key("name");
            let mut ids: Vec<u64> = (0..500).collect();
            if reversed {
                ids.reverse();
            }
            for id in ids {
                let name = format!("feature-{}", id % 37);
                b.push(Some(id), point(id as i32, (id % 7) as f64), &[(k, AttrValue::String(&name))]);
            }
            b.finish()
        };
        let full = build(1 << 20, false);
        assert_eq!(full.features, 500);
        let limit = full.bytes.len() / 3;
        let a = build(limit, false);
        let b = build(limit, true);
        assert!(a.bytes.len() <= limit);
        assert!(a.features > 0 && a.features < 500);
        assert_eq!(a.bytes, b.bytes, "input order must not change the tile");
        assert_eq!(a.dropped_max_bytes, 500 - a.features);
        // One more feature would not have fitted.
        let kept_ids: Vec<u64> = decode(&a.bytes).features.iter().map(|f| f.id.unwrap()).collect();
        assert!(kept_ids.iter().all(|id| id % 7 >= kept_ids.iter().map(|i| i % 7).min().unwrap()));
    }

    #[test]
    fn sizer_matches_prost() {
        let mut b = LayerBuilder::new("sizes", 512, ROOMY);
        let (k1, k2) = (b.key("a"), b.key("b"));
        for id in 0..300u64 {
            let s = format!("v{}", id * 7919 % 211);
            let geom = EncodedGeometry {
                kind: GeomType::Linestring,
                commands: (0..(id % 50 + 4)).map(|i| (i * 977 % 70000) as u32).collect(),
                weight: id as f64,
                rank: 0.0,
            };
            let attrs = [(k1, AttrValue::String(&s)), (k2, AttrValue::Int(id as i64 * 1000 - 150_000))];
            b.push(if id % 5 == 0 { None } else { Some(id * 1_000_003) }, geom, &attrs[..(id % 3) as usize]);
        }
        assert_eq!(b.kept.len(), 300);
        let mut kept = b.kept.clone();
        kept.sort_unstable_by(|a, b| id_key(a.id).cmp(&id_key(b.id)).then(a.seq.cmp(&b.seq)));
        let all: Vec<usize> = (0..kept.len()).collect();
        let predicted = Sizer::new(&b.name, b.extent, &b.keys, &b.values.values).remap_and_len(&kept, &all).1;
        let out = b.finish();
        assert_eq!(predicted, out.bytes.len());
    }

    #[test]
    fn rank_decides_before_size() {
        let mut b = LayerBuilder::new("l", 4096, Budget { max_features: 2, max_bytes: 1 << 20 });
        for (id, w, rank) in [(1, 100.0, 115.0), (2, 1.0, 765.0), (3, 50.0, 345.0), (4, 1000.0, f64::NEG_INFINITY)] {
            let mut g = point(id as i32, w);
            g.rank = rank;
            b.push(Some(id), g, &[]);
        }
        let out = b.finish();
        let ids: Vec<u64> = decode(&out.bytes).features.iter().map(|f| f.id.unwrap()).collect();
        assert_eq!(ids, vec![2, 3]);
    }

    #[test]
    fn empty_layer_has_no_bytes() {
        let b = LayerBuilder::new("l", 4096, ROOMY);
        let out = b.finish();
        assert!(out.bytes.is_empty());
        assert_eq!(out.features, 0);
    }
}
