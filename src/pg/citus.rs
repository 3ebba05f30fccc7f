//! Citus tables (distributed, reference, citus local). On the coordinator
//! such a table is a shell: its rows live in shard placements on the
//! nodes, and queries on it are planned by Citus and pushed down. So:
//!
//! - gridkit reads a Citus table only through SQL, never through its heap
//!   (the shell's heap is empty, or holds the rows it had before it was
//!   distributed: `tiles::index_read` refuses it);
//! - a write's change is counted where the write runs, by the statement
//!   trigger Citus puts on each shard, in that node's own
//!   `gridkit.source_change` (TRUNCATE, which Citus runs on the shell
//!   first, by a second trigger on the coordinator's table); a data
//!   version adds them up from every node (`gridkit._citus_changes`).
//!
//! Citus refuses triggers on distributed and reference tables unless
//! `citus.enable_unsafe_triggers` is on: it cannot know what a trigger
//! touches. gridkit's trigger touches only its own node-local counter
//! table, never another shard, so it sets the option for its own DDL and
//! puts it back.

use gridkit_sqltext::{quote_ident, quote_literal};
use pgrx::spi::SpiClient;

use crate::error::*;
use crate::layers::registry::Source;

thread_local! {
    static LOADED: std::cell::OnceCell<bool> = const { std::cell::OnceCell::new() };
}

/// Whether Citus is loaded in this backend (it is preloaded, so this does
/// not change while the backend lives). Statements that may read a Citus
/// table are planned with their parameters' values then: Citus cannot plan
/// a generic plan's parameters over several shards.
pub fn loaded(client: &SpiClient<'_>) -> SqlResult<bool> {
    if let Some(l) = LOADED.with(|l| l.get().copied()) {
        return Ok(l);
    }
    let loaded = client
        .select("SELECT pg_catalog.current_setting('citus.enable_ddl_propagation', true) IS NOT NULL", None, &[])?
        .first()
        .get::<bool>(1)?
        .unwrap_or(false);
    LOADED.with(|l| l.set(loaded).ok());
    Ok(loaded)
}

/// Layers and rollups of Citus tables are made on the coordinator: the
/// shard triggers are made from there, and it adds up (or takes back) what
/// they log. `what` names them ("a layer", "a rollup").
pub fn require_coordinator(client: &SpiClient<'_>, what: &str) -> SqlResult<()> {
    let coordinator = client
        .select("SELECT groupid = 0 FROM pg_catalog.pg_dist_local_group", None, &[])?
        .first()
        .get::<bool>(1)?
        .unwrap_or(true);
    if coordinator {
        return Ok(());
    }
    Err(SqlError::new(ERRCODE_FEATURE_NOT_SUPPORTED, format!("{what} of a Citus table is made on the coordinator"))
        .hint(format!("Connect to the Citus coordinator and make {what} there; workers keep none of their own.")))
}

/// The same check for the features set up in SQL (latest values,
/// ts_convert).
#[pgrx::pg_extern(schema = "gridkit", stable, name = "_require_citus_coordinator")]
fn require_coordinator_sql(what: &str) {
    pgrx::Spi::connect(|client| require_coordinator(client, what)).or_raise()
}

