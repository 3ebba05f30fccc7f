//! Points read from a layer's source, ready to cluster: world coordinates,
//! ids, each point's attributes (encoded, for points that stay alone) and
//! the inputs of the layer's aggregates.

use crate::aggregate::{aggregate, AggFn, Aggregated, Column};
use crate::{mercator_to_world, quadtree, Pyramid};
use gridkit_attrs::props;
use gridkit_mvt::tile::{lat_to_mercator_y, lon_to_mercator_x};
use gridkit_mvt::{AttrValue, SourceCrs};
use rustc_hash::FxHashMap;

use gridkit_mvt::AttrKind;

/// An attribute value as a hashable, ordered key (for mode and partitions).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ValueKey {
    Bool(bool),
    Int(i64),
    /// f64 bits; ordered by `total_cmp`.
    Num(u64),
    Text(Box<str>),
}

impl ValueKey {
    pub fn from_attr(v: &AttrValue<'_>) -> ValueKey {
        match *v {
            AttrValue::Bool(b) => ValueKey::Bool(b),
            AttrValue::Int(i) => ValueKey::Int(i),
            AttrValue::Float(f) => ValueKey::Num(f64::from(f).to_bits()),
            AttrValue::Double(d) => ValueKey::Num(d.to_bits()),
            AttrValue::String(s) => ValueKey::Text(s.into()),
        }
    }

    pub fn to_attr(&self, kind: AttrKind) -> AttrValue<'_> {
        match self {
            ValueKey::Bool(b) => AttrValue::Bool(*b),
            ValueKey::Int(i) => AttrValue::Int(*i),
            ValueKey::Num(bits) if kind == AttrKind::Float => AttrValue::Float(f64::from_bits(*bits) as f32),
            ValueKey::Num(bits) => AttrValue::Double(f64::from_bits(*bits)),
            ValueKey::Text(s) => AttrValue::String(s),
        }
    }

    /// The value as text, the way partition values are stored and filters
    /// on them are written.
    pub fn canonical_text(&self) -> String {
        match self {
            ValueKey::Bool(b) => b.to_string(),
            ValueKey::Int(i) => i.to_string(),
            ValueKey::Num(bits) => f64::from_bits(*bits).to_string(),
            ValueKey::Text(s) => s.to_string(),
        }
    }
}

impl Ord for ValueKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use ValueKey::*;
        match (self, other) {
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Num(a), Num(b)) => f64::from_bits(*a).total_cmp(&f64::from_bits(*b)),
            (Text(a), Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for ValueKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl ValueKey {
    fn rank(&self) -> u8 {
        match self {
            ValueKey::Bool(_) => 0,
            ValueKey::Int(_) => 1,
            ValueKey::Num(_) => 2,
            ValueKey::Text(_) => 3,
        }
    }
}

/// Distinct values numbered; after [`Interner::finish`], code order is value
/// order (so mode's tie-break, the smallest code, is the smallest value).
#[derive(Default)]
pub struct Interner {
    index: FxHashMap<ValueKey, u32>,
    /// Text values, looked up by `&str` so a value seen before costs no
    /// allocation.
    texts: FxHashMap<Box<str>, u32>,
    values: Vec<ValueKey>,
    codes: Vec<Option<u32>>,
}

impl Interner {
    /// The code of `v` (NULL has none), numbering it if it is new.
    fn intern(&mut self, v: Option<&AttrValue<'_>>) -> Option<u32> {
        v.map(|v| {
            if let AttrValue::String(s) = v {
                if let Some(&c) = self.texts.get(*s) {
                    return c;
                }
                let c = self.values.len() as u32;
                self.texts.insert((*s).into(), c);
                self.values.push(ValueKey::Text((*s).into()));
                return c;
            }
            let key = ValueKey::from_attr(v);
            match self.index.get(&key) {
                Some(&c) => c,
                None => {
                    let c = self.values.len() as u32;
                    self.index.insert(key.clone(), c);
                    self.values.push(key);
                    c
                }
            }
        })
    }

    /// (codes per point, values by code), codes renumbered in value order.
    fn finish(self) -> (Vec<Option<u32>>, Vec<ValueKey>) {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        order.sort_by(|&a, &b| self.values[a as usize].cmp(&self.values[b as usize]));
        let mut rank = vec![0u32; order.len()];
        for (r, &c) in order.iter().enumerate() {
            rank[c as usize] = r as u32;
        }
        let codes = self.codes.into_iter().map(|c| c.map(|c| rank[c as usize])).collect();
        let mut values = self.values;
        values.sort();
        (codes, values)
    }
}

enum AggInput {
    Numbers(Vec<Option<f64>>),
    Values(Interner),
}

/// One attribute value as clustering takes it: a number for sum, avg, min,
/// max and count, a value code for mode and partitions. A reader that sees
/// the same value many times resolves it once ([`PointSet::resolve`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    Number(Option<f64>),
    Code(Option<u32>),
}

