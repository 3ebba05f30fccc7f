//! The connection pool for requests. Every connection runs read-only with
//! the configured statement_timeout, whatever its role's defaults; a broken
//! connection (a database restart) is dropped and replaced on next use.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::config::Config;
use crate::error::{AppError, AppResult};

pub fn pg_config(config: &Config) -> Result<tokio_postgres::Config, tokio_postgres::Error> {
    let mut pg = tokio_postgres::Config::from_str(&config.database_url)?;
    let options = format!(
        "{} -c statement_timeout={} -c default_transaction_read_only=on",
        pg.get_options().unwrap_or(""),
        config.statement_timeout_ms
    );
    pg.options(options.trim());
    pg.application_name("gridkit-server");
    pg.connect_timeout(Duration::from_secs(5));
    Ok(pg)
}

pub fn pool(config: &Config) -> Result<Pool, Box<dyn std::error::Error>> {
    let manager =
        Manager::from_config(pg_config(config)?, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let wait = Duration::from_millis(config.pool_wait_ms);
    Ok(Pool::builder(manager)
        .max_size(config.pool_size)
        .wait_timeout(Some(wait))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .runtime(Runtime::Tokio1)
        .build()?)
}

/// A connection that works: one whose socket closed since it was pooled
/// (the database restarted) is thrown away and another taken.
async fn connection(pool: &Pool) -> AppResult<Object> {
    for _ in 0..pool.status().max_size + 1 {
        let client = pool.get().await?;
        if !client.is_closed() {
            return Ok(client);
        }
        let _ = Object::take(client);
    }
    Err(AppError::unavailable("database unavailable"))
}

/// Runs one statement (prepared once per connection) and returns its rows.
/// A statement that fails because its connection broke is retried once on
/// a fresh connection: reads are idempotent.
pub async fn query(pool: &Pool, sql: &str, params: &[&(dyn ToSql + Sync)]) -> AppResult<Vec<Row>> {
    let mut retried = false;
    loop {
        let client = connection(pool).await?;
        let result = async {
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, params).await
        }
        .await;
        match result {
            Err(e) if !retried && e.as_db_error().is_none() && client.is_closed() => {
                let _ = Object::take(client);
                retried = true;
            }
            Err(e) => return Err(e.into()),
            Ok(rows) => return Ok(rows),
        }
    }
}
