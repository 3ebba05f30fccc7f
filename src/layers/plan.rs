//! A layer ready to serve: its checked definition, the tile query for it and
//! that query's prepared plan, kept across calls in this backend.

use gridkit_mvt::tile::Bounds;
use gridkit_mvt::{SourceCrs, TileCoord, TileSpace};
use gridkit_options::LayerOptions;
use std::ffi::CString;
use std::ptr::NonNull;

use pgrx::pg_sys::{self, Oid};
use pgrx::spi::SpiClient;

use super::registry::{declared_srid, resolve_columns, LayerRow, Source};
use crate::error::*;
use crate::postgis::Postgis;

/// How an attribute column arrives from the tile query.
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

pub struct Attribute {
    pub name: String,
    pub kind: AttrKind,
}

pub struct LayerPlan {
    pub name: String,
    pub relid: Oid,
    /// `None`: PostGIS transforms to Web Mercator in the query.
    pub crs: Option<SourceCrs>,
    pub options: LayerOptions,
    pub attributes: Vec<Attribute>,
    /// The tile query, planned afresh for each tile: for large tiles, where
    /// a sequential scan may beat the index and planning costs nothing.
    /// Columns: id bigint, wkb bytea, then one per attribute. Parameters:
    /// xmin, ymin, xmax, ymax of the bounding box, in the source's coordinates
    /// (Web Mercator when PostGIS transforms the source).
    pub custom_plan: KeptPlan,
    /// The same query planned once (an index scan): for small tiles, where
    /// planning would be a third of the work.
    pub generic_plan: KeptPlan,
}

/// Tiles from this zoom on use the generic plan. A z6 tile is 1/4096 of the
/// world: the index is always the way in.
pub const GENERIC_PLAN_FROM_ZOOM: u8 = 6;

/// An SPI plan kept for the life of the backend (until dropped).
///
/// pgrx's prepared statements cannot choose between custom and generic plans,
/// so this prepares with `SPI_prepare_cursor` directly.
pub struct KeptPlan(NonNull<pg_sys::_SPI_plan>);

impl KeptPlan {
    /// Prepares `sql` (with float8 parameters) and keeps it. Must be called
    /// while connected to SPI.
    fn prepare(sql: &str, nargs: usize, generic: bool) -> SqlResult<KeptPlan> {
        let text = CString::new(sql).map_err(|_| SqlError::new(ERRCODE_INTERNAL_ERROR, "query text contains NUL"))?;
        let mut types = vec![pg_sys::FLOAT8OID; nargs];
        let options = if generic { pg_sys::CURSOR_OPT_GENERIC_PLAN } else { pg_sys::CURSOR_OPT_CUSTOM_PLAN };
        // SAFETY: SPI is connected; the text and types outlive the call.
        unsafe {
            let plan = pg_sys::SPI_prepare_cursor(text.as_ptr(), nargs as i32, types.as_mut_ptr(), options as i32);
            let status = pg_sys::SPI_result;
            let plan = NonNull::new(plan).ok_or_else(|| {
                SqlError::new(ERRCODE_INTERNAL_ERROR, format!("SPI_prepare_cursor failed ({status})"))
            })?;
            pg_sys::SPI_keepplan(plan.as_ptr());
            Ok(KeptPlan(plan))
        }
    }

    pub fn as_ptr(&self) -> *mut pg_sys::_SPI_plan {
        self.0.as_ptr()
    }
}

impl Drop for KeptPlan {
    fn drop(&mut self) {
        // SAFETY: the plan was kept by us and is freed once.
        unsafe { pg_sys::SPI_freeplan(self.0.as_ptr()) };
    }
}

/// Why a registered layer cannot be served: the source changed since it was
/// registered. The message names the layer and the table.
fn broken(name: &str, source_name: &str, e: SqlError) -> SqlError {
    let hint = format!(
        "Re-register it with gridkit.layer_register('{name}', ...) or remove it with gridkit.layer_drop('{name}')."
    );
    SqlError {
        message: format!("layer \"{name}\" cannot be served from {source_name}: {}", e.message),
        hint: Some(hint),
        ..e
    }
}

