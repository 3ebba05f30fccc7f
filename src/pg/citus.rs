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

use pgrx::spi::SpiClient;

use pgrx::prelude::*;

use crate::error::*;

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

/// Layers on Citus tables are registered on the coordinator: the shard
/// triggers are made from there, and it adds up their counts.
pub fn require_coordinator(client: &SpiClient<'_>) -> SqlResult<()> {
    let coordinator = client
        .select("SELECT groupid = 0 FROM pg_catalog.pg_dist_local_group", None, &[])?
        .first()
        .get::<bool>(1)?
        .unwrap_or(true);
    if coordinator {
        return Ok(());
    }
    Err(SqlError::new(ERRCODE_FEATURE_NOT_SUPPORTED, "a layer on a Citus table is registered on the coordinator")
        .hint("Connect to the Citus coordinator and register the layer there; workers serve no layers of their own."))
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

/// The features a Citus table cannot have yet: each keeps a log of its
/// source's changes that must commit with them, and Citus commits them
/// on the workers.
pub fn refuse_on_citus_table(client: &SpiClient<'_>, relid: pgrx::pg_sys::Oid, feature: &str) -> SqlResult<()> {
    let kind = client.select("SELECT gridkit._citus_table($1)", None, &[relid.into()])?.first().get::<String>(1)?;
    match kind {
        None => Ok(()),
        Some(kind) => Err(SqlError::new(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{feature} of a Citus table ({kind}) are not supported"),
        )
        .detail(format!(
            "gridkit keeps {feature} exact with a log of the source's changes written in the same transaction; \
             Citus commits a {kind} table's writes on its workers."
        ))
        .hint("Keep the series in a local table on the coordinator, or aggregate the Citus table in SQL (docs/SCALING.md).")),
    }
}

/// The same check for the features set up in SQL.
#[pg_extern(schema = "gridkit", stable, name = "_refuse_on_citus_table")]
fn refuse_on_citus_table_sql(relid: pgrx::pg_sys::Oid, feature: &str) {
    Spi::connect(|client| refuse_on_citus_table(client, relid, feature)).or_raise()
}
