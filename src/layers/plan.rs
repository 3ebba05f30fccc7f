//! A layer ready to serve: its checked definition, the tile query for it and
//! that query's prepared plan, kept across calls in this backend.

pub use gridkit_sqltext::{quote_ident, quote_literal};
use std::cell::RefCell;
use std::rc::Rc;

use gridkit_mvt::tile::Bounds;
use gridkit_mvt::{SourceCrs, TileCoord, TileSpace};
use gridkit_options::cluster::{AggFn, RESERVED};
use gridkit_options::zoom::{Literal, Predicate};
use gridkit_options::{ClusterOptions, LayerOptions, ZoomRules};
use rustc_hash::FxHashMap;

use pgrx::pg_sys::{self, Oid};
use pgrx::spi::SpiClient;

use super::registry::{declared_srid, resolve_columns, LayerRow, Source};
use crate::access::SourceFacts;
use crate::error::*;
use crate::pg::postgis::Postgis;
use crate::pg::rows::{Plan, Planning};
use crate::tiles::index_read::IndexRead;

pub use gridkit_mvt::AttrKind;

/// How a column of (base) type `t` arrives from the tile query.
pub fn attr_kind_of(t: Oid) -> AttrKind {
    match t {
        t if t == pg_sys::INT2OID || t == pg_sys::INT4OID || t == pg_sys::INT8OID => AttrKind::Int,
        t if t == pg_sys::FLOAT4OID => AttrKind::Float,
        t if t == pg_sys::FLOAT8OID || t == pg_sys::NUMERICOID => AttrKind::Double,
        t if t == pg_sys::BOOLOID => AttrKind::Bool,
        _ => AttrKind::Text,
    }
}

/// How the tile query's column of kind `kind` is read (`pg::rows::Col`).
pub fn read_as(kind: AttrKind) -> crate::pg::rows::Col {
    use crate::pg::rows::Col;
    match kind {
        AttrKind::Int => Col::Int8,
        AttrKind::Float => Col::Float4,
        AttrKind::Double => Col::Float8,
        AttrKind::Bool => Col::Bool,
        // text, or its UTF-8 bytes (bytea) in a database of another encoding
        AttrKind::Text => Col::Varlena,
    }
}

pub struct Attribute {
    pub name: String,
    pub kind: AttrKind,
    /// The column itself, quoted, over alias `t` (for filters).
    pub column: String,
}

/// Which plan of a layer's tile query: with the condition of zoom rule
/// `rule` (none: every feature), with a tile filter or not.
type PlanKey = (Option<usize>, bool);

/// A clustered layer: its options resolved against the attributes.
pub struct ClusterPlan {
    pub options: ClusterOptions,
    /// (attribute index, aggregate).
    pub aggregates: Vec<(usize, AggFn)>,
    /// The attribute index of `partition_by`.
    pub partition: Option<usize>,
    /// The pyramid serving now, if one was built with the layer's current
    /// settings.
    pub pyramid: Option<PyramidPlan>,
}

/// The pyramid build serving a clustered layer and its per-zoom queries.
pub struct PyramidPlan {
    pub build: i64,
    /// The owner of the build's tables, which only it may read: our
    /// queries over them run as it (`rows::Plan::run_as`).
    pub owner: Oid,
    /// Schema-qualified, quoted.
    pub storage: String,
    pub leaves: String,
    /// The build's points, packed for filtered tiles (`cluster::store`).
    points_store: String,
    /// Prepared on first use: (zoom, filtered by partition) -> plan.
    level_plans: RefCell<FxHashMap<(u8, bool), Rc<Plan>>>,
    /// The query of the packed points around a box, prepared on first use.
    points_plan: RefCell<Option<Rc<Plan>>>,
    /// The query of packed points' ids and attributes, prepared on first use.
    details_plan: RefCell<Option<Rc<Plan>>>,
}

