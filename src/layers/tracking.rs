//! Which tables a layer's data comes from, and the statement triggers that
//! count their changes (see `gridkit.layer_data_version`).

use pgrx::pg_sys::Oid;
use pgrx::spi::SpiClient;

use crate::error::*;

/// Records the tables behind layer `layer` (source `relid`) and puts the
/// change-counting trigger on each. Runs at registration and at every
/// refresh, so partitions attached since are picked up.
pub fn sync(client: &mut SpiClient<'_>, layer: &str, relid: Oid) -> SqlResult<()> {
    // The source; for a view, the relations its rules read, recursively; for
    // a partitioned table, every partition.
    let tables = client.select(
        "WITH RECURSIVE under(relid) AS (
             SELECT $1::oid
             UNION
             SELECT d.refobjid
               FROM under u
               JOIN pg_catalog.pg_class c ON c.oid = u.relid AND c.relkind = 'v'
               JOIN pg_catalog.pg_rewrite r ON r.ev_class = u.relid
               JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass
                                          AND d.objid = r.oid
                                          AND d.refclassid = 'pg_catalog.pg_class'::regclass
                                          AND d.refobjid <> u.relid
         ), tables AS (
             SELECT t.relid FROM under u, pg_catalog.pg_partition_tree(u.relid) t
             UNION
             SELECT relid FROM under
         )
         SELECT c.oid, c.relkind::text,
                pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
                EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                         WHERE g.tgrelid = c.oid AND g.tgname = 'gridkit_data_version')
                AND (NOT k.citus
                     OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                                 WHERE g.tgrelid = c.oid AND g.tgname = 'gridkit_data_version_truncate')),
                k.citus
           FROM tables t
           JOIN pg_catalog.pg_class c ON c.oid = t.relid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
                LATERAL (SELECT gridkit._citus_table(c.oid) IS NOT NULL AS citus) k
          WHERE c.relkind IN ('r', 'p', 'm')
          ORDER BY c.oid",
        None,
        &[relid.into()],
    )?;
    let mut found: Vec<(Oid, String, String, bool, bool)> = Vec::new();
    for row in tables {
        found.push((
            row.get::<Oid>(1)?.unwrap_or(Oid::INVALID),
            row.get::<String>(2)?.unwrap_or_default(),
            row.get::<String>(3)?.unwrap_or_default(),
            row.get::<bool>(4)?.unwrap_or(false),
            row.get::<bool>(5)?.unwrap_or(false),
        ));
    }
    if found.iter().any(|t| t.4) {
        crate::pg::citus::require_coordinator(client, "a layer")?;
    }
    client.update("DELETE FROM gridkit.layer_source_table WHERE layer = $1", None, &[layer.into()])?;
    for (oid, kind, name, has_trigger, citus) in &found {
        client.update(
            "INSERT INTO gridkit.layer_source_table (layer, relid, citus) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            None,
            &[layer.into(), (*oid).into(), (*citus).into()],
        )?;
        // Materialized views change only by REFRESH, which an event trigger counts.
        if kind != "m" && !has_trigger {
            if *citus {
                crate::pg::citus::count_changes_on_shards(client, name)?;
            } else {
                client.update(
                    &format!(
                        "CREATE TRIGGER gridkit_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {name}
                         FOR EACH STATEMENT EXECUTE FUNCTION gridkit._source_changed()"
                    ),
                    None,
                    &[],
                )?;
            }
        }
    }
    drop_unused_triggers(client)
}

/// Removes the trigger from tables no layer reads any more.
pub fn drop_unused_triggers(client: &mut SpiClient<'_>) -> SqlResult<()> {
    let unused = client.select(
        "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
                pg_catalog.quote_ident(g.tgname)
           FROM pg_catalog.pg_trigger g
           JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE g.tgname IN ('gridkit_data_version', 'gridkit_data_version_truncate')
            AND g.tgfoid = 'gridkit._source_changed()'::regprocedure
            AND NOT EXISTS (SELECT 1 FROM gridkit.layer_source_table s WHERE s.relid = c.oid)",
        None,
        &[],
    )?;
    let mut triggers: Vec<(String, String)> = Vec::new();
    for row in unused {
        triggers.push((row.get::<String>(1)?.unwrap_or_default(), row.get::<String>(2)?.unwrap_or_default()));
    }
    for (table, trigger) in triggers {
        // A Citus table's trigger is dropped from its shards too.
        crate::pg::citus::with_shard_triggers(client, |client| {
            client.update(&format!("DROP TRIGGER {trigger} ON {table}"), None, &[])?;
            Ok(())
        })?;
    }
    Ok(())
}
