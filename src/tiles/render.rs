//! One layer of one tile, shared by every way a tile is made (`crate::tiles`
//! dispatches; `cluster::tile` and `generalize::tile` render from builds):
//! the layer's encoder and its finished bytes, and the rows of the layer's
//! source in a tile with their attributes decoded from datums.

use gridkit_attrs::props;
use gridkit_mvt::{AttrValue, FinishedLayer, LayerEncoder, SourceCrs, TileCoord};
use pgrx::prelude::*;

use crate::access::Access;
use crate::error::*;
use crate::layers::plan::{AttrKind, LayerPlan};
use crate::pg::rows::{for_each_row, varlena_bytes, Col};
use crate::tiles::filter::bound_values;
use crate::tiles::index_read;
use gridkit_options::filter::TypedFilter;

/// One layer of one tile, encoded, with what its NOTICEs say.
#[derive(Default)]
pub struct Rendered {
    pub finished: FinishedLayer,
    pub invalid: usize,
    pub first_error: Option<String>,
}

/// An encoder for `plan`'s layer of `tile`, its attributes registered as
/// keys in order and its rank set.
pub fn layer_encoder(plan: &LayerPlan, tile: TileCoord, crs: SourceCrs) -> LayerEncoder {
    let mut encoder = LayerEncoder::new(&plan.name, tile, plan.space(), crs, plan.budget());
    // One geometry of millions of vertices may take a while: a cancel or
    // statement_timeout stops it there too.
    encoder.set_interrupt_check(check_for_interrupts);
    for (i, a) in plan.attributes.iter().enumerate() {
        // Attribute i is key i: rows carry attribute indexes as keys.
        let key = encoder.key(&a.name);
        debug_assert_eq!(key as usize, i);
    }
    if let Some((attribute, descending)) = plan.rank {
        encoder.set_rank(attribute as u32, descending);
    }
    encoder
}

fn check_for_interrupts() {
    pg_sys::check_for_interrupts!();
}

pub fn finish(encoder: LayerEncoder) -> Rendered {
    let invalid = encoder.stats().invalid;
    let first_error = encoder.first_error().map(|e| e.to_string());
    Rendered { finished: encoder.finish(), invalid, first_error }
}

/// Reads the layer's rows in `tile` plus `margin` (a fraction of the tile
/// width on each side), matching `filter`, and calls `f(id, wkb, attributes)`
/// for each, attributes keyed by their index. The index read, which applies
/// no policy, serves only a caller with full `access`. Must be called while
/// connected to SPI.
pub fn read_rows(
    plan: &LayerPlan,
    tile: TileCoord,
    filter: Option<&TypedFilter>,
    access: Access,
    margin: f64,
    mut f: impl FnMut(Option<i64>, Option<&[u8]>, &[(u32, AttrValue<'_>)]),
) -> SqlResult<()> {
    if filter.is_none() && plan.options.zoom.rule_at(tile.z).is_none() && index_read::suits(tile) {
        if let Some(direct) = plan.index_read.as_ref().filter(|_| access == Access::Full) {
            return direct.read(plan.args_with_margin(tile, margin), f);
        }
    }
    let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();
    let mut args: Vec<Option<pg_sys::Datum>> =
        plan.args_with_margin(tile, margin).iter().map(|a| a.into_datum()).collect();
    let (plans, which) = plan.plan_for(tile, filter.is_some())?;
    if let Some(filter) = filter {
        args.extend(filter.conditions().iter().map(|accepted| accepted.as_ref().and_then(bound_values)));
    }
    let plan_to_run = &plans[which];
    let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::with_capacity(kinds.len());
    let columns: Vec<Col> =
        [Col::Int8, Col::Varlena].into_iter().chain(kinds.iter().map(|k| crate::layers::plan::read_as(*k))).collect();
    for_each_row(plan_to_run, &args, true, &columns, |values, nulls| {
        // SAFETY: the columns are int8, bytea, then the attributes as
        // `kinds` says (checked at start); every datum is read by that type.
        unsafe {
            let id = (!nulls[0]).then(|| values[0].value() as i64);
            let wkb = (!nulls[1]).then(|| varlena_bytes(values[1]));
            decode_attributes(&kinds, &values[2..], &nulls[2..], &mut attrs);
            f(id, wkb, &attrs);
        }
    });
    Ok(())
}

/// Decodes attribute datums by kind into `(index, value)`, leaving NULLs out.
///
/// # Safety
/// Each non-null datum must be of the type its kind says (see `AttrKind`).
pub unsafe fn decode_attributes<'a>(
    kinds: &[AttrKind],
    values: &[pg_sys::Datum],
    nulls: &[bool],
    out: &mut Vec<(u32, AttrValue<'a>)>,
) {
    // SAFETY: the caller guarantees each non-null datum's type.
    unsafe {
        out.clear();
        for (i, kind) in kinds.iter().enumerate() {
            if nulls[i] {
                continue; // NULL attributes are left out of the feature.
            }
            out.push((i as u32, attribute_value(*kind, values[i])));
        }
    }
}

/// One non-null attribute datum of `kind` as a tile value.
///
/// # Safety
/// As [`decode_attributes`].
unsafe fn attribute_value<'a>(kind: AttrKind, d: pg_sys::Datum) -> AttrValue<'a> {
    // SAFETY: the caller guarantees a non-null datum of `kind`'s type.
    unsafe {
        match kind {
            AttrKind::Int => AttrValue::Int(d.value() as i64),
            AttrKind::Float => AttrValue::Float(f32::from_bits(d.value() as u32)),
            AttrKind::Double => AttrValue::Double(f64::from_bits(d.value() as u64)),
            AttrKind::Bool => AttrValue::Bool(d.value() != 0),
            AttrKind::Text => AttrValue::String(props::valid_utf8_prefix(varlena_bytes(d))),
        }
    }
}

/// The non-NULL attributes of one row in the `props` encoding, appended to
/// `out`; text as the database stores it, checked for UTF-8 by whoever
/// decodes it (see `props::repair_text`).
///
/// # Safety
/// As [`decode_attributes`].
pub unsafe fn encode_attributes(kinds: &[AttrKind], values: &[pg_sys::Datum], nulls: &[bool], out: &mut Vec<u8>) {
    // SAFETY: the caller guarantees each non-null datum's type.
    unsafe {
        for (i, kind) in kinds.iter().enumerate() {
            if nulls[i] {
                continue;
            }
            let key = i as u32;
            match kind {
                AttrKind::Text => props::encode_string_bytes(key, varlena_bytes(values[i]), out),
                _ => props::encode(&[(key, attribute_value(*kind, values[i]))], out),
            }
        }
    }
}