impl LayerPlan {
    /// Loads layer `name` from the registry, checks its source, and prepares
    /// its tile query. `Ok(None)` when no such layer is registered.
    pub fn load(client: &SpiClient<'_>, name: &str) -> SqlResult<Option<LayerPlan>> {
        let Some(row) = LayerRow::load(client, name)? else { return Ok(None) };
        let postgis = Postgis::find(client)?;
        let Some(source) = Source::load(client, row.source)? else {
            return Err(broken(
                name,
                &row.source_name,
                SqlError::new(ERRCODE_UNDEFINED_TABLE, "the relation no longer exists".to_string()),
            ));
        };
        let columns = resolve_columns(&source, &postgis, &row.geom_column, &row.id_column, &row.attributes)
            .map_err(|e| broken(name, &source.qualified_name, e))?;
        let options = LayerOptions::parse(&row.options).map_err(|e| {
            broken(name, &source.qualified_name, SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, e.to_string()))
        })?;
        // A column type altered to another SRID wins over the registered one.
        let srid = match declared_srid(client, &postgis, &columns.geom)? {
            0 => row.srid,
            declared => declared,
        };
        let crs = match srid {
            4326 => Some(SourceCrs::LonLat),
            3857 | 900913 => Some(SourceCrs::WebMercator),
            _ => None,
        };

        let utf8 = unsafe { pg_sys::GetDatabaseEncoding() } == pg_sys::pg_enc::PG_UTF8 as i32;
        let mut select = vec![
            format!("t.{}::int8", quote_ident(&columns.id.name)),
            match crs {
                Some(_) => format!("{}(t.{})", postgis.f("st_asbinary"), quote_ident(&columns.geom.name)),
                None => format!(
                    "{}({}(t.{}, 3857))",
                    postgis.f("st_asbinary"),
                    postgis.f("st_transform"),
                    quote_ident(&columns.geom.name)
                ),
            },
        ];
        let mut attributes = Vec::with_capacity(columns.attributes.len());
        for col in &columns.attributes {
            let c = format!("t.{}", quote_ident(&col.name));
            let (kind, expr) = match col.base_type {
                t if t == pg_sys::INT2OID || t == pg_sys::INT4OID || t == pg_sys::INT8OID => {
                    (AttrKind::Int, format!("{c}::int8"))
                }
                t if t == pg_sys::FLOAT4OID => (AttrKind::Float, c),
                t if t == pg_sys::FLOAT8OID => (AttrKind::Double, c),
                t if t == pg_sys::NUMERICOID => (AttrKind::Double, format!("{c}::float8")),
                t if t == pg_sys::BOOLOID => (AttrKind::Bool, c),
                _ if utf8 => (AttrKind::Text, format!("{c}::text")),
                _ => (AttrKind::Text, format!("pg_catalog.convert_to({c}::text, 'UTF8')")),
            };
            select.push(expr);
            attributes.push(Attribute { name: col.name.clone(), kind });
        }

        let geom = format!("t.{}", quote_ident(&columns.geom.name));
        // Other projections are compared in Web Mercator: transforming a
        // tile's box into, say, UTM is meaningless for large tiles and fails
        // outside the projection's domain. An expression index on
        // ST_Transform(geom, 3857) serves this filter.
        let (filtered, envelope) = match crs {
            Some(_) => (geom.clone(), format!("{}($1, $2, $3, $4, {srid})", postgis.f("st_makeenvelope"))),
            None => (
                format!("{}({geom}, 3857)", postgis.f("st_transform")),
                format!("{}($1, $2, $3, $4, 3857)", postgis.f("st_makeenvelope")),
            ),
        };
        let sql = format!(
            "SELECT {} FROM {} AS t WHERE {filtered} OPERATOR({}.&&) {envelope}",
            select.join(", "),
            source.qualified_name,
            postgis.schema
        );
        let prepare =
            |generic| KeptPlan::prepare(&sql, 4, generic).map_err(|e| broken(name, &source.qualified_name, e));
        let (custom_plan, generic_plan) = (prepare(false)?, prepare(true)?);
        Ok(Some(LayerPlan {
            name: name.to_string(),
            relid: source.relid,
            crs,
            options,
            attributes,
            custom_plan,
            generic_plan,
        }))
    }

    pub fn space(&self) -> TileSpace {
        TileSpace { extent: self.options.extent, buffer: self.options.buffer }
    }

    /// The plan to use for `tile`.
    pub fn plan_for(&self, tile: TileCoord) -> &KeptPlan {
        if tile.z >= GENERIC_PLAN_FROM_ZOOM {
            &self.generic_plan
        } else {
            &self.custom_plan
        }
    }

    /// The arguments of the tile query for `tile`: the tile plus buffer in
    /// the source's coordinates.
    pub fn args(&self, tile: TileCoord) -> [f64; 4] {
        let margin = self.space().margin();
        let b: Bounds = match self.crs {
            Some(SourceCrs::LonLat) => tile.lonlat_bounds(margin),
            Some(SourceCrs::WebMercator) | None => tile.mercator_bounds(margin),
        };
        [b.xmin, b.ymin, b.xmax, b.ymax]
    }
}

/// Quotes an identifier for SQL text.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