/// The points of a layer (or of a tile) with what clustering needs.
pub struct PointSet {
    crs: SourceCrs,
    pub ids: Vec<Option<i64>>,
    /// World coordinates (see [`mercator_to_world`]).
    pub xy: Vec<[f64; 2]>,
    /// Each point's attributes in the `props` encoding, for points that
    /// stand alone.
    pub attributes: EncodedAttributes,
    aggregates: Vec<(usize, AggFn, AggInput)>,
    partition: Option<(usize, Interner)>,
    /// Rows without a usable point (NULL, empty, or not a point).
    pub skipped: u64,
}

/// The partition of every point: codes in value order, the values, and the
/// attribute they come from.
pub struct Partitions {
    pub attribute: usize,
    pub codes: Vec<Option<u32>>,
    pub values: Vec<ValueKey>,
}

impl Partitions {
    /// Codes as `Pyramid::build` takes them; NULL is a partition of its own.
    pub fn build_codes(&self) -> Vec<u32> {
        self.codes.iter().map(|c| c.unwrap_or(u32::MAX)).collect()
    }
}

/// The aggregates of every node, and the partition values, once clustered.
pub struct Summaries {
    aggregates: Vec<(usize, AggFn, Summary)>,
    partition: Option<Partitions>,
}

enum Summary {
    Numbers(Vec<Option<f64>>),
    Values(Vec<Option<u32>>, Vec<ValueKey>),
}

