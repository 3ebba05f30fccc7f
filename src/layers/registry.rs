//! Reading the registry and checking a layer's source against the catalog.
//!
//! The same checks run when a layer is registered and when a backend first
//! serves it, so a source altered or dropped after registration is reported
//! by name instead of failing somewhere inside a tile query.

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, Oid};
use pgrx::spi::SpiClient;

use crate::access;
use crate::error::*;
use crate::pg::postgis::Postgis;
use crate::pg::rows::first_value;

/// A column of a source relation.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub attnum: i16,
    /// The type, or the base type for a domain.
    pub base_type: Oid,
    pub typmod: i32,
    /// The declared type as `format_type` prints it.
    pub type_name: String,
}

/// A source relation as the catalog describes it now.
pub struct Source {
    pub relid: Oid,
    /// Schema-qualified and quoted, usable in SQL text.
    pub qualified_name: String,
    /// The schema, quoted.
    pub schema: String,
    pub relkind: u8,
    /// Its rows may depend on who reads them whatever the grants
    /// (`gridkit._rows_depend_on_reader`: a foreign table, a
    /// `security_invoker` or `security_barrier` view, a view that reads the
    /// current role...).
    pub rows_depend_on_reader: bool,
    /// The relations it reads: itself and, through views, every relation
    /// under it (their DDL changes what it shows).
    pub relations_under: Vec<Oid>,
    /// It is, or reads, a Citus table (see `crate::pg::citus`).
    pub reads_citus: bool,
    pub columns: Vec<Column>,
}

impl Source {
    /// What `crate::access` decides from, for a reader of `columns`.
    pub fn access_facts<'a>(&self, columns: impl IntoIterator<Item = &'a Column>) -> access::SourceFacts {
        access::SourceFacts {
            relid: self.relid,
            name: self.qualified_name.clone(),
            rows_depend_on_reader: self.rows_depend_on_reader,
            columns: columns.into_iter().map(|c| (c.attnum, c.name.clone())).collect(),
        }
    }

    /// Looks the relation up; `None` when no relation has this oid.
    pub fn load(client: &SpiClient<'_>, relid: Oid) -> SqlResult<Option<Source>> {
        let head = client
            .select(
                "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
                        c.relkind::text, pg_catalog.quote_ident(n.nspname),
                        gridkit._rows_depend_on_reader(c.oid), u.under,
                        EXISTS (SELECT 1 FROM pg_catalog.unnest(u.under) r(relid)
                                 WHERE gridkit._citus_table(r.relid) IS NOT NULL)
                   FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
                        LATERAL (SELECT gridkit._relations_under(c.oid) AS under) u
                  WHERE c.oid = $1",
                Some(1),
                &[relid.into()],
            )?
            .first();
        if head.is_empty() {
            return Ok(None);
        }
        let qualified_name = head.get::<String>(1)?.unwrap_or_default();
        let relkind = head.get::<String>(2)?.unwrap_or_default().bytes().next().unwrap_or(b'?');
        let schema = head.get::<String>(3)?.unwrap_or_default();
        let rows_depend_on_reader = head.get::<bool>(4)?.unwrap_or(true);
        let relations_under = head.get::<Vec<Oid>>(5)?.unwrap_or_default();
        let reads_citus = head.get::<bool>(6)?.unwrap_or(false);
        let mut columns = Vec::new();
        for row in client.select(
            "SELECT a.attname::text,
                    CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
                    a.atttypmod,
                    pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnum
               FROM pg_catalog.pg_attribute a
               JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            None,
            &[relid.into()],
        )? {
            columns.push(Column {
                name: row.get::<String>(1)?.unwrap_or_default(),
                base_type: row.get::<Oid>(2)?.unwrap_or(Oid::INVALID),
                typmod: row.get::<i32>(3)?.unwrap_or(-1),
                type_name: row.get::<String>(4)?.unwrap_or_default(),
                attnum: row.get::<i16>(5)?.unwrap_or(0),
            });
        }
        Ok(Some(Source {
            relid,
            qualified_name,
            schema,
            relkind,
            rows_depend_on_reader,
            relations_under,
            reads_citus,
            columns,
        }))
    }

    /// Like `load`, for a relation an argument named: a missing one is
    /// `42P01` (an oid that a regclass argument resolved a moment ago can
    /// only vanish under a concurrent DROP).
    pub fn require(client: &SpiClient<'_>, relid: Oid) -> SqlResult<Source> {
        Source::load(client, relid)?
            .ok_or_else(|| SqlError::new(ERRCODE_UNDEFINED_TABLE, format!("relation {relid} does not exist")))
    }

    /// Whether it is a table (plain or partitioned).
    pub fn is_table(&self) -> bool {
        matches!(self.relkind, b'r' | b'p')
    }

    fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// What kind of relation this is, with its article ("an index").
    pub fn kind_name(&self) -> &'static str {
        match self.relkind {
            b'r' | b'p' => "a table",
            b'v' => "a view",
            b'm' => "a materialized view",
            b'f' => "a foreign table",
            b'i' | b'I' => "an index",
            b'S' => "a sequence",
            b'c' => "a composite type",
            b't' => "a TOAST table",
            _ => "a relation",
        }
    }

    pub fn is_tileable_kind(&self) -> bool {
        matches!(self.relkind, b'r' | b'p' | b'v' | b'm' | b'f')
    }

    pub fn has_indexes(&self) -> bool {
        matches!(self.relkind, b'r' | b'p' | b'm')
    }
}