impl PyramidPlan {
    /// `cluster::layout::chunks_in_box_sql`, prepared on first use.
    pub fn points_plan(&self, postgis: &str) -> SqlResult<Rc<Plan>> {
        if let Some(p) = self.points_plan.borrow().as_ref() {
            return Ok(p.clone());
        }
        let sql = crate::cluster::layout::chunks_in_box_sql(&self.points_store, postgis);
        let plan = Rc::new(Plan::prepare(&sql, &[pg_sys::FLOAT8OID; 4], Planning::Generic, true)?.run_as(self.owner));
        *self.points_plan.borrow_mut() = Some(plan.clone());
        Ok(plan)
    }

    /// `cluster::layout::chunks_at_sql`, prepared on first use.
    pub fn details_plan(&self) -> SqlResult<Rc<Plan>> {
        if let Some(p) = self.details_plan.borrow().as_ref() {
            return Ok(p.clone());
        }
        let sql = crate::cluster::layout::chunks_at_sql(&self.points_store);
        let plan = Rc::new(Plan::prepare(&sql, &[pg_sys::TIDARRAYOID], Planning::Generic, true)?.run_as(self.owner));
        *self.details_plan.borrow_mut() = Some(plan.clone());
        Ok(plan)
    }

    /// The kept plan of `cluster::layout::level_sql` for one zoom.
    pub fn level_plan(&self, zoom: u8, partitioned: bool, postgis: &str) -> SqlResult<Rc<Plan>> {
        if let Some(p) = self.level_plans.borrow().get(&(zoom, partitioned)) {
            return Ok(p.clone());
        }
        let (sql, types) = crate::cluster::layout::level_sql(&self.storage, zoom, partitioned, postgis);
        let plan = Rc::new(Plan::prepare(&sql, &types, Planning::Generic, true)?.run_as(self.owner));
        self.level_plans.borrow_mut().insert((zoom, partitioned), plan.clone());
        Ok(plan)
    }
}

pub struct LayerPlan {
    pub name: String,
    pub relid: Oid,
    /// The source and, through views, every relation under it: DDL on any
    /// of them (a policy, a grant, a view's query) makes this plan stale.
    pub relations_under: Vec<Oid>,
    /// What `crate::access` decides from.
    pub access: SourceFacts,
    /// The source, schema-qualified and quoted.
    pub source: String,
    /// The geometry column, quoted, over alias `t`.
    pub geom: String,
    /// PostGIS's schema, quoted.
    pub postgis_schema: String,
    /// `None`: PostGIS transforms to Web Mercator in the query.
    pub crs: Option<SourceCrs>,
    pub options: LayerOptions,
    pub attributes: Vec<Attribute>,
    pub cluster: Option<ClusterPlan>,
    /// The generalized bands serving now, if built with the current settings.
    pub generalization: Option<GeneralizationPlan>,
    /// Per zoom rule, its condition as SQL over alias `t`.
    pub rule_sql: Vec<String>,
    /// (attribute index, descending) of the `rank` option.
    pub rank: Option<(usize, bool)>,
    /// The tile query's columns over alias `t`: id, WKB, attributes.
    pub select_list: String,
    /// The same with the geometry as stored (in Web Mercator or the
    /// source's 4326/3857), for readers of points that parse it themselves
    /// (`gridkit_mvt::gserialized`).
    pub stored_select_list: String,
    filter_sql: String,
    /// The id column, quoted, over alias `t`.
    pub id_column: String,
    /// Reading raw rows through the GiST index, when the source allows.
    pub index_read: Option<IndexRead>,
    /// Its tile queries run on Citus tables, which Citus plans only with
    /// the parameters' values: custom plans at every zoom.
    reads_citus: bool,
    /// The tile query, [custom, generic], per rule and filter, prepared on
    /// first use (the plain one at load, so a broken source is reported
    /// there). Columns: id bigint, wkb bytea, then one per attribute.
    /// Parameters: xmin, ymin, xmax, ymax of the bounding box, in the
    /// source's coordinates (Web Mercator when PostGIS transforms the
    /// source); filtered plans add one array per attribute, of its type
    /// (`tiles::filter::bound_values`; NULL: no condition on it). The
    /// custom plan is planned afresh for each tile: for large tiles, where a
    /// sequential scan may beat the index and planning costs nothing; the
    /// generic one is planned once (an index scan), for small tiles, where
    /// planning would be a third of the work.
    plans: RefCell<FxHashMap<PlanKey, Rc<[Plan; 2]>>>,
}

