//! What the server knows of the layers: each one's version (from
//! `api.layer_versions()`), attribute fields and max-age (from
//! `api.layers()`), kept current by LISTEN on channel `gridkit_tiles`, which
//! the extension notifies at the commit of every change a tile may show.
//!
//! While the listening connection is down, nothing is known for sure:
//! `Layers::current` returns None and tiles bypass the cache (no stale tile
//! is ever served); the listener reconnects and re-reads.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::{stream, StreamExt};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::config::Config;

#[derive(Debug, Clone)]
pub struct LayerInfo {
    pub version: String,
    /// Attribute name -> "Number" | "String" | "Boolean".
    pub fields: HashMap<String, String>,
    pub max_age: Option<u32>,
}

#[derive(Default)]
pub struct Layers {
    known: RwLock<Option<Arc<HashMap<String, LayerInfo>>>>,
    listener: RwLock<ListenerStatus>,
}

/// How the change listener fares, for `/health` and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ListenerStatus {
    /// The last failure, as the database put it (SQLSTATE and message).
    pub last_error: Option<String>,
    /// Failures since the process started.
    pub failures: u64,
    /// The wait before the next attempt, while not listening.
    pub retry_in: Option<Duration>,
}

impl Layers {
    /// The layers as of the last change heard, or None while not listening.
    pub fn current(&self) -> Option<Arc<HashMap<String, LayerInfo>>> {
        self.known.read().expect("layers lock").clone()
    }

    fn set(&self, layers: Option<HashMap<String, LayerInfo>>) {
        *self.known.write().expect("layers lock") = layers.map(Arc::new);
    }

    pub fn listener(&self) -> ListenerStatus {
        self.listener.read().expect("listener lock").clone()
    }
}

/// The longest wait between two attempts to listen.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// An error as the database gave it: "SQLSTATE: message" when the server
/// sent one (tokio-postgres prints only "db error"), else the error and its
/// causes.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(db) = err.downcast_ref::<tokio_postgres::Error>().and_then(|p| p.as_db_error()) {
            return format!("{}: {}", db.code().code(), db.message());
        }
        source = err.source();
    }
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

const READ_LAYERS: &str = "SELECT v.layer, v.version, l.fields::text, l.max_age
                             FROM api.layer_versions() v JOIN api.layers() l ON l.name = v.layer";

async fn read(client: &tokio_postgres::Client) -> Result<HashMap<String, LayerInfo>, tokio_postgres::Error> {
    let rows = client.query(READ_LAYERS, &[]).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let fields: HashMap<String, String> = serde_json::from_str(r.get::<_, &str>(2)).unwrap_or_default();
            let max_age: Option<i32> = r.get(3);
            (r.get(0), LayerInfo { version: r.get(1), fields, max_age: max_age.map(|a| a.max(0) as u32) })
        })
        .collect())
}

/// Listens for changes until the process ends, reconnecting after failures.
/// `on_change` runs after each re-read (the tile cache drops what is stale).
/// A failure is logged once (with the database's SQLSTATE and message);
/// the same failure again is logged at debug level, and attempts back off
/// from 200 ms to [`MAX_RETRY`]. Hearing changes again resets both.
pub async fn listen(config: Config, layers: Arc<Layers>, on_change: impl Fn() + Send + 'static) {
    const FIRST_RETRY: Duration = Duration::from_millis(200);
    let mut backoff = FIRST_RETRY;
    loop {
        let mut heard = false;
        let error = match listen_once(&config, &layers, &on_change, &mut heard).await {
            Ok(()) => "the connection closed".to_string(),
            Err(e) => describe(e.as_ref()),
        };
        if heard {
            backoff = FIRST_RETRY;
        }
        let repeated = {
            let mut status = layers.listener.write().expect("listener lock");
            let repeated = !heard && status.last_error.as_deref() == Some(&error);
            status.last_error = Some(error.clone());
            status.failures += 1;
            status.retry_in = Some(backoff);
            repeated
        };
        if repeated {
            tracing::debug!(error = %error, retry_in_ms = backoff.as_millis() as u64, "change listener failed again");
        } else {
            tracing::warn!(
                error = %error,
                retry_in_ms = backoff.as_millis() as u64,
                "change listener failed; tiles bypass the cache until it listens again"
            );
        }
        layers.set(None);
        on_change();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_RETRY);
    }
}

async fn listen_once(
    config: &Config,
    layers: &Layers,
    on_change: &impl Fn(),
    heard: &mut bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let pg = crate::db::pg_config(config)?;
    let (client, mut connection) = pg.connect(NoTls).await?;
    // The connection yields notifications only when polled as a stream.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "change listener connection");
                    break;
                }
            }
        }
    });
    client.batch_execute("LISTEN gridkit_tiles").await?;
    layers.set(Some(read(&client).await?));
    on_change();
    tracing::info!("listening for layer changes");
    *heard = true;
    layers.listener.write().expect("listener lock").retry_in = None;
    while rx.recv().await.is_some() {
        // Many commits may notify at once: one re-read covers them all.
        while rx.try_recv().is_ok() {}
        layers.set(Some(read(&client).await?));
        on_change();
    }
    driver.abort();
    Ok(())
}