/// The columns a layer uses, resolved against its source.
pub struct LayerColumns {
    pub geom: Column,
    pub id: Column,
    pub attributes: Vec<Column>,
}

/// Checks that `geom_column` is a PostGIS geometry, `id_column` an integer,
/// and every attribute an existing, distinct, non-geometry column.
pub fn resolve_columns(
    source: &Source,
    postgis: &Postgis,
    geom_column: &str,
    id_column: &str,
    attributes: &[String],
) -> SqlResult<LayerColumns> {
    let table = &source.qualified_name;
    let missing =
        |col: &str| SqlError::new(ERRCODE_UNDEFINED_COLUMN, format!("column \"{col}\" does not exist in {table}"));

    let geom = source.column(geom_column).ok_or_else(|| missing(geom_column))?.clone();
    if Some(geom.base_type) == postgis.geography {
        return Err(SqlError::new(
            ERRCODE_DATATYPE_MISMATCH,
            format!("column \"{geom_column}\" of {table} is a geography; layers need a geometry column"),
        )
        .hint(format!("Register a view that selects \"{geom_column}\"::geometry.")));
    }
    if geom.base_type != postgis.geometry {
        return Err(SqlError::new(
            ERRCODE_DATATYPE_MISMATCH,
            format!("column \"{geom_column}\" of {table} has type {}, not geometry", geom.type_name),
        ));
    }

    let id = source.column(id_column).ok_or_else(|| missing(id_column))?.clone();
    if ![pg_sys::INT2OID, pg_sys::INT4OID, pg_sys::INT8OID].contains(&id.base_type) {
        return Err(SqlError::new(
            ERRCODE_DATATYPE_MISMATCH,
            format!(
                "id column \"{id_column}\" of {table} has type {}; it must be smallint, integer or bigint",
                id.type_name
            ),
        )
        .hint("Vector tile feature ids are integers. Use a view that exposes an integer key."));
    }

    let mut resolved: Vec<Column> = Vec::with_capacity(attributes.len());
    for a in attributes {
        if a == geom_column {
            return Err(SqlError::new(
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("\"{a}\" is the geometry column; it cannot also be an attribute"),
            ));
        }
        if resolved.iter().any(|c| &c.name == a) {
            return Err(SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("attribute \"{a}\" is listed twice")));
        }
        resolved.push(source.column(a).ok_or_else(|| missing(a))?.clone());
    }
    Ok(LayerColumns { geom, id, attributes: resolved })
}