/// The generalized bands serving a line or polygon layer.
pub struct GeneralizationPlan {
    /// Schema-qualified, quoted.
    pub storage: String,
    /// The owner of the build's tables (`None` for a build this
    /// transaction is making, read by its maker).
    pub owner: Option<Oid>,
    pub max_zoom: u8,
    /// Prepared on first use, per zoom.
    level_plans: RefCell<FxHashMap<u8, Rc<Plan>>>,
    pub tiles: Option<StoredTiles>,
    /// Bands of a build still being made: written by this transaction, so
    /// read with a snapshot taken after the writes.
    pub unpublished: bool,
}

/// A generalization build's stored tiles: every non-empty tile of zooms 0
/// to `max_zoom`, rendered from the bands under `budget`.
pub struct StoredTiles {
    /// Schema-qualified, quoted.
    pub storage: String,
    pub owner: Oid,
    pub max_zoom: u8,
    pub budget: gridkit_mvt::Budget,
    /// Prepared on first use.
    lookup: RefCell<Option<Rc<Plan>>>,
}

impl StoredTiles {
    /// tile, features, dropped for max_features, dropped for max_bytes of
    /// one tile. Parameters: z, x, y (int4).
    pub fn lookup_plan(&self) -> SqlResult<Rc<Plan>> {
        if let Some(p) = self.lookup.borrow().as_ref() {
            return Ok(p.clone());
        }
        let (sql, types) = crate::generalize::layout::tile_lookup_sql(&self.storage);
        let plan = Rc::new(Plan::prepare(&sql, &types, Planning::Generic, true)?.run_as(self.owner));
        *self.lookup.borrow_mut() = Some(plan.clone());
        Ok(plan)
    }
}

impl GeneralizationPlan {
    /// The bands in `storage` (a build not yet serving), without stored tiles.
    pub fn of_build(storage: String, max_zoom: u8) -> GeneralizationPlan {
        GeneralizationPlan {
            storage,
            owner: None,
            max_zoom,
            level_plans: RefCell::new(FxHashMap::default()),
            tiles: None,
            unpublished: true,
        }
    }

    /// The rows of one band: id, WKB (Web Mercator), props. Parameters: the
    /// box (float8 × 4, Web Mercator).
    pub fn level_plan(&self, zoom: u8, postgis: &str) -> SqlResult<Rc<Plan>> {
        if let Some(p) = self.level_plans.borrow().get(&zoom) {
            return Ok(p.clone());
        }
        let sql = crate::generalize::layout::level_sql(&self.storage, zoom, postgis);
        let plan = Plan::prepare(&sql, &[pg_sys::FLOAT8OID; 4], Planning::Generic, true)?;
        let plan = Rc::new(match self.owner {
            Some(owner) => plan.run_as(owner),
            None => plan,
        });
        self.level_plans.borrow_mut().insert(zoom, plan.clone());
        Ok(plan)
    }
}