impl PointSet {
    /// Points for clustering with `aggregates` ((attribute index,
    /// function)) and, if any, the partition attribute `partition`; their
    /// positions come in `crs`.
    pub fn new(aggregates: &[(usize, AggFn)], partition: Option<usize>, crs: SourceCrs) -> PointSet {
        let aggregates = aggregates
            .iter()
            .map(|&(i, f)| {
                let input = match f {
                    AggFn::Mode => AggInput::Values(Interner::default()),
                    _ => AggInput::Numbers(Vec::new()),
                };
                (i, f, input)
            })
            .collect();
        PointSet {
            crs,
            ids: Vec::new(),
            xy: Vec::new(),
            attributes: EncodedAttributes::default(),
            aggregates,
            partition: partition.map(|i| (i, Interner::default())),
            skipped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds one row: `wkb` its geometry, `attrs` (attribute index, value)
    /// for its non-NULL attributes, in attribute order.
    pub fn push(&mut self, id: Option<i64>, wkb: Option<&[u8]>, attrs: &[(u32, AttrValue<'_>)]) {
        self.push_coordinates(id, wkb.and_then(wkb_point), attrs, None);
    }

    /// Adds one row whose point is `xy` in the source's coordinates (`None`
    /// if it has no usable point); `encoded` holds `attrs` in the `props`
    /// encoding already, or is `None` to encode them here.
    pub fn push_coordinates(
        &mut self,
        id: Option<i64>,
        xy: Option<[f64; 2]>,
        attrs: &[(u32, AttrValue<'_>)],
        encoded: Option<&[u8]>,
    ) {
        let Some([x, y]) = xy else {
            self.skipped += 1;
            return;
        };
        let (mx, my) = match self.crs {
            SourceCrs::LonLat => (lon_to_mercator_x(x), lat_to_mercator_y(y)),
            SourceCrs::WebMercator => (x, y),
        };
        let (wx, wy) = mercator_to_world(mx, my);
        if !(wx.is_finite() && wy.is_finite()) {
            self.skipped += 1;
            return;
        }
        match encoded {
            Some(bytes) => self.attributes.bytes.extend_from_slice(bytes),
            None => props::encode(attrs, &mut self.attributes.bytes),
        }
        self.attributes.close();
        self.ids.push(id);
        self.xy.push([wx.clamp(0.0, 1.0), wy]);
        for slot in 0..self.slots() {
            let attribute = self.input_attribute(slot);
            let v = attrs.iter().find(|(k, _)| *k as usize == attribute).map(|(_, v)| v);
            let input = self.resolve(slot, v);
            self.push_input(slot, input);
        }
    }

    /// Makes room for `additional` more points (pushed with
    /// [`PointSet::push_resolved`]) without growing again.
    pub fn reserve(&mut self, additional: usize) {
        self.ids.reserve_exact(additional);
        self.xy.reserve_exact(additional);
        self.attributes.ends.reserve_exact(additional);
        for (_, _, input) in &mut self.aggregates {
            match input {
                AggInput::Numbers(numbers) => numbers.reserve_exact(additional),
                AggInput::Values(interner) => interner.codes.reserve_exact(additional),
            }
        }
        if let Some((_, interner)) = &mut self.partition {
            interner.codes.reserve_exact(additional);
        }
    }

    /// The attribute each input slot reads: the aggregates in order, then
    /// the partition.
    pub fn input_attributes(&self) -> impl Iterator<Item = usize> + '_ {
        self.aggregates.iter().map(|(i, _, _)| *i).chain(self.partition.as_ref().map(|(i, _)| *i))
    }

    /// The number of input slots.
    fn slots(&self) -> usize {
        self.aggregates.len() + usize::from(self.partition.is_some())
    }

    fn input_attribute(&self, slot: usize) -> usize {
        match self.aggregates.get(slot) {
            Some((i, _, _)) => *i,
            None => self.partition.as_ref().expect("an input slot").0,
        }
    }

    /// `v` (the value of slot `slot`'s attribute) as that slot takes it.
    pub fn resolve(&mut self, slot: usize, v: Option<&AttrValue<'_>>) -> Input {
        if let Some((_, f, input)) = self.aggregates.get_mut(slot) {
            return match input {
                AggInput::Values(interner) => Input::Code(interner.intern(v)),
                AggInput::Numbers(_) => Input::Number(v.and_then(|v| match (*f, *v) {
                    (AggFn::Count, _) => Some(1.0),
                    (_, AttrValue::Int(n)) => Some(n as f64),
                    (_, AttrValue::Float(x)) => Some(f64::from(x)),
                    (_, AttrValue::Double(x)) => Some(x),
                    _ => None,
                })),
            };
        }
        let (_, interner) = self.partition.as_mut().expect("an input slot");
        Input::Code(interner.intern(v))
    }

    /// Adds one point in world units with its inputs resolved, one per slot
    /// of [`PointSet::input_attributes`]. Its id and attributes stay with
    /// the caller: [`PointSet::props`] is empty for it.
    pub fn push_resolved(&mut self, wx: f64, wy: f64, inputs: &[Input]) {
        self.ids.push(None);
        self.xy.push([wx, wy]);
        self.attributes.close();
        for (slot, &input) in inputs.iter().enumerate() {
            self.push_input(slot, input);
        }
    }

    fn push_input(&mut self, slot: usize, input: Input) {
        match (self.aggregates.get_mut(slot), input) {
            (Some((_, _, AggInput::Numbers(numbers))), Input::Number(v)) => numbers.push(v),
            (Some((_, _, AggInput::Values(interner))), Input::Code(c)) => interner.codes.push(c),
            (None, Input::Code(c)) => self.partition.as_mut().expect("an input slot").1.codes.push(c),
            _ => unreachable!("inputs come from resolve"),
        }
    }

    /// The points' quadtree order: their Morton keys ascending (ties in
    /// read order), and `order[k]`, the point that comes k-th.
    ///
    /// Points read in heap order lie scattered in memory; in quadtree order
    /// neighbours are near, so clustering, aggregates and the packed
    /// points' write walk memory in order instead of missing the cache at
    /// every point. [`PointSet::reorder_positions`] and
    /// [`EncodedAttributes::reorder`] put them in that order.
    pub fn spatial_order(&self) -> (Vec<u64>, Vec<u32>) {
        let keys: Vec<u64> = self.xy.iter().map(|p| quadtree::morton(p[0], p[1])).collect();
        let order = quadtree::sort_order(&keys);
        (gather(&keys, &order), order)
    }

    /// Reorders what clustering reads (positions, aggregate inputs and
    /// partitions) by `order`; `ids` ([`gather`]) and `attributes`
    /// ([`EncodedAttributes::reorder`]) follow on their own, which may run
    /// while the points are clustered.
    pub fn reorder_positions(&mut self, order: &[u32]) {
        self.xy = gather(&self.xy, order);
        for (_, _, input) in &mut self.aggregates {
            match input {
                AggInput::Numbers(numbers) => *numbers = gather(numbers, order),
                AggInput::Values(interner) => interner.codes = gather(&interner.codes, order),
            }
        }
        if let Some((_, interner)) = &mut self.partition {
            interner.codes = gather(&interner.codes, order);
        }
    }

    /// The encoded attributes of point `i`.
    pub fn props(&self, i: usize) -> &[u8] {
        self.attributes.get(i)
    }

    /// The points' partitions, if the layer is partitioned. Consumes the interner.
    pub fn take_partitions(&mut self) -> Option<Partitions> {
        self.partition.take().map(|(attribute, interner)| {
            let (codes, values) = interner.finish();
            Partitions { attribute, codes, values }
        })
    }

    /// Computes the aggregates of every node of `pyramid` (built over these points).
    pub fn summarize(&mut self, pyramid: &Pyramid, partitions: Option<Partitions>) -> Summaries {
        self.take_inputs().summarize(pyramid, partitions)
    }

    /// The aggregates' inputs, taken out (so they can be summarized on
    /// another thread while these points are read).
    pub fn take_inputs(&mut self) -> Inputs {
        Inputs(std::mem::take(&mut self.aggregates))
    }
}

/// Points' attributes in the `props` encoding, one after another.
#[derive(Default)]
pub struct EncodedAttributes {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl EncodedAttributes {
    /// Ends the current point's attributes (those appended to `bytes` since
    /// the previous point's).
    fn close(&mut self) {
        self.ends.push(self.bytes.len());
    }

    /// Adds one point's attributes, which `encode` appends to the bytes.
    pub fn push(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(&mut self.bytes);
        self.close();
    }

    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// Puts the points in `order` (indices into them).
    pub fn reorder(&mut self, order: &[u32]) {
        let mut bytes = Vec::with_capacity(self.bytes.len());
        let mut ends = Vec::with_capacity(self.ends.len());
        for &i in order {
            bytes.extend_from_slice(self.get(i as usize));
            ends.push(bytes.len());
        }
        *self = EncodedAttributes { bytes, ends };
    }
}

/// `values` in `order` (indices into it).
pub fn gather<T: Copy>(values: &[T], order: &[u32]) -> Vec<T> {
    order.iter().map(|&i| values[i as usize]).collect()
}

/// The inputs of a layer's aggregates, one value per point.
pub struct Inputs(Vec<(usize, AggFn, AggInput)>);

impl Inputs {
    /// Computes the aggregates of every node of `pyramid` (built over the
    /// points these inputs came from).
    pub fn summarize(self, pyramid: &Pyramid, partitions: Option<Partitions>) -> Summaries {
        let aggregates = self
            .0
            .into_iter()
            .map(|(i, f, input)| {
                let summary = match input {
                    AggInput::Numbers(numbers) => match aggregate(pyramid, f, &Column::Numbers(numbers)) {
                        Ok(Aggregated::Numbers(v)) => Summary::Numbers(v),
                        _ => unreachable!("numeric inputs give numeric results"),
                    },
                    AggInput::Values(interner) => {
                        let (codes, values) = interner.finish();
                        match aggregate(pyramid, f, &Column::Codes(codes)) {
                            Ok(Aggregated::Codes(c)) => Summary::Values(c, values),
                            _ => unreachable!("mode of codes gives codes"),
                        }
                    }
                };
                (i, f, summary)
            })
            .collect();
        Summaries { aggregates, partition: partitions }
    }
}

impl Summaries {
    /// The attributes of cluster node `node`, whose first point is
    /// `first_leaf`: its aggregates under their attributes' names, and the
    /// partition value all its points share.
    pub fn cluster_attrs<'a>(
        &'a self,
        node: usize,
        first_leaf: usize,
        kinds: &[AttrKind],
        out: &mut Vec<(u32, AttrValue<'a>)>,
    ) {
        out.clear();
        if let Some(p) = &self.partition {
            if !self.aggregates.iter().any(|(i, _, _)| *i == p.attribute) {
                if let Some(c) = p.codes[first_leaf] {
                    out.push((p.attribute as u32, p.values[c as usize].to_attr(kinds[p.attribute])));
                }
            }
        }
        for (i, f, summary) in &self.aggregates {
            let kind = kinds[*i];
            let value = match summary {
                Summary::Numbers(v) => v[node].map(|x| match f {
                    AggFn::Count => AttrValue::Int(x as i64),
                    AggFn::Sum | AggFn::Min | AggFn::Max if kind == AttrKind::Int => AttrValue::Int(x as i64),
                    _ => AttrValue::Double(x),
                }),
                Summary::Values(codes, values) => codes[node].map(|c| values[c as usize].to_attr(kind)),
            };
            if let Some(v) = value {
                out.push((*i as u32, v));
            }
        }
    }

    /// The partition value of point `point` as text.
    pub fn partition_text(&self, point: usize) -> Option<String> {
        let p = self.partition.as_ref()?;
        p.codes[point].map(|c| p.values[c as usize].canonical_text())
    }
}

/// The coordinates of a WKB point (either byte order); `None` for anything
/// else or an empty point.
pub fn wkb_point(wkb: &[u8]) -> Option<[f64; 2]> {
    if wkb.len() < 21 {
        return None;
    }
    let little = match wkb[0] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let word = |b: &[u8]| -> [u8; 4] { b.try_into().expect("4 bytes") };
    let double = |b: &[u8]| -> [u8; 8] { b.try_into().expect("8 bytes") };
    let kind = if little { u32::from_le_bytes(word(&wkb[1..5])) } else { u32::from_be_bytes(word(&wkb[1..5])) };
    if kind != 1 {
        return None;
    }
    let read = |b: &[u8]| if little { f64::from_le_bytes(double(b)) } else { f64::from_be_bytes(double(b)) };
    let (x, y) = (read(&wkb[5..13]), read(&wkb[13..21]));
    (x.is_finite() && y.is_finite()).then_some([x, y])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wkb(x: f64, y: f64, little: bool) -> Vec<u8> {
        let mut b = vec![u8::from(little)];
        if little {
            b.extend(1u32.to_le_bytes());
            b.extend(x.to_le_bytes());
            b.extend(y.to_le_bytes());
        } else {
            b.extend(1u32.to_be_bytes());
            b.extend(x.to_be_bytes());
            b.extend(y.to_be_bytes());
        }
        b
    }

    #[test]
    fn wkb_points_in_either_byte_order_and_nothing_else() {
        assert_eq!(wkb_point(&wkb(-87.5, 41.25, true)), Some([-87.5, 41.25]));
        assert_eq!(wkb_point(&wkb(-87.5, 41.25, false)), Some([-87.5, 41.25]));
        let mut line = wkb(0.0, 0.0, true);
        line[1] = 2;
        assert_eq!(wkb_point(&line), None);
        assert_eq!(wkb_point(&wkb(f64::NAN, 0.0, true)), None);
        assert_eq!(wkb_point(&[1, 1, 0]), None);
    }

    #[test]
    fn points_keep_ids_world_positions_and_encoded_attributes() {
        let mut points = PointSet::new(&[], None, SourceCrs::LonLat);
        points.push(Some(7), Some(&wkb(0.0, 0.0, true)), &[(0, AttrValue::String("a")), (1, AttrValue::Int(3))]);
        points.push(Some(8), None, &[]);
        points.push(Some(9), Some(&wkb(-180.0, 0.0, true)), &[]);
        assert_eq!(points.len(), 2);
        assert_eq!(points.skipped, 1);
        assert_eq!(points.ids, vec![Some(7), Some(9)]);
        // Lon/lat 0, 0 is the middle of the world square; -180 its left edge.
        assert!((points.xy[0][0] - 0.5).abs() < 1e-12 && (points.xy[0][1] - 0.5).abs() < 1e-12);
        assert!(points.xy[1][0].abs() < 1e-12);
        let mut attrs = Vec::new();
        assert!(props::decode(points.props(0), &mut attrs));
        assert_eq!(attrs, vec![(0, AttrValue::String("a")), (1, AttrValue::Int(3))]);
        assert!(props::decode(points.props(1), &mut attrs) && attrs.is_empty());
    }

    #[test]
    fn partition_codes_follow_value_order_and_null_has_none() {
        let mut points = PointSet::new(&[(0, AggFn::Sum)], Some(1), SourceCrs::WebMercator);
        for (i, (mw, iso)) in
            [(1, Some("PJM")), (2, Some("ERCOT")), (3, None), (4, Some("PJM"))].into_iter().enumerate()
        {
            let mut attrs = vec![(0, AttrValue::Int(mw))];
            if let Some(iso) = iso {
                attrs.push((1, AttrValue::String(iso)));
            }
            points.push_coordinates(Some(i as i64), Some([i as f64, 0.0]), &attrs, None);
        }
        assert_eq!(points.input_attributes().collect::<Vec<_>>(), vec![0, 1]);
        let partitions = points.take_partitions().expect("a partition attribute");
        assert_eq!(partitions.attribute, 1);
        assert_eq!(partitions.values, vec![ValueKey::Text("ERCOT".into()), ValueKey::Text("PJM".into())]);
        assert_eq!(partitions.codes, vec![Some(1), Some(0), None, Some(1)]);
        assert_eq!(partitions.build_codes(), vec![1, 0, u32::MAX, 1]);
    }

    #[test]
    fn value_keys_order_within_a_type_and_print_canonically() {
        let mut keys = vec![ValueKey::Int(10), ValueKey::Int(-2), ValueKey::Int(3)];
        keys.sort();
        assert_eq!(keys, vec![ValueKey::Int(-2), ValueKey::Int(3), ValueKey::Int(10)]);
        let half = ValueKey::from_attr(&AttrValue::Double(0.5));
        assert_eq!(half.canonical_text(), "0.5");
        assert_eq!(half.to_attr(AttrKind::Double), AttrValue::Double(0.5));
        assert_eq!(half.to_attr(AttrKind::Float), AttrValue::Float(0.5));
        assert_eq!(ValueKey::from_attr(&AttrValue::Bool(true)).canonical_text(), "true");
    }
}