/// The SRID a geometry column declares in its type modifier, 0 if none.
pub fn declared_srid(client: &SpiClient<'_>, postgis: &Postgis, geom: &Column) -> SqlResult<i32> {
    if geom.typmod < 0 {
        return Ok(0);
    }
    let sql = format!("SELECT {}($1)", postgis.f("postgis_typmod_srid"));
    Ok(first_value::<i32>(client, &sql, &[geom.typmod.into()])?.unwrap_or(0))
}

/// A layer's row in `gridkit.layer`.
pub struct LayerRow {
    pub source: Oid,
    pub source_name: String,
    pub geom_column: String,
    pub id_column: String,
    pub attributes: Vec<String>,
    pub options: serde_json::Value,
    pub srid: i32,
}

impl LayerRow {
    pub fn load(client: &SpiClient<'_>, name: &str) -> SqlResult<Option<LayerRow>> {
        let row = client
            .select(
                "SELECT source::oid, source_name, geom_column::text, id_column::text, attributes, options, srid
                   FROM gridkit.layer WHERE name = $1",
                Some(1),
                &[name.into()],
            )?
            .first();
        if row.is_empty() {
            return Ok(None);
        }
        Ok(Some(LayerRow {
            source: row.get::<Oid>(1)?.unwrap_or(Oid::INVALID),
            source_name: row.get::<String>(2)?.unwrap_or_default(),
            geom_column: row.get::<String>(3)?.unwrap_or_default(),
            id_column: row.get::<String>(4)?.unwrap_or_default(),
            attributes: row.get::<Vec<Option<String>>>(5)?.unwrap_or_default().into_iter().flatten().collect(),
            options: row.get::<pgrx::JsonB>(6)?.map(|j| j.0).unwrap_or(serde_json::Value::Null),
            srid: row.get::<i32>(7)?.unwrap_or(0),
        }))
    }
}

/// The oids of `gridkit.layer` and `gridkit.pyramid`, whose invalidation
/// tells every backend that the registry or a pyramid changed.
pub fn registry_relids(client: &SpiClient<'_>) -> SqlResult<[Oid; 3]> {
    let oid = |name: &str| -> SqlResult<Oid> {
        Ok(first_value::<Oid>(client, &format!("SELECT '{name}'::pg_catalog.regclass::oid"), &[])?
            .unwrap_or(Oid::INVALID))
    };
    Ok([oid("gridkit.layer")?, oid("gridkit.pyramid")?, oid("gridkit.generalization")?])
}

/// The error for a layer name that is not registered.
pub fn unknown_layer(name: &str) -> SqlError {
    SqlError::new(ERRCODE_UNDEFINED_OBJECT, format!("layer \"{name}\" does not exist"))
        .hint("See SELECT name FROM gridkit.layers; register a layer with gridkit.layer_register().")
}

/// Builds a parameter of type regclass from an oid.
pub fn regclass_arg<'a>(relid: Oid) -> DatumWithOid<'a> {
    // SAFETY: an oid datum is a valid regclass datum.
    unsafe { DatumWithOid::new(relid, pg_sys::REGCLASSOID) }
}

/// Runs `f` (registering, dropping or building layer `layer`) for a caller
/// who manages the layer's source ([`require_layer_manager`](crate::access::require_layer_manager)), as the
/// extension's owner. `42704` for a layer that is not registered.
pub fn managing_layer<T>(layer: &str, f: impl FnOnce() -> SqlResult<T>) -> SqlResult<T> {
    let source =
        pgrx::Spi::get_one_with_args::<Oid>("SELECT source::oid FROM gridkit.layer WHERE name = $1", &[layer.into()]);
    let source = match source {
        Ok(Some(oid)) => oid,
        Ok(None) | Err(pgrx::spi::SpiError::InvalidPosition) => return Err(unknown_layer(layer)),
        Err(e) => return Err(e.into()),
    };
    if access::relation_owner(source).is_some() {
        access::require_layer_manager(source, layer)?;
    } else if !access::has_privileges_of(access::extension_owner()?) {
        // The source is gone: only whoever owns gridkit may clean up.
        return Err(SqlError::new(
            ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("the source of layer \"{layer}\" no longer exists; a superuser may drop the layer"),
        ));
    }
    let _owner = access::AsRole::extension_owner()?;
    f()
}