pub use crate::tiles::index_read::GENERIC_PLAN_FROM_ZOOM;

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
            let column = c.clone();
            let kind = attr_kind_of(col.base_type);
            let expr = match kind {
                AttrKind::Int => format!("{c}::int8"),
                AttrKind::Double if col.base_type == pg_sys::NUMERICOID => format!("{c}::float8"),
                AttrKind::Float | AttrKind::Double | AttrKind::Bool => c,
                AttrKind::Text if utf8 => format!("{c}::text"),
                AttrKind::Text => format!("pg_catalog.convert_to({c}::text, 'UTF8')"),
            };
            select.push(expr);
            attributes.push(Attribute { name: col.name.clone(), kind, column });
        }
        let cluster = match &options.cluster {
            None => None,
            Some(c) => Some(
                resolve_cluster(c, &attributes)
                    .map_err(|e| broken(name, &source.qualified_name, e))?
                    .with_pyramid(client, name)?,
            ),
        };

        let rule_sql = rules_sql(&options.zoom, &attributes).map_err(|e| broken(name, &source.qualified_name, e))?;
        let rank = resolve_rank(&options, &attributes).map_err(|e| broken(name, &source.qualified_name, e))?;
        let generalization = GeneralizationPlan::load(client, name)?;

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
        let index_read = IndexRead::load(client, &source, &postgis, srid, &columns)?;
        let select_list = select.join(", ");
        select[1] = match crs {
            Some(_) => geom.clone(),
            None => format!("{}({geom}, 3857)", postgis.f("st_transform")),
        };
        let stored_select_list = select.join(", ");
        let filter_sql = format!("{filtered} OPERATOR({}.&&) {envelope}", postgis.schema);
        let access = source.access_facts([&columns.id, &columns.geom].into_iter().chain(&columns.attributes));
        let plan = LayerPlan {
            name: name.to_string(),
            relid: source.relid,
            relations_under: source.relations_under.clone(),
            access,
            source: source.qualified_name.clone(),
            geom: format!("t.{}", quote_ident(&columns.geom.name)),
            postgis_schema: postgis.schema.clone(),
            crs,
            options,
            attributes,
            cluster,
            generalization,
            rule_sql,
            rank,
            select_list,
            stored_select_list,
            filter_sql,
            id_column: format!("t.{}", quote_ident(&columns.id.name)),
            index_read,
            reads_citus: source.reads_citus,
            plans: RefCell::new(FxHashMap::default()),
        };
        plan.plans((None, false)).map_err(|e| broken(name, &source.qualified_name, e))?;
        Ok(Some(plan))
    }

    /// The tile budget of one layer: the layer's options, else the settings.
    pub fn budget(&self) -> gridkit_mvt::Budget {
        gridkit_mvt::Budget {
            max_features: self.options.max_features.unwrap_or(crate::gucs::MAX_FEATURES.get() as u32) as usize,
            max_bytes: self.options.max_bytes.unwrap_or(crate::gucs::MAX_BYTES.get() as u32) as usize,
        }
    }

    pub fn space(&self) -> TileSpace {
        TileSpace { extent: self.options.extent, buffer: self.options.buffer }
    }

    /// The plan for `tile`: custom below [`GENERIC_PLAN_FROM_ZOOM`] (and on
    /// Citus tables), else generic; with the zoom rule that applies at the
    /// tile's zoom and, when `filtered`, the attribute filter.
    pub fn plan_for(&self, tile: TileCoord, filtered: bool) -> SqlResult<(Rc<[Plan; 2]>, usize)> {
        let plans = self.plans((self.options.zoom.rule_at(tile.z), filtered))?;
        Ok((plans, usize::from(tile.z >= GENERIC_PLAN_FROM_ZOOM && !self.reads_citus)))
    }

    fn plans(&self, key: PlanKey) -> SqlResult<Rc<[Plan; 2]>> {
        if let Some(p) = self.plans.borrow().get(&key) {
            return Ok(p.clone());
        }
        let (rule, filtered) = key;
        let mut conditions = String::new();
        if let Some(r) = rule {
            conditions.push_str(&format!(" AND ({})", self.rule_sql[r]));
        }
        let mut types = vec![pg_sys::FLOAT8OID; 4];
        if filtered {
            for (i, a) in self.attributes.iter().enumerate() {
                let n = i + 5;
                let (cond, array) = match a.kind {
                    AttrKind::Int => (format!("{} = ANY(${n})", a.column), pg_sys::INT8ARRAYOID),
                    AttrKind::Float | AttrKind::Double => (format!("{} = ANY(${n})", a.column), pg_sys::FLOAT8ARRAYOID),
                    AttrKind::Bool => (format!("{} = ANY(${n})", a.column), pg_sys::BOOLARRAYOID),
                    AttrKind::Text => (format!("{}::text = ANY(${n})", a.column), pg_sys::TEXTARRAYOID),
                };
                conditions.push_str(&format!(" AND (${n} IS NULL OR {cond})"));
                types.push(array);
            }
        }
        let sql =
            format!("SELECT {} FROM {} AS t WHERE {}{conditions}", self.select_list, self.source, self.filter_sql);
        let plans = Rc::new([
            Plan::prepare(&sql, &types, Planning::Custom, true)?,
            Plan::prepare(&sql, &types, Planning::Generic, true)?,
        ]);
        self.plans.borrow_mut().insert(key, plans.clone());
        Ok(plans)
    }

    /// The tile plus `margin` (a fraction of the tile's width) on every side,
    /// in the source's coordinates.
    pub fn args_with_margin(&self, tile: TileCoord, margin: f64) -> [f64; 4] {
        let b: Bounds = match self.crs {
            Some(SourceCrs::LonLat) => tile.lonlat_bounds(margin),
            Some(SourceCrs::WebMercator) | None => tile.mercator_bounds(margin),
        };
        [b.xmin, b.ymin, b.xmax, b.ymax]
    }
}

