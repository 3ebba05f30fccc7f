//! Raw tile rows read straight through the source's GiST index, without
//! the executor.
//!
//! A deep-zoom tile holds a handful of features; most of its cost is fixed:
//! starting an executor for the tile query (about 27K instructions of the
//! 200K a z14 tile takes) on top of the one running `grid_tile` itself.
//! The SQL a user would write pays for one executor, so gridkit must not pay
//! for two. For the common case (a table or materialized view in Web
//! Mercator or lon/lat, a plain GiST index on the geometry, columns of
//! types the tile reads as they are) this opens the index and the heap
//! itself, scans with the `&&` key the executor would build, and reads
//! each row's columns from the slot, with `ST_AsBinary` called through
//! fmgr. Everything else (views, other types, zoom rules, filters, large
//! tiles that a custom plan may scan sequentially, row-level security)
//! keeps the tile query. `SET gridkit.index_read = off` forces the query;
//! both paths give the same tiles (the comparison suite runs both).

use pgrx::pg_sys::{self, Oid};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::PgMemoryContexts;

use gridkit_attrs::props;
use gridkit_mvt::{AttrValue, TileCoord};

use crate::error::*;
use crate::layers::registry::{Column, LayerColumns, Source};
use crate::pg::postgis::Postgis;
use crate::pg::rows::{varlena_bytes, BATCH_ROWS};

/// How one column's datum is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColumnType {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    /// text or varchar, in a UTF-8 database.
    Text,
}

impl ColumnType {
    fn of(t: Oid, utf8: bool) -> Option<ColumnType> {
        Some(match t {
            t if t == pg_sys::INT2OID => ColumnType::Int2,
            t if t == pg_sys::INT4OID => ColumnType::Int4,
            t if t == pg_sys::INT8OID => ColumnType::Int8,
            t if t == pg_sys::FLOAT4OID => ColumnType::Float4,
            t if t == pg_sys::FLOAT8OID => ColumnType::Float8,
            t if t == pg_sys::BOOLOID => ColumnType::Bool,
            t if (t == pg_sys::TEXTOID || t == pg_sys::VARCHAROID) && utf8 => ColumnType::Text,
            _ => return None,
        })
    }

    /// # Safety
    /// `d` must be a non-null datum of this type.
    unsafe fn read<'a>(self, d: pg_sys::Datum) -> AttrValue<'a> {
        // SAFETY: the caller guarantees a non-null datum of this type.
        unsafe {
            match self {
                ColumnType::Int2 => AttrValue::Int(i64::from(d.value() as i16)),
                ColumnType::Int4 => AttrValue::Int(i64::from(d.value() as i32)),
                ColumnType::Int8 => AttrValue::Int(d.value() as i64),
                ColumnType::Float4 => AttrValue::Float(f32::from_bits(d.value() as u32)),
                ColumnType::Float8 => AttrValue::Double(f64::from_bits(d.value() as u64)),
                ColumnType::Bool => AttrValue::Bool(d.value() != 0),
                // PostgreSQL validates stored text in a UTF-8 database.
                ColumnType::Text => AttrValue::String(props::valid_utf8_prefix(varlena_bytes(d))),
            }
        }
    }
}

/// What reading a layer through its index needs, found when its plan loads.
pub struct IndexRead {
    relid: Oid,
    index: Oid,
    /// Of the `&&` operator in the index's operator family.
    strategy: u16,
    operator_proc: Oid,
    geometry_type: Oid,
    srid: i32,
    make_envelope: Oid,
    as_binary: Oid,
    /// Attribute numbers and types: id, geometry, then the attributes.
    id: (i16, ColumnType),
    geom: i16,
    attributes: Vec<(i16, ColumnType)>,
}