/// Runs `f` with Citus setting `name` at `value` when Citus is loaded
/// (else just runs `f`, with no query: builds on a plain PostgreSQL pay
/// nothing); the caller's own value is restored afterwards.
fn with_citus_setting<T>(
    client: &mut SpiClient<'_>,
    name: &str,
    value: &str,
    f: impl FnOnce(&mut SpiClient<'_>) -> SqlResult<T>,
) -> SqlResult<T> {
    if !loaded(client)? {
        return f(client);
    }
    let before =
        client.select("SELECT pg_catalog.current_setting($1)", None, &[name.into()])?.first().get::<String>(1)?;
    let before = before.unwrap_or_default();
    client.update("SELECT pg_catalog.set_config($1, $2, true)", None, &[name.into(), value.into()])?;
    let result = f(client);
    client.update("SELECT pg_catalog.set_config($1, $2, true)", None, &[name.into(), before.into()])?;
    result
}

/// Runs `f` (DDL on a Citus table's triggers) with Citus propagating it to
/// the table's shards.
pub fn with_shard_triggers<T>(
    client: &mut SpiClient<'_>,
    f: impl FnOnce(&mut SpiClient<'_>) -> SqlResult<T>,
) -> SqlResult<T> {
    with_citus_setting(client, "citus.enable_unsafe_triggers", "on", f)
}

/// Runs `f`, DDL on gridkit's own build tables, which live on this node
/// only: Citus is told not to propagate it (it would otherwise say, at
/// every build, that it does not propagate extension membership).
pub fn node_local_ddl<T>(
    client: &mut SpiClient<'_>,
    f: impl FnOnce(&mut SpiClient<'_>) -> SqlResult<T>,
) -> SqlResult<T> {
    with_citus_setting(client, "citus.enable_ddl_propagation", "off", f)
}

/// Puts the change-counting triggers on Citus table `name` (quoted,
/// qualified): INSERT, UPDATE and DELETE on every shard (Citus makes no
/// TRUNCATE trigger on shards), TRUNCATE on the coordinator's table. A
/// table registered before it was distributed has the one trigger of a
/// plain table, which Citus did not put on the shards: it is replaced.
pub fn count_changes_on_shards(client: &mut SpiClient<'_>, name: &str) -> SqlResult<()> {
    with_shard_triggers(client, |client| {
        for trigger in ["gridkit_data_version", "gridkit_data_version_truncate"] {
            client.update(&format!("DROP TRIGGER IF EXISTS {trigger} ON {name}"), None, &[])?;
        }
        client.update(
            &format!(
                "CREATE TRIGGER gridkit_data_version AFTER INSERT OR UPDATE OR DELETE ON {name}
                 FOR EACH STATEMENT EXECUTE FUNCTION gridkit._source_changed()"
            ),
            None,
            &[],
        )?;
        client.update(
            &format!(
                "CREATE TRIGGER gridkit_data_version_truncate AFTER TRUNCATE ON {name}
                 FOR EACH STATEMENT EXECUTE FUNCTION gridkit._source_changed()"
            ),
            None,
            &[],
        )?;
        Ok(())
    })
}

/// How a relation is placed by Citus ('distributed', 'reference', 'citus
/// local'), or `None` for a plain table.
fn citus_kind(client: &SpiClient<'_>, relid: pgrx::pg_sys::Oid) -> SqlResult<Option<String>> {
    Ok(client.select("SELECT gridkit._citus_table($1)", None, &[relid.into()])?.first().get::<String>(1)?)
}

/// A Citus table whose placement `feature` cannot follow.
fn unsupported(feature: &str, kind: &str) -> SqlError {
    SqlError::new(ERRCODE_FEATURE_NOT_SUPPORTED, format!("{feature} of a Citus table ({kind}) are not supported"))
        .detail(format!(
            "gridkit keeps {feature} exact with a log of the source's changes written on the node and in the \
             transaction of each write, colocated with the rows by their distribution column; a {kind} table \
             has none (only tables distributed by hash do)."
        ))
        .hint("Distribute the table by hash (create_distributed_table), keep it local, or aggregate it in SQL (docs/SCALING.md).")
}

/// The change table of a rollup source on Citus, made with its first
/// rollup: `<source>_rollup_changes (key, lower, upper)`, distributed by
/// `key` and colocated with the source, so that each shard's trigger logs
/// on its own node (`_rollup_log`). `None` for a plain table; refused
/// (0A000) for Citus tables not distributed by hash.
pub fn rollup_changes_table(client: &mut SpiClient<'_>, source: &Source) -> SqlResult<Option<String>> {
    let Some(kind) = citus_kind(client, source.relid)? else { return Ok(None) };
    let row = client
        .select(
            "SELECT d.col::text, c.relname::text,
                    (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attname = d.col),
                    (SELECT r.citus_changes::text FROM gridkit.rollup r
                      WHERE r.source = c.oid AND r.citus_changes IS NOT NULL LIMIT 1),
                    pg_catalog.pg_get_userbyid($2)::text
               FROM pg_catalog.pg_class c, gridkit._citus_distribution_column(c.oid) d(col) WHERE c.oid = $1",
            Some(1),
            &[source.relid.into(), crate::access::extension_owner()?.into()],
        )?
        .first();
    if row.get::<String>(1)?.is_none() {
        return Err(unsupported("rollups", &kind));
    }
    require_coordinator(client, "a rollup")?;
    if let Some(existing) = row.get::<String>(4)? {
        return Ok(Some(existing));
    }
    let relname = row.get::<String>(2)?.unwrap_or_default();
    let key_type = row.get::<String>(3)?.unwrap_or_default();
    let owner = row.get::<String>(5)?.unwrap_or_default();
    let stem: String = relname
        .chars()
        .scan(0, |n, c| {
            *n += c.len_utf8();
            (*n <= 40).then_some(c)
        })
        .collect();
    let table = format!("{}.{}", source.schema, quote_ident(&format!("{stem}_rollup_changes")));
    let source_text = quote_literal(&source.qualified_name);
    client.update(
        &format!(
            "CREATE TABLE {table} (key {key_type} NOT NULL, lower timestamptz NOT NULL, upper timestamptz NOT NULL);
             COMMENT ON TABLE {table} IS 'gridkit: time ranges written to the shards of {}, not yet taken by a rollup refresh';
             ALTER TABLE {table} OWNER TO {};
             REVOKE ALL ON {table} FROM PUBLIC;
             SELECT create_distributed_table({}, 'key', colocate_with => {source_text});",
            source.qualified_name.replace('\'', "''"),
            quote_ident(&owner),
            quote_literal(&table),
        ),
        None,
        &[],
    )?;
    Ok(Some(table))
}