/// Attributes as registration checks them (no query yet).
fn unplanned_attributes(columns: &[super::registry::Column]) -> Vec<Attribute> {
    columns
        .iter()
        .map(|c| Attribute { name: c.name.clone(), kind: attr_kind_of(c.base_type), column: String::new() })
        .collect()
}

/// Checks zoom rules and rank against the attribute columns, at registration.
pub fn check_attribute_options(options: &LayerOptions, columns: &[super::registry::Column]) -> SqlResult<()> {
    let attributes = unplanned_attributes(columns);
    if options.cluster.is_some() && !options.zoom.rules.is_empty() {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            "zoom_rules do not apply to clustered layers, whose low zooms show clusters of every point",
        )
        .hint("Use min_zoom, or a filter in grid_tile(layer, z, x, y, filter)."));
    }
    rules_sql(&options.zoom, &attributes)?;
    resolve_rank(options, &attributes)?;
    Ok(())
}

/// The SQL condition of each zoom rule over alias `t`: identifiers quoted,
/// literals quoted and typed by the attribute, so rules never carry SQL.
fn rules_sql(zoom: &ZoomRules, attributes: &[Attribute]) -> SqlResult<Vec<String>> {
    zoom.rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            predicate_sql(&r.predicate, attributes).map_err(|m| {
                let e = SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, format!("zoom rule {}: {m}", i + 1));
                if m.ends_with(NOT_REGISTERED) {
                    e.hint(
                        "Rules may only name attributes listed in the attributes argument of gridkit.layer_register.",
                    )
                } else {
                    e
                }
            })
        })
        .collect()
}

const NOT_REGISTERED: &str = "is not a registered attribute of the layer";

