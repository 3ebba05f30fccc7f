//! The attributes of a block of features, column by column: per attribute,
//! the block's distinct values (a dictionary, in the [`props`](crate::props)
//! encoding) and one 16-bit code per feature.
//!
//! A filtered cluster tile tests one or two attributes of 100K points and
//! aggregates one or two more. Row by row that means decoding every
//! feature's attributes (and checking every string for UTF-8); by column it
//! means decoding a handful of distinct values per block, deciding once per
//! value, and then reading one code per feature.
//!
//! Layout, for each attribute `0..attribute_count` in order:
//! `u32` byte length of the dictionary, the dictionary (`(attribute, value)`
//! triples), then `count` little-endian `u16` codes: the index of the
//! feature's value in the dictionary, or [`NULL_CODE`].

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};
use rustc_hash::FxBuildHasher;

use crate::{props, AttrValue};

/// The code of a NULL (absent) attribute.
pub const NULL_CODE: u16 = u16::MAX;
/// Most features a block can hold: codes must stay below [`NULL_CODE`].
pub const MAX_FEATURES: usize = NULL_CODE as usize;

/// Builds the columns of one block, a feature at a time.
pub struct ColumnsWriter {
    columns: Vec<ColumnWriter>,
    count: usize,
    /// One feature's codes, reused.
    row: Vec<u16>,
}

#[derive(Default)]
struct ColumnWriter {
    /// Codes by value, hashed by the value's bytes and compared in
    /// `dictionary`: no allocation per distinct value.
    codes_of: HashTable<u16>,
    /// Where each code's value starts in `dictionary`.
    starts: Vec<u32>,
    dictionary: Vec<u8>,
    codes: Vec<u8>,
}

impl ColumnsWriter {
    pub fn new(attribute_count: usize) -> ColumnsWriter {
        ColumnsWriter {
            columns: (0..attribute_count).map(|_| ColumnWriter::default()).collect(),
            count: 0,
            row: Vec::new(),
        }
    }

    /// Adds one feature whose attributes are in the `props` encoding,
    /// without decoding them. Returns `false` (adding nothing) if `encoded`
    /// is malformed. Panics past [`MAX_FEATURES`].
    pub fn push_encoded(&mut self, encoded: &[u8]) -> bool {
        assert!(self.count < MAX_FEATURES, "a block holds at most {MAX_FEATURES} features");
        let row = &mut self.row;
        row.clear();
        row.resize(self.columns.len(), NULL_CODE);
        let columns = &mut self.columns;
        let ok = props::for_each_triple(encoded, |key, triple| {
            if let Some(column) = columns.get_mut(key as usize) {
                row[key as usize] = column.code(triple);
            }
        });
        if !ok {
            return false;
        }
        for (column, &code) in self.columns.iter_mut().zip(row.iter()) {
            column.codes.extend_from_slice(&code.to_le_bytes());
        }
        self.count += 1;
        true
    }

    /// Features pushed so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends the block's columns to `out` and starts a new block.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        for column in &mut self.columns {
            out.extend_from_slice(&(column.dictionary.len() as u32).to_le_bytes());
            out.extend_from_slice(&column.dictionary);
            out.extend_from_slice(&column.codes);
            column.clear();
        }
        self.count = 0;
    }
}

impl ColumnWriter {
    /// The code of a value (its encoded triple), numbering it if it is new.
    fn code(&mut self, triple: &[u8]) -> u16 {
        let (dictionary, starts) = (&self.dictionary, &self.starts);
        let value = |c: u16| {
            let end = starts.get(c as usize + 1).map_or(dictionary.len(), |&e| e as usize);
            &dictionary[starts[c as usize] as usize..end]
        };
        let hash = FxBuildHasher.hash_one(triple);
        match self.codes_of.entry(hash, |&c| value(c) == triple, |&c| FxBuildHasher.hash_one(value(c))) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let c = self.starts.len() as u16;
                e.insert(c);
                self.starts.push(self.dictionary.len() as u32);
                self.dictionary.extend_from_slice(triple);
                c
            }
        }
    }

    /// Forgets the block's values, keeping the memory for the next block.
    fn clear(&mut self) {
        self.codes_of.clear();
        self.starts.clear();
        self.dictionary.clear();
        self.codes.clear();
    }
}

/// The columns of one block, as written by [`ColumnsWriter`]; dictionaries
/// are decoded on demand.
pub struct Columns<'a> {
    /// Per attribute: its dictionary bytes and its codes.
    columns: Vec<(&'a [u8], &'a [u8])>,
    count: usize,
}

/// One attribute of a block: its distinct values and each feature's code.
pub struct Column<'a> {
    pub values: Vec<AttrValue<'a>>,
    codes: &'a [u8],
}

