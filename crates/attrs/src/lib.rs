//! What gridkit knows of a feature's attributes apart from any tile: how a
//! value arrives from the source ([`AttrKind`], [`AttrValue`]) and the two
//! stored forms derived tables keep them in: a feature's attributes row by
//! row ([`props`]) and a block of features column by column ([`columns`]).
//! Pyramids, generalized bands and the packed points of filtered cluster
//! tiles all write and read these forms; the tile encoder only reads values.

pub mod columns;
pub mod props;

/// How an attribute's values arrive from the source, and so how they are
/// encoded in a tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    /// smallint, integer, bigint (cast to bigint).
    Int,
    /// real.
    Float,
    /// double precision, and numeric cast to it.
    Double,
    Bool,
    /// Anything else, as its text form in UTF-8.
    Text,
}

impl AttrKind {
    pub fn is_numeric(self) -> bool {
        matches!(self, AttrKind::Int | AttrKind::Float | AttrKind::Double)
    }
}

/// An attribute value as read from the source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttrValue<'a> {
    String(&'a str),
    Float(f32),
    Double(f64),
    Int(i64),
    Bool(bool),
}