impl IndexRead {
    /// `None` unless the source can be read this way (see the module doc).
    /// Must be called while connected to SPI.
    pub fn load(
        client: &SpiClient<'_>,
        source: &Source,
        postgis: &Postgis,
        srid: i32,
        columns: &LayerColumns,
    ) -> SqlResult<Option<IndexRead>> {
        let relid = source.relid;
        if !matches!(source.relkind, b'r' | b'm') || !(srid == 4326 || srid == 3857 || srid == 900913) {
            return Ok(None);
        }
        // A Citus table's rows are in its shards, not in this heap.
        if source.reads_citus {
            return Ok(None);
        }
        // SAFETY: plain lookups.
        let utf8 = unsafe { pg_sys::GetDatabaseEncoding() } == pg_sys::pg_enc::PG_UTF8 as i32;
        let attnum = |name: &str| -> Option<i16> {
            let c = std::ffi::CString::new(name).ok()?;
            // SAFETY: a syscache lookup.
            let n = unsafe { pg_sys::get_attnum(relid, c.as_ptr()) };
            (n > 0).then_some(n)
        };
        let typed = |c: &Column| Some((attnum(&c.name)?, ColumnType::of(c.base_type, utf8)?));
        let Some(id_col) =
            typed(&columns.id).filter(|(_, t)| matches!(t, ColumnType::Int2 | ColumnType::Int4 | ColumnType::Int8))
        else {
            return Ok(None);
        };
        let Some(geom_attnum) = attnum(&columns.geom.name) else { return Ok(None) };
        let Some(attributes) = columns.attributes.iter().map(typed).collect::<Option<Vec<_>>>() else {
            return Ok(None);
        };
        // A valid, plain (no predicate, no expression) single-column GiST
        // index on the geometry with the 2-D operator class, and the
        // strategy of `&&` in its family.
        let row = client.select(
            "SELECT i.indexrelid, o.amopstrategy::int4, op.oprcode::oid,
                    pg_catalog.to_regprocedure($3 || '.st_makeenvelope(float8,float8,float8,float8,int4)')::oid,
                    pg_catalog.to_regprocedure($3 || '.st_asbinary(' || $3 || '.geometry)')::oid
               FROM pg_catalog.pg_index i
               JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
               JOIN pg_catalog.pg_am am ON am.oid = c.relam AND am.amname = 'gist'
               JOIN pg_catalog.pg_opclass oc ON oc.oid = i.indclass[0] AND oc.opcname = 'gist_geometry_ops_2d'
               JOIN pg_catalog.pg_operator op ON op.oprname = '&&' AND op.oprleft = $4 AND op.oprright = $4
               JOIN pg_catalog.pg_amop o ON o.amopfamily = oc.opcfamily AND o.amopopr = op.oid
                                         AND o.amoppurpose = 's'
              WHERE i.indrelid = $1 AND i.indnatts = 1 AND i.indkey[0] = $2
                AND i.indpred IS NULL AND i.indexprs IS NULL
                AND i.indisvalid AND i.indisready AND i.indislive
              ORDER BY i.indexrelid
              LIMIT 1",
            Some(1),
            &[relid.into(), geom_attnum.into(), postgis.schema.as_str().into(), postgis.geometry.into()],
        )?;
        if row.is_empty() {
            return Ok(None);
        }
        let row = row.first();
        let (Some(index), Some(strategy), Some(operator_proc), Some(make_envelope), Some(as_binary)) =
            (row.get::<Oid>(1)?, row.get::<i32>(2)?, row.get::<Oid>(3)?, row.get::<Oid>(4)?, row.get::<Oid>(5)?)
        else {
            return Ok(None);
        };
        Ok(Some(IndexRead {
            relid,
            index,
            strategy: strategy as u16,
            operator_proc,
            geometry_type: postgis.geometry,
            srid,
            make_envelope,
            as_binary,
            id: id_col,
            geom: geom_attnum,
            attributes,
        }))
    }