impl<'a> Columns<'a> {
    /// Splits `bytes` into the columns of `attribute_count` attributes over
    /// `count` features; `None` if the lengths do not add up.
    pub fn parse(mut bytes: &'a [u8], attribute_count: usize, count: usize) -> Option<Columns<'a>> {
        let mut columns = Vec::with_capacity(attribute_count);
        for _ in 0..attribute_count {
            let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
            let dictionary = bytes.get(4..4 + len)?;
            let codes = bytes.get(4 + len..4 + len + 2 * count)?;
            columns.push((dictionary, codes));
            bytes = &bytes[4 + len + 2 * count..];
        }
        bytes.is_empty().then_some(Columns { columns, count })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The column of `attribute`, its dictionary decoded; `None` if the
    /// dictionary is malformed or holds another attribute.
    pub fn column(&self, attribute: usize) -> Option<Column<'a>> {
        let (dictionary, codes) = *self.columns.get(attribute)?;
        let mut decoded = Vec::new();
        if !props::decode(dictionary, &mut decoded) || decoded.iter().any(|(k, _)| *k as usize != attribute) {
            return None;
        }
        let values = decoded.into_iter().map(|(_, v)| v).collect();
        Some(Column { values, codes })
    }
}

impl Column<'_> {
    /// The code of feature `i`: an index into `values`, or [`NULL_CODE`].
    /// A code past the dictionary (malformed data) reads as NULL.
    pub fn code(&self, i: usize) -> u16 {
        let c = u16::from_le_bytes([self.codes[2 * i], self.codes[2 * i + 1]]);
        if usize::from(c) < self.values.len() {
            c
        } else {
            NULL_CODE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds a feature given by its attributes.
    fn push(w: &mut ColumnsWriter, attrs: &[(u32, AttrValue<'_>)]) -> bool {
        let mut encoded = Vec::new();
        props::encode(attrs, &mut encoded);
        w.push_encoded(&encoded)
    }

    #[test]
    fn round_trip() {
        let rows: Vec<Vec<(u32, AttrValue<'_>)>> = vec![
            vec![(0, AttrValue::String("operating")), (1, AttrValue::Double(12.5)), (3, AttrValue::Bool(true))],
            vec![(0, AttrValue::String("planned")), (2, AttrValue::Int(7))],
            vec![(0, AttrValue::String("operating")), (1, AttrValue::Double(12.5)), (2, AttrValue::Int(-7))],
            vec![],
        ];
        let mut w = ColumnsWriter::new(4);
        for r in &rows {
            assert!(push(&mut w, r));
        }
        assert_eq!(w.len(), 4);
        let mut bytes = Vec::new();
        w.finish(&mut bytes);
        assert!(w.is_empty());
        // A new block after `finish`: the same bytes again.
        for r in &rows {
            assert!(push(&mut w, r));
        }
        assert!(!w.push_encoded(&[0, 0, 9]), "malformed");
        assert_eq!(w.len(), 4);
        let mut again = Vec::new();
        w.finish(&mut again);
        assert_eq!(again, bytes);
        let cols = Columns::parse(&bytes, 4, rows.len()).expect("well formed");
        for a in 0..4 {
            let col = cols.column(a).expect("column");
            for (i, r) in rows.iter().enumerate() {
                let want = r.iter().find(|(k, _)| *k as usize == a).map(|(_, v)| *v);
                let code = col.code(i);
                let got = (code != NULL_CODE).then(|| col.values[usize::from(code)]);
                assert_eq!(got, want, "attribute {a}, feature {i}");
            }
        }
        // Equal values share a code: two distinct statuses, two distinct ids.
        assert_eq!(cols.column(0).unwrap().values.len(), 2);
        assert_eq!(cols.column(1).unwrap().values.len(), 1);
        assert_eq!(cols.column(2).unwrap().values.len(), 2);
    }

    #[test]
    fn many_distinct_values_keep_their_codes() {
        // Enough distinct values that the table of codes grows several times.
        let names: Vec<String> = (0..5000).map(|i| format!("site {i}")).collect();
        let mut w = ColumnsWriter::new(1);
        for round in 0..2 {
            for (i, name) in names.iter().enumerate() {
                assert!(push(&mut w, &[(0, AttrValue::String(name))]), "round {round}, {i}");
            }
        }
        let mut bytes = Vec::new();
        w.finish(&mut bytes);
        let cols = Columns::parse(&bytes, 1, 2 * names.len()).expect("well formed");
        let col = cols.column(0).expect("column");
        assert_eq!(col.values.len(), names.len());
        for (i, name) in names.iter().chain(&names).enumerate() {
            assert_eq!(col.values[usize::from(col.code(i))], AttrValue::String(name), "feature {i}");
        }
    }

    #[test]
    fn malformed_blocks_are_refused() {
        let mut w = ColumnsWriter::new(2);
        assert!(push(&mut w, &[(0, AttrValue::String("a")), (1, AttrValue::Int(1))]));
        let mut bytes = Vec::new();
        w.finish(&mut bytes);
        assert!(Columns::parse(&bytes, 2, 1).is_some());
        for cut in 0..bytes.len() {
            assert!(Columns::parse(&bytes[..cut], 2, 1).is_none(), "cut at {cut}");
        }
        assert!(Columns::parse(&bytes, 2, 2).is_none(), "wrong count");
        assert!(Columns::parse(&bytes, 3, 1).is_none(), "wrong attribute count");
        // Attribute 0's dictionary read as attribute 1's is refused.
        let cols = Columns::parse(&bytes, 2, 1).unwrap();
        assert!(cols.column(0).is_some() && cols.column(1).is_some() && cols.column(2).is_none());
        // A code past the dictionary reads as NULL.
        let mut bad = bytes.clone();
        let at = 4 + u32::from_le_bytes(bad[..4].try_into().unwrap()) as usize;
        bad[at] = 9;
        assert_eq!(Columns::parse(&bad, 2, 1).unwrap().column(0).unwrap().code(0), NULL_CODE);
    }
}
