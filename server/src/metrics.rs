//! Prometheus metrics at `GET /metrics`: requests by route and status, a
//! latency histogram by route, tile cache hits, misses and 304s, and the
//! connection pool's size, idle connections and waiting requests.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    route: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub not_modified: Counter,
    pool_size: Gauge,
    pool_available: Gauge,
    pool_waiting: Gauge,
    listener_up: Gauge,
    listener_failures: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gridkit");
        let requests = Family::<RequestLabels, Counter>::default();
        // 0.1 ms to 3.3 s.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let (cache_hits, cache_misses, not_modified) = (Counter::default(), Counter::default(), Counter::default());
        let (pool_size, pool_available, pool_waiting) = (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer a request, by route", latency.clone());
        registry.register("tile_cache_hits", "Tiles served from the in-process cache", cache_hits.clone());
        registry.register("tile_cache_misses", "Tiles rendered by the database", cache_misses.clone());
        registry.register("tile_not_modified", "Tile requests answered 304 Not Modified", not_modified.clone());
        registry.register("pool_connections", "Open database connections", pool_size.clone());
        registry.register("pool_idle_connections", "Open connections no request holds", pool_available.clone());
        registry.register("pool_waiting_requests", "Requests waiting for a connection", pool_waiting.clone());
        let (listener_up, listener_failures) = (Gauge::default(), Gauge::default());
        registry.register(
            "change_listener_up",
            "1 while the server hears layer changes (tiles are cached), 0 while it retries",
            listener_up.clone(),
        );
        registry.register("change_listener_failures", "Times the change listener failed", listener_failures.clone());
        Metrics {
            registry,
            requests,
            latency,
            cache_hits,
            cache_misses,
            not_modified,
            pool_size,
            pool_available,
            pool_waiting,
            listener_up,
            listener_failures,
        }
    }
}

/// Counts and times every request under its route pattern (never the raw
/// path, so a scan of random URLs cannot grow the label set).
pub async fn record(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let response = next.run(request).await;
    let m = &state.metrics;
    m.latency.get_or_create(&RouteLabels { route: route.clone() }).observe(start.elapsed().as_secs_f64());
    m.requests.get_or_create(&RequestLabels { route, status: response.status().as_u16() }).inc();
    response
}

pub async fn render(State(state): State<Arc<AppState>>) -> Response {
    let m = &state.metrics;
    let status = state.pool.status();
    m.pool_size.set(status.size as i64);
    m.pool_available.set(status.available as i64);
    m.pool_waiting.set(status.waiting as i64);
    m.listener_up.set(i64::from(state.layers.current().is_some()));
    m.listener_failures.set(state.layers.listener().failures as i64);
    let mut body = String::new();
    if encode(&mut body, &m.registry).is_err() {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics").into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
