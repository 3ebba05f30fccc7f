//! What the server knows of the layers: each one's version (from
//! `api.layer_versions()`), attribute fields and max-age (from
//! `api.layers()`), kept current on a connection of its own, one of two
//! ways depending on the database:
//!
//! - a primary: LISTEN on channel `gridkit_tiles`, which the extension
//!   notifies at the commit of every change a tile may show;
//! - a hot standby, which refuses LISTEN: every `--poll-ms` the replay
//!   position (`pg_last_wal_replay_lsn()`), and when it moved a re-read of
//!   the versions. Versions are read from the standby itself, so the cache
//!   holds what the standby shows, never newer nor older; a standby that is
//!   promoted is noticed on the next poll and listened to instead.
//!
//! While the watching connection is down, nothing is known for sure:
//! `Layers::current` returns None and tiles bypass the cache (no stale tile
//! is ever served); the watcher reconnects and re-reads.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::{stream, StreamExt};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::config::Config;

#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    pub version: String,
    /// Attribute name -> "Number" | "String" | "Boolean".
    pub fields: HashMap<String, String>,
    pub max_age: Option<u32>,
    /// Changes to its data are NOTIFYed (not so on Citus tables: polled).
    pub notified: bool,
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
    /// How changes are heard, while watching.
    pub watch: Option<Watch>,
}

/// How the server hears of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// LISTEN gridkit_tiles (a primary).
    Notify,
    /// Polling the replay position (a hot standby).
    Replay,
}

impl Watch {
    pub fn name(self) -> &'static str {
        match self {
            Watch::Notify => "notify",
            Watch::Replay => "replay",
        }
    }
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

const READ_LAYERS: &str = "SELECT v.layer, v.version, l.fields::text, l.max_age, l.notified
                             FROM api.layer_versions() v JOIN api.layers() l ON l.name = v.layer";

async fn read(client: &tokio_postgres::Client) -> Result<HashMap<String, LayerInfo>, tokio_postgres::Error> {
    let rows = client.query(READ_LAYERS, &[]).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let fields: HashMap<String, String> = serde_json::from_str(r.get::<_, &str>(2)).unwrap_or_default();
            let max_age: Option<i32> = r.get(3);
            let info =
                LayerInfo { version: r.get(1), fields, max_age: max_age.map(|a| a.max(0) as u32), notified: r.get(4) };
            (r.get(0), info)
        })
        .collect())
}

/// How a watch ended without an error.
enum Ended {
    /// The connection closed.
    Closed,
    /// The standby became a primary: watch again, by LISTEN.
    Promoted,
}

/// Watches for changes until the process ends, reconnecting after failures.
/// `on_change` runs after each re-read (the tile cache drops what is stale).
/// A failure is logged once (with the database's SQLSTATE and message);
/// the same failure again is logged at debug level, and attempts back off
/// from 200 ms to [`MAX_RETRY`]. Hearing changes again resets both.
pub async fn listen(config: Config, layers: Arc<Layers>, on_change: impl Fn() + Send + 'static) {
    const FIRST_RETRY: Duration = Duration::from_millis(200);
    let mut backoff = FIRST_RETRY;
    loop {
        let mut heard = false;
        let error = match watch_once(&config, &layers, &on_change, &mut heard).await {
            Ok(Ended::Promoted) => {
                tracing::info!("the standby was promoted: listening for changes instead of polling");
                layers.listener.write().expect("listener lock").watch = None;
                continue;
            }
            Ok(Ended::Closed) => "the connection closed".to_string(),
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
            status.watch = None;
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

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn watch_once(
    config: &Config,
    layers: &Layers,
    on_change: &impl Fn(),
    heard: &mut bool,
) -> Result<Ended, BoxError> {
    let pg = crate::db::pg_config(config)?;
    let (client, mut connection) = pg.connect(NoTls).await?;
    // The connection yields notifications only when polled as a stream.
    let (tx, rx) = mpsc::unbounded_channel();
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
    let standby: bool = client.query_one("SELECT pg_catalog.pg_is_in_recovery()", &[]).await?.get(0);
    let ended = if standby {
        poll_replay(config, &client, layers, on_change, heard).await
    } else {
        notified(config, &client, rx, layers, on_change, heard).await
    };
    driver.abort();
    ended
}

/// Marks the watch as working: versions known, failures forgiven.
fn watching(layers: &Layers, watch: Watch, heard: &mut bool) {
    tracing::info!(watch = watch.name(), "watching for layer changes");
    *heard = true;
    let mut status = layers.listener.write().expect("listener lock");
    status.retry_in = None;
    status.watch = Some(watch);
}

async fn notified(
    config: &Config,
    client: &tokio_postgres::Client,
    mut rx: mpsc::UnboundedReceiver<()>,
    layers: &Layers,
    on_change: &impl Fn(),
    heard: &mut bool,
) -> Result<Ended, BoxError> {
    client.batch_execute("LISTEN gridkit_tiles").await?;
    let mut known = read(client).await?;
    layers.set(Some(known.clone()));
    on_change();
    watching(layers, Watch::Notify, heard);
    let every = Duration::from_millis(config.citus_poll_ms.max(1));
    loop {
        // Layers on Citus tables change without a notification here: while
        // there are any, the versions are also re-read on a timer.
        let polled = known.values().any(|l| !l.notified);
        tokio::select! {
            heard = rx.recv() => {
                if heard.is_none() {
                    return Ok(Ended::Closed);
                }
                // Many commits may notify at once: one re-read covers them all.
                while rx.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep(every), if polled => {}
        }
        let now = read(client).await?;
        if now != known {
            known = now;
            layers.set(Some(known.clone()));
            on_change();
        }
    }
}

/// On a standby: the versions are re-read whenever WAL was replayed since
/// the last read. The position is read before the versions, so a change
/// replayed in between is read again on the next poll, never missed.
async fn poll_replay(
    config: &Config,
    client: &tokio_postgres::Client,
    layers: &Layers,
    on_change: &impl Fn(),
    heard: &mut bool,
) -> Result<Ended, BoxError> {
    let replay =
        client.prepare("SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.pg_last_wal_replay_lsn()::text").await?;
    let every = Duration::from_millis(config.poll_ms.max(1));
    let mut read_at: Option<Option<String>> = None;
    loop {
        let row = client.query_one(&replay, &[]).await?;
        if !row.get::<_, bool>(0) {
            return Ok(Ended::Promoted);
        }
        let position: Option<String> = row.get(1);
        if read_at.as_ref() != Some(&position) {
            layers.set(Some(read(client).await?));
            on_change();
            if read_at.is_none() {
                watching(layers, Watch::Replay, heard);
            }
            read_at = Some(position);
        }
        tokio::time::sleep(every).await;
    }
}