fn predicate_sql(p: &Predicate, attributes: &[Attribute]) -> Result<String, String> {
    let attribute =
        |name: &str| attributes.iter().find(|a| a.name == name).ok_or_else(|| format!("\"{name}\" {NOT_REGISTERED}"));
    let literal = |a: &Attribute, v: &Literal| -> Result<String, String> {
        match (a.kind, v) {
            (k, Literal::Number(n)) if k.is_numeric() => {
                Ok(format!("{}::pg_catalog.numeric", quote_literal(&n.to_string())))
            }
            (AttrKind::Text, Literal::Text(t)) => Ok(format!("{}::pg_catalog.text", quote_literal(t))),
            (AttrKind::Bool, Literal::Bool(b)) => Ok(b.to_string()),
            (k, v) => Err(format!(
                "attribute \"{}\" is {}, and cannot be compared with {}",
                a.name,
                match k {
                    AttrKind::Int | AttrKind::Float | AttrKind::Double => "a number",
                    AttrKind::Bool => "a boolean",
                    AttrKind::Text => "text",
                },
                v.kind()
            )),
        }
    };
    // Text attributes are compared as text, whatever their type.
    let column = |a: &Attribute| match a.kind {
        AttrKind::Text => format!("{}::pg_catalog.text", a.column),
        _ => a.column.clone(),
    };
    Ok(match p {
        Predicate::All(ps) | Predicate::Any(ps) => {
            let joiner = if matches!(p, Predicate::All(_)) { " AND " } else { " OR " };
            let parts = ps.iter().map(|q| predicate_sql(q, attributes)).collect::<Result<Vec<_>, _>>()?;
            format!("({})", parts.join(joiner))
        }
        Predicate::Compare { attribute: name, op, value } => {
            let a = attribute(name)?;
            if op.is_ordering() && a.kind == AttrKind::Bool {
                return Err(format!("attribute \"{name}\" is a boolean: use = or != on it"));
            }
            format!("{} {} {}", column(a), op.sql(), literal(a, value)?)
        }
        Predicate::In { attribute: name, values } => {
            let a = attribute(name)?;
            let list = values.iter().map(|v| literal(a, v)).collect::<Result<Vec<_>, _>>()?;
            format!("{} IN ({})", column(a), list.join(", "))
        }
    })
}

/// The `rank` option checked: a registered numeric attribute.
fn resolve_rank(options: &LayerOptions, attributes: &[Attribute]) -> SqlResult<Option<(usize, bool)>> {
    let Some(r) = &options.rank else { return Ok(None) };
    let bad = |m: String| SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, m);
    let i = attributes
        .iter()
        .position(|a| a.name == r.attribute)
        .ok_or_else(|| bad(format!("rank attribute \"{}\" is not a registered attribute of the layer", r.attribute)))?;
    if !attributes[i].kind.is_numeric() {
        return Err(bad(format!("rank attribute \"{}\" must be numeric", r.attribute)));
    }
    Ok(Some((i, r.descending)))
}

/// Checks cluster options against the attribute columns, at registration.
pub fn check_cluster(options: &ClusterOptions, columns: &[super::registry::Column]) -> SqlResult<()> {
    let attributes = unplanned_attributes(columns);
    resolve_cluster(options, &attributes).map(|_| ())
}

/// Checks the cluster options against the layer's attributes.
fn resolve_cluster(options: &ClusterOptions, attributes: &[Attribute]) -> SqlResult<ClusterPlan> {
    let bad = |m: String| SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, m);
    let index = |name: &str, what: &str| {
        attributes.iter().position(|a| a.name == name).ok_or_else(|| {
            bad(format!("cluster {what} \"{name}\" is not a registered attribute of the layer"))
                .hint("List it in the attributes argument of gridkit.layer_register.")
        })
    };
    if let Some(a) = attributes.iter().find(|a| RESERVED.contains(&a.name.as_str())) {
        return Err(bad(format!(
            "attribute \"{}\" has a name clustered tiles use for cluster properties ({})",
            a.name,
            RESERVED.join(", ")
        ))
        .hint("Register a view that renames the column."));
    }
    let mut aggregates = Vec::with_capacity(options.aggregates.len());
    for (attr, f) in &options.aggregates {
        let i = index(attr, "aggregate attribute")?;
        if f.is_numeric() && !matches!(attributes[i].kind, AttrKind::Int | AttrKind::Float | AttrKind::Double) {
            return Err(bad(format!(
                "cannot compute {} of attribute \"{attr}\": it is not numeric; only count and mode apply to it",
                f.name()
            )));
        }
        aggregates.push((i, *f));
    }
    let partition = options.partition_by.as_deref().map(|p| index(p, "partition_by")).transpose()?;
    Ok(ClusterPlan { options: options.clone(), aggregates, partition, pyramid: None })
}

