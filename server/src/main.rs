//! gridkit-server: the thin HTTP layer over the `api` schema. One SQL call
//! per request; tiles cached in process and revalidated by ETag until their
//! layer's data changes; JSON for everything else; the map page at `/`.

mod config;
mod db;
mod error;
mod json;
mod metrics;
mod tiles;
mod versions;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use clap::Parser;
use serde_json::json;
use tower_http::services::{ServeDir, ServeFile};

use crate::config::Config;
use crate::error::AppError;

pub struct AppState {
    pub config: Config,
    pub pool: deadpool_postgres::Pool,
    pub layers: Arc<versions::Layers>,
    pub tiles: Arc<tiles::TileCache>,
    pub metrics: metrics::Metrics,
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let check = tokio::time::timeout(Duration::from_secs(2), db::query(&state.pool, "SELECT 1", &[])).await;
    let listening = state.layers.current().is_some();
    let listener = state.layers.listener();
    let listener = json!({
        "failures": listener.failures,
        "last_error": listener.last_error,
        "retry_in_ms": listener.retry_in.filter(|_| !listening).map(|d| d.as_millis() as u64),
        "watch": listener.watch.map(versions::Watch::name),
    });
    match check {
        Ok(Ok(_)) => {
            Json(json!({"status": "ok", "database": "reachable", "listening": listening, "listener": listener}))
                .into_response()
        }
        _ => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "database": "unreachable"})))
            .into_response(),
    }
}

async fn not_found() -> AppError {
    AppError::not_found("not found")
}

/// Longest request path accepted (414 beyond).
const MAX_PATH_BYTES: usize = 2048;

/// Refuses paths no route could serve before any handler or the file
/// system sees them: over-long ones, and for static files a name longer
/// than a file name can be (the file system would answer with an error).
async fn guard_path(request: axum::extract::Request, next: middleware::Next) -> Response {
    let path = request.uri().path();
    if path.len() > MAX_PATH_BYTES {
        return AppError::new(StatusCode::URI_TOO_LONG, format!("the path is longer than {MAX_PATH_BYTES} bytes"))
            .into_response();
    }
    let is_static = path.starts_with("/static/") || path.starts_with("/vendor/");
    if is_static && path.split('/').any(|segment| segment.len() > 255) {
        return not_found().await.into_response();
    }
    next.run(request).await
}

pub fn router(state: Arc<AppState>) -> Router {
    let web = state.config.web_dir.clone();
    let maplibre = web.join("node_modules/maplibre-gl/dist");
    Router::new()
        .route("/tiles/{layers}/{z}/{x}/{y}", get(tiles::tile))
        .route("/tiles/{file}", get(tiles::tilejson))
        .route("/api/layers", get(json::layers))
        .route("/api/layers/{layer}/features/{id}", get(json::feature))
        .route("/api/layers/{layer}/nearby", get(json::nearby))
        .route("/api/layers/{layer}/bbox", get(json::bbox))
        .route("/api/layers/{layer}/within", post(json::within))
        .route("/api/layers/{layer}/along_route", post(json::along_route))
        .route("/api/series", get(json::series))
        .route("/api/series/{source}/latest", get(json::latest))
        .route("/api/series/{source}/history", get(json::history))
        .route("/api/series/{source}/zone_classify", get(json::zone_classify))
        .route("/api/series/{source}/pnode_severity", get(json::pnode_severity))
        .route("/api/freshness", get(json::freshness))
        .route("/health", get(health))
        .route("/metrics", get(metrics::render))
        .route_service("/", ServeFile::new(web.join("index.html")))
        .nest_service("/static", ServeDir::new(web.join("static")).fallback(axum::routing::any(not_found)))
        .nest_service("/vendor/maplibre-gl", ServeDir::new(maplibre).fallback(axum::routing::any(not_found)))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(middleware::from_fn(guard_path))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::record))
        .with_state(state)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Colour codes only for a terminal: journald and container logs get plain text.
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "gridkit_server=info".into()),
        )
        .init();
    let config = Config::parse();
    let pool = db::pool(&config)?;
    let layers = Arc::new(versions::Layers::default());
    let tiles = Arc::new(tiles::TileCache::new(config.cache_mb));
    let state = Arc::new(AppState {
        config: config.clone(),
        pool,
        layers: layers.clone(),
        tiles: tiles.clone(),
        metrics: metrics::Metrics::new(),
    });
    let listener_layers = layers.clone();
    tokio::spawn(versions::listen(config.clone(), layers, move || {
        tiles.retain_current(listener_layers.current().as_deref())
    }));
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(format!(
                "cannot listen on {}: the port is already in use (choose another with --listen or GRIDKIT_LISTEN)",
                config.listen
            )
            .into())
        }
        Err(e) => return Err(format!("cannot listen on {}: {e}", config.listen).into()),
    };
    tracing::info!("gridkit-server listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}
