//! Derived data (cluster pyramids, generalized bands): the rules every build
//! follows, shared by `cluster::build` and `generalize::build`.
//!
//! - One build of a layer at a time: a transaction-scoped advisory lock per
//!   (kind, layer); the registry row is held `FOR SHARE`.
//! - The source rows and the layer's data version are read in one statement,
//!   so a build records exactly the version it describes.
//! - Each build writes new tables (numbered from one sequence), which become
//!   members of the extension; a row of state is then pointed at them in the
//!   same transaction, so readers never wait and never see half a build.
//! - The previous build's tables are retired and dropped by a later build,
//!   once `ConditionalLockRelationOid` shows no reader holds them.

use pgrx::prelude::*;
use pgrx::spi::SpiClient;

use crate::error::*;
use crate::layers::plan::LayerPlan;
use crate::layers::registry::unknown_layer;
use crate::layers::tracking;
use crate::pg::rows::{first_value, for_each_row, Col, Plan, Planning};

/// Which kind of derived data a build makes; each has its own lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pyramid,
    Generalization,
}

impl Kind {
    /// Advisory lock classes: "grid" and "gen\0" in ASCII.
    fn lock_class(self) -> i32 {
        match self {
            Kind::Pyramid => 0x6772_6964,
            Kind::Generalization => 0x6765_6e00,
        }
    }
}

/// Starts a build of `layer`: takes the lock, checks the layer exists, loads
/// its plan and re-syncs its tracked tables. Returns the plan.
pub fn begin(client: &mut SpiClient<'_>, kind: Kind, layer: &str) -> SqlResult<LayerPlan> {
    client.update(
        "SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))",
        None,
        &[kind.lock_class().into(), layer.into()],
    )?;
    if client.update("SELECT 1 FROM gridkit.layer WHERE name = $1 FOR SHARE", None, &[layer.into()])?.is_empty() {
        return Err(unknown_layer(layer));
    }
    let plan = LayerPlan::load(client, layer)?.ok_or_else(|| unknown_layer(layer))?;
    tracking::sync(client, layer, plan.relid)?;
    Ok(plan)
}

/// The number of a new build.
pub fn next_build(client: &SpiClient<'_>) -> SqlResult<i64> {
    Ok(first_value::<i64>(client, "SELECT pg_catalog.nextval('gridkit.build')", &[])?.unwrap_or_default())
}

/// Reads every row of the layer's source, columns `select_list` (the tile
/// query's, `plan.select_list`, or `plan.stored_select_list`) plus
/// `extra_columns` (SQL over alias `t`), and the layer's data version, in one
/// snapshot. `f(version, row values, nulls)` is called per row, with the
/// values starting at the id; for an empty source, `f` is never called and
/// the version is returned alone.
pub fn read_source(
    plan: &LayerPlan,
    select_list: &str,
    extra_columns: &str,
    columns: &[Col],
    mut f: impl FnMut(&[pg_sys::Datum], &[bool]),
) -> SqlResult<i64> {
    let sql = format!(
        // MATERIALIZED: a plain subquery would be pulled up and the version
        // computed once per row.
        "WITH v(version) AS MATERIALIZED (SELECT gridkit.layer_data_version($1))
         SELECT v.version, s.* FROM v LEFT JOIN LATERAL (SELECT true AS present, {select_list}{extra_columns} FROM {} AS t) AS s ON true",
        plan.source
    );
    // As the source's owner, with restricted security: reading a view runs
    // its code, which must not run with the rights of whoever builds (a
    // superuser's scheduled refresh).
    let owner = crate::access::relation_owner(plan.relid)
        .ok_or_else(|| SqlError::new(ERRCODE_UNDEFINED_TABLE, format!("{} no longer exists", plan.source)))?;
    let read = Plan::prepare(&sql, &[pg_sys::TEXTOID], Planning::Custom, false)?.run_as(owner);
    let mut version = 0i64;
    let args = [plan.name.as_str().into_datum()];
    // The data version and whether the source had a row, then the caller's.
    let all: Vec<Col> = [Col::Int8, Col::Bool].into_iter().chain(columns.iter().copied()).collect();
    for_each_row(&read, &args, false, &all, |values, nulls| {
        version = values[0].value() as i64;
        if !nulls[1] {
            f(&values[2..], &nulls[2..]);
        }
    });
    Ok(version)
}