impl ClusterPlan {
    /// Attaches the pyramid that serves the layer now, if it was built with
    /// the layer's current settings.
    fn with_pyramid(mut self, client: &SpiClient<'_>, layer: &str) -> SqlResult<ClusterPlan> {
        let row = client
            .select(
                "SELECT p.build,
                        pg_catalog.quote_ident(sn.nspname) || '.' || pg_catalog.quote_ident(s.relname),
                        pg_catalog.quote_ident(ln.nspname) || '.' || pg_catalog.quote_ident(l.relname),
                        pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(pc.relname),
                        s.relowner
                   FROM gridkit.pyramid p
                   JOIN pg_catalog.pg_class s ON s.oid = p.storage
                   JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
                   JOIN pg_catalog.pg_class l ON l.oid = p.leaves
                   JOIN pg_catalog.pg_namespace ln ON ln.oid = l.relnamespace
                   JOIN pg_catalog.pg_class pc ON pc.oid = p.points_store
                   JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                  WHERE p.layer = $1 AND p.settings = gridkit._pyramid_settings($1)",
                Some(1),
                &[layer.into()],
            )?
            .first();
        if !row.is_empty() {
            self.pyramid = Some(PyramidPlan {
                build: row.get::<i64>(1)?.unwrap_or(0),
                storage: row.get::<String>(2)?.unwrap_or_default(),
                leaves: row.get::<String>(3)?.unwrap_or_default(),
                points_store: row.get::<String>(4)?.unwrap_or_default(),
                owner: row.get::<Oid>(5)?.unwrap_or(Oid::INVALID),
                level_plans: RefCell::new(FxHashMap::default()),
                points_plan: RefCell::new(None),
                details_plan: RefCell::new(None),
            });
        }
        Ok(self)
    }
}

impl GeneralizationPlan {
    /// The bands serving `layer` now, if built with its current settings.
    fn load(client: &SpiClient<'_>, layer: &str) -> SqlResult<Option<GeneralizationPlan>> {
        let row = client
            .select(
                "SELECT g.max_zoom,
                        pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
                        pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.relname),
                        g.tiles_max_zoom, g.tiles_max_features, g.tiles_max_bytes, c.relowner, t.relowner
                   FROM gridkit.generalization g
                   JOIN pg_catalog.pg_class c ON c.oid = g.storage
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   LEFT JOIN pg_catalog.pg_class t ON t.oid = g.tiles
                   LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
                  WHERE g.layer = $1 AND g.settings = gridkit._generalization_settings($1)",
                Some(1),
                &[layer.into()],
            )?
            .first();
        if row.is_empty() {
            return Ok(None);
        }
        let tiles = match (row.get::<String>(3)?, row.get::<i16>(4)?, row.get::<i32>(5)?, row.get::<i32>(6)?) {
            (Some(storage), Some(max_zoom), Some(max_features), Some(max_bytes)) => Some(StoredTiles {
                storage,
                owner: row.get::<Oid>(8)?.unwrap_or(Oid::INVALID),
                max_zoom: max_zoom as u8,
                budget: gridkit_mvt::Budget { max_features: max_features as usize, max_bytes: max_bytes as usize },
                lookup: RefCell::new(None),
            }),
            _ => None,
        };
        Ok(Some(GeneralizationPlan {
            max_zoom: row.get::<i16>(1)?.unwrap_or(0) as u8,
            storage: row.get::<String>(2)?.unwrap_or_default(),
            owner: row.get::<Oid>(7)?,
            level_plans: RefCell::new(FxHashMap::default()),
            tiles,
            unpublished: false,
        }))
    }
}
