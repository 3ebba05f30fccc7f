//! Command-line flags, each also read from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(name = "gridkit-server", version, about = "gridkit's HTTP layer: tiles, TileJSON, JSON and the map page")]
pub struct Config {
    /// PostgreSQL connection string (URL or key=value), for a role given
    /// `gridkit.api_grant`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, env = "GRIDKIT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Most database connections for requests (one more listens for changes).
    #[arg(long, env = "GRIDKIT_POOL_SIZE", default_value_t = 16)]
    pub pool_size: usize,
    /// How long a request waits for a free connection before a 503.
    #[arg(long, env = "GRIDKIT_POOL_WAIT_MS", default_value_t = 2000)]
    pub pool_wait_ms: u64,
    /// Longest a request's SQL may run before a 504 (statement_timeout).
    #[arg(long, env = "GRIDKIT_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub statement_timeout_ms: u64,
    /// `Cache-Control: max-age` of tiles whose layer sets no `max_age` option.
    #[arg(long, env = "GRIDKIT_MAX_AGE", default_value_t = 60)]
    pub max_age: u32,
    /// Memory for the in-process tile cache, in MiB (0 turns it off).
    #[arg(long, env = "GRIDKIT_CACHE_MB", default_value_t = 256)]
    pub cache_mb: u64,
    /// The map page and its scripts.
    #[arg(long, env = "GRIDKIT_WEB_DIR", default_value = "web")]
    pub web_dir: PathBuf,
    /// On a hot standby (which refuses LISTEN), how often to check whether
    /// WAL was replayed, re-reading the layer versions when it was.
    #[arg(long, env = "GRIDKIT_POLL_MS", default_value_t = 250)]
    pub poll_ms: u64,
    /// On a primary with layers on Citus tables (whose writes commit on the
    /// workers and notify nothing here), how often to re-read their versions.
    #[arg(long, env = "GRIDKIT_CITUS_POLL_MS", default_value_t = 1000)]
    pub citus_poll_ms: u64,
    /// Public base URL for TileJSON tile URLs (default: from the request's Host).
    #[arg(long, env = "GRIDKIT_PUBLIC_URL")]
    pub public_url: Option<String>,
}