    /// Calls `f(id, wkb, attributes)` for every row whose geometry's box
    /// meets `bounds` (xmin, ymin, xmax, ymax in the source's coordinates),
    /// as the tile query's `&&` would. No privilege or policy is checked here:
    /// the caller has found full access (`crate::access`).
    pub fn read(
        &self,
        bounds: [f64; 4],
        mut f: impl FnMut(Option<i64>, Option<&[u8]>, &[(u32, AttrValue<'_>)]),
    ) -> SqlResult<()> {
        let last_attnum = self.attributes.iter().map(|a| a.0).chain([self.id.0, self.geom]).max().unwrap_or(1);
        let mut batch = PgMemoryContexts::new("gridkit index read");
        let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::with_capacity(self.attributes.len());
        // SAFETY: the relations are opened and locked as the executor would
        // (AccessShareLock, held to the end of the transaction), scanned
        // with the active snapshot, and closed; an error in between is
        // cleaned up by the transaction's abort like any executor's. Datums
        // are read by the types the catalog gave at plan load (a change of
        // type invalidates the plan).
        unsafe {
            let heap = pg_sys::table_open(self.relid, pg_sys::AccessShareLock as i32);
            let index = pg_sys::index_open(self.index, pg_sys::AccessShareLock as i32);
            let mut make_envelope = pg_sys::FmgrInfo::default();
            pg_sys::fmgr_info(self.make_envelope, &mut make_envelope);
            let mut as_binary = pg_sys::FmgrInfo::default();
            pg_sys::fmgr_info(self.as_binary, &mut as_binary);
            let envelope = pg_sys::FunctionCall5Coll(
                &mut make_envelope,
                Oid::INVALID,
                bounds[0].into_datum().expect("float8"),
                bounds[1].into_datum().expect("float8"),
                bounds[2].into_datum().expect("float8"),
                bounds[3].into_datum().expect("float8"),
                pg_sys::Datum::from(self.srid),
            );
            let mut key = pg_sys::ScanKeyData::default();
            pg_sys::ScanKeyEntryInitialize(
                &mut key,
                0,
                1,
                self.strategy,
                self.geometry_type,
                Oid::INVALID,
                self.operator_proc,
                envelope,
            );
            let scan = pg_sys::index_beginscan(heap, index, pg_sys::GetActiveSnapshot(), 1, 0);
            pg_sys::index_rescan(scan, &mut key, 1, std::ptr::null_mut(), 0);
            let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
            let mut rows: std::ffi::c_long = 0;
            while pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
                pg_sys::slot_getsomeattrs_int(slot, i32::from(last_attnum));
                let values = std::slice::from_raw_parts((*slot).tts_values, last_attnum as usize);
                let nulls = std::slice::from_raw_parts((*slot).tts_isnull, last_attnum as usize);
                let at = |attnum: i16| (!nulls[attnum as usize - 1]).then(|| values[attnum as usize - 1]);
                batch.switch_to(|_| {
                    let id = at(self.id.0).map(|d| match self.id.1.read(d) {
                        AttrValue::Int(n) => n,
                        _ => unreachable!("id columns are integers"),
                    });
                    let wkb = at(self.geom)
                        .map(|g| varlena_bytes(pg_sys::FunctionCall1Coll(&mut as_binary, Oid::INVALID, g)));
                    attrs.clear();
                    for (i, &(attnum, t)) in self.attributes.iter().enumerate() {
                        if let Some(d) = at(attnum) {
                            attrs.push((i as u32, t.read(d)));
                        }
                    }
                    f(id, wkb, &attrs);
                });
                rows += 1;
                if rows == BATCH_ROWS {
                    rows = 0;
                    batch.reset();
                    pg_sys::check_for_interrupts!();
                }
            }
            pg_sys::ExecDropSingleTupleTableSlot(slot);
            pg_sys::index_endscan(scan);
            pg_sys::index_close(index, pg_sys::NoLock as i32);
            pg_sys::table_close(heap, pg_sys::NoLock as i32);
        }
        Ok(())
    }
}

/// Tiles from this zoom on use the generic plan, and may be read through
/// the index. A z6 tile is 1/4096 of the world: the index is always the way
/// in.
pub const GENERIC_PLAN_FROM_ZOOM: u8 = 6;

/// Whether a tile at `tile.z` may be read through the index: deep enough
/// that the tile query's own plan is an index scan too (large tiles keep
/// the custom plan, which may scan sequentially).
pub fn suits(tile: TileCoord) -> bool {
    tile.z >= GENERIC_PLAN_FROM_ZOOM && crate::gucs::INDEX_READ.get()
}
