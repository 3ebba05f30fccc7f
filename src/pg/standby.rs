//! Hot standbys. Every read of gridkit works on a streaming replica; a write
//! path (registration, refreshes, maintenance) stops at its first line with
//! 25006 naming the function, instead of failing deep inside with
//! PostgreSQL's "cannot assign TransactionIds during recovery" (XX000) or
//! a LOCK TABLE refused half-way through a job.

use pgrx::prelude::*;

use crate::error::*;

/// Whether this server is a hot standby (replaying WAL, read-only).
pub fn in_recovery() -> bool {
    // SAFETY: reads shared memory state; callable in any backend.
    unsafe { pg_sys::RecoveryInProgress() }
}

/// Ok on a primary; on a standby, the error a write path raises.
pub fn require_primary(what: &str) -> SqlResult<()> {
    if !in_recovery() {
        return Ok(());
    }
    Err(SqlError::new(
        ERRCODE_READ_ONLY_SQL_TRANSACTION,
        format!("{what} writes, and this server is a hot standby (read-only)"),
    )
    .hint(format!(
        "Run {what} on the primary: replication brings its result to this standby. \
         Tiles, the api.* functions and history read on a standby."
    )))
}

/// The same check for the write paths written in SQL, as their first step.
#[pg_extern(schema = "gridkit", stable, parallel_safe, name = "_require_primary")]
fn require_primary_sql(what: &str) {
    require_primary(what).or_raise()
}