/// The error for stored build data that does not decode (`what` of the
/// build, e.g. "attributes"): only a corrupted table can cause it, and a
/// refresh rebuilds the table.
pub fn malformed(kind: Kind, layer: &str, what: &str) -> SqlError {
    let (data, refresh) = match kind {
        Kind::Pyramid => ("the cluster pyramid", "cluster_refresh"),
        Kind::Generalization => ("the generalized bands", "generalize_refresh"),
    };
    SqlError::new(ERRCODE_DATA_CORRUPTED, format!("{data} of layer \"{layer}\" holds malformed {what}"))
        .hint(format!("Rebuild it with SELECT gridkit.{refresh}('{layer}');"))
}

/// The oid of the table `name` that this build created (a qualified,
/// quoted name), for writing into it with COPY.
pub fn created_table(client: &SpiClient<'_>, name: &str) -> SqlResult<pg_sys::Oid> {
    first_value::<pg_sys::Oid>(client, "SELECT $1::pg_catalog.regclass::oid", &[name.into()])?
        .ok_or_else(|| SqlError::new(ERRCODE_UNDEFINED_TABLE, format!("{name} was not created")))
}

/// Creates the partition for zoom `z` of a build's table `storage`
/// (partitioned by `level`), a member of the extension as its table is.
///
/// One partition per zoom: each zoom's index is built from its own rows
/// (partial indexes on one table would each scan all of them), and a
/// tile's query, whose zoom is a literal, reads one partition. Readers go
/// through `storage` only, so the partition gets no grant of its own.
pub fn create_zoom_partition(client: &mut SpiClient<'_>, storage: &str, z: u8) -> SqlResult<()> {
    crate::pg::citus::node_local_ddl(client, |client| {
        client.update(
            &format!(
                "CREATE TABLE {storage}_z{z} PARTITION OF {storage} FOR VALUES IN ({z});
                 ALTER EXTENSION gridkit ADD TABLE {storage}_z{z};"
            ),
            None,
            &[],
        )?;
        Ok(())
    })
}

/// Makes a build's tables members of the extension, readable by their
/// owner only: they hold every row and column of the source whatever its
/// policies, so they are read only through our queries, run as the owner
/// once `crate::access` has decided the caller may see it all. (Callers
/// analyze what the planner needs: statistics on a table of large arrays
/// cost more than the build.)
pub fn adopt_tables(client: &mut SpiClient<'_>, tables: &[&str], comment: &str) -> SqlResult<()> {
    let mut ddl = String::new();
    for t in tables {
        ddl.push_str(&format!("REVOKE ALL ON {t} FROM PUBLIC; ALTER EXTENSION gridkit ADD TABLE {t};\n"));
    }
    if let Some(first) = tables.first() {
        ddl.push_str(&format!("COMMENT ON TABLE {first} IS {};", crate::layers::plan::quote_literal(comment)));
    }
    crate::pg::citus::node_local_ddl(client, |client| {
        client.update(&ddl, None, &[])?;
        Ok(())
    })?;
    Ok(())
}

/// Records the tables of `layer`'s current build of `kind` as retired, for a
/// later `drop_retired` (readers may still open them until this transaction
/// commits).
pub fn retire(client: &mut SpiClient<'_>, kind: Kind, layer: &str) -> SqlResult<()> {
    let sql = match kind {
        Kind::Pyramid => {
            "INSERT INTO gridkit.retired_relation (relation)
             SELECT r FROM gridkit.pyramid p,
                    LATERAL (VALUES (p.storage::oid), (p.leaves::oid), (p.points_store::oid)) AS v(r)
              WHERE p.layer = $1
             ON CONFLICT DO NOTHING"
        }
        Kind::Generalization => {
            "INSERT INTO gridkit.retired_relation (relation)
             SELECT r FROM gridkit.generalization g, LATERAL (VALUES (g.storage::oid), (g.tiles::oid)) AS v(r)
              WHERE g.layer = $1 AND r IS NOT NULL
             ON CONFLICT DO NOTHING"
        }
    };
    client.update(sql, None, &[layer.into()])?;
    Ok(())
}

