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
}

impl Layers {
    /// The layers as of the last change heard, or None while not listening.
    pub fn current(&self) -> Option<Arc<HashMap<String, LayerInfo>>> {
        self.known.read().expect("layers lock").clone()
    }

    fn set(&self, layers: Option<HashMap<String, LayerInfo>>) {
        *self.known.write().expect("layers lock") = layers.map(Arc::new);
    }
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
pub async fn listen(config: Config, layers: Arc<Layers>, on_change: impl Fn() + Send + 'static) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match listen_once(&config, &layers, &on_change).await {
            Ok(()) => tracing::warn!("change listener: connection closed"),
            Err(e) => tracing::warn!(error = %e, "change listener failed"),
        }
        layers.set(None);
        on_change();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn listen_once(
    config: &Config,
    layers: &Layers,
    on_change: &impl Fn(),
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
    while rx.recv().await.is_some() {
        // Many commits may notify at once: one re-read covers them all.
        while rx.try_recv().is_ok() {}
        layers.set(Some(read(&client).await?));
        on_change();
    }
    driver.abort();
    Ok(())
}