/// Drops tables of retired builds that no one holds, except those retired
/// in this transaction.
pub fn drop_retired(client: &mut SpiClient<'_>) -> SqlResult<()> {
    let retired = client.select(
        "SELECT r.relation, c.oid IS NOT NULL,
                pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
           FROM gridkit.retired_relation r
           LEFT JOIN pg_catalog.pg_class c ON c.oid = r.relation
           LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE r.retired_by <> pg_catalog.pg_current_xact_id()",
        None,
        &[],
    )?;
    let mut found: Vec<(pg_sys::Oid, bool, Option<String>)> = Vec::new();
    for row in retired {
        found.push((
            row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::Oid::INVALID),
            row.get::<bool>(2)?.unwrap_or(false),
            row.get::<String>(3)?,
        ));
    }
    for (oid, exists, name) in found {
        if exists {
            // SAFETY: a conditional lock never waits; we keep it to the end of
            // the transaction, as DROP would.
            let locked =
                unsafe { pg_sys::ConditionalLockRelationOid(oid, pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE) };
            if !locked {
                continue; // a reader holds it; a later build drops it
            }
            if let Some(name) = name {
                // A partitioned table's partitions are members too; DROP
                // takes them along once they are released.
                let release: Option<String> = first_value(
                    client,
                    "SELECT pg_catalog.string_agg(pg_catalog.format('ALTER EXTENSION gridkit DROP TABLE %s;', \
                                                                    inhrelid::pg_catalog.regclass), ' ')
                       FROM pg_catalog.pg_inherits WHERE inhparent = $1",
                    &[oid.into()],
                )?;
                crate::pg::citus::node_local_ddl(client, |client| {
                    client.update(
                        &format!(
                            "{} ALTER EXTENSION gridkit DROP TABLE {name}; DROP TABLE {name}",
                            release.unwrap_or_default()
                        ),
                        None,
                        &[],
                    )?;
                    Ok(())
                })?;
            }
        }
        client.update("DELETE FROM gridkit.retired_relation WHERE relation = $1", None, &[oid.into()])?;
    }
    Ok(())
}

/// After a build: drops what can go and folds counted changes.
pub fn finish(client: &mut SpiClient<'_>) -> SqlResult<()> {
    drop_retired(client)?;
    client.update("SELECT gridkit.compact_data_versions()", None, &[])?;
    Ok(())
}

/// Wall time per phase of a build, reported at DEBUG1 (`SET
/// client_min_messages = debug1` to see where a refresh spends its time).
pub struct Phases {
    what: String,
    last: std::time::Instant,
    done: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn start(what: String) -> Phases {
        Phases { what, last: std::time::Instant::now(), done: Vec::new() }
    }

    /// Ends the current phase, naming it.
    pub fn mark(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        self.done.push((phase, (now - self.last).as_secs_f64() * 1e3));
        self.last = now;
    }

    pub fn report(&self) {
        let parts: Vec<String> = self.done.iter().map(|(p, ms)| format!("{p} {ms:.1} ms")).collect();
        pgrx::debug1!("gridkit: {}: {}", self.what, parts.join(", "));
    }
}

/// The table of `layer`'s last build of `kind` (its pyramid or its bands)
/// read whole by `columns_sql`, for `pyramid_rows` and `generalized_rows`:
/// refused unless the caller may read every row of the source
/// (`crate::access`), then read as the table's owner. `f` sees each row.
pub fn read_build_table(
    layer: &str,
    kind: Kind,
    missing: SqlError,
    what: &str,
    columns_sql: &str,
    columns: &[Col],
    mut f: impl FnMut(&[pg_sys::Datum], &[bool]),
) -> SqlResult<()> {
    let registry = match kind {
        Kind::Pyramid => "gridkit.pyramid",
        Kind::Generalization => "gridkit.generalization",
    };
    let registry_sql = format!(
        "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), c.relowner
           FROM {registry} b JOIN pg_catalog.pg_class c ON c.oid = b.storage
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE b.layer = $1"
    );
    let found = Spi::connect(|client| -> SqlResult<Option<(String, pg_sys::Oid)>> {
        let row = client.select(&registry_sql, Some(1), &[layer.into()])?;
        if row.is_empty() {
            return Ok(None);
        }
        let row = row.first();
        Ok(Some((row.get::<String>(1)?.unwrap_or_default(), row.get::<pg_sys::Oid>(2)?.unwrap_or_default())))
    })?;
    let Some((storage, owner)) = found else { return Err(missing) };
    let plan = crate::layers::cache::get(layer)?;
    plan.access.require_full(layer, what)?;
    Spi::connect(|_| -> SqlResult<()> {
        let read =
            Plan::prepare(&format!("SELECT {columns_sql} FROM {storage}"), &[], Planning::Custom, false)?.run_as(owner);
        for_each_row(&read, &[], true, columns, &mut f);
        Ok(())
    })
}
