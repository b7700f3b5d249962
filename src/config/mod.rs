//! The one typed configuration of the service, loaded once at start.
//!
//! Sources, later ones winning: built-in defaults < `bigscreen.toml` (optional, or the file
//! given with `--config`) < `LJWX_*` environment variables (`__` nests: `LJWX_DATABASE__URL`,
//! `LJWX_INGEST__MAX_RECORDS`) < `DATABASE_URL` and `REDIS_URL`.

mod admin;
mod alerts;
mod housekeeping;
mod ingest;
mod observe;
mod secret;
mod server;
mod storage;

pub use admin::{AdminConfig, DashboardConfig};
pub use alerts::AlertsConfig;
pub use housekeeping::{HousekeepingConfig, PartitionsConfig, QuarantineConfig};
pub use ingest::{DeviceAuth, DevicesConfig, IngestConfig, RateLimitConfig, WriterConfig};
pub use observe::{LogConfig, LogFormat, MonitorConfig, TracesConfig};
pub use secret::Secret;
pub use server::{CorsConfig, ObservabilityConfig, ServerConfig};
pub use storage::{DatabaseConfig, RedisConfig, SqliteSynchronous};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything the service can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on (`LJWX_LISTEN`). Default `127.0.0.1:8001`, the
    /// seed's port.
    pub listen: SocketAddr,
    /// IANA time zone that defines "today" for statistics (`Asia/Shanghai`). Default: the
    /// host's local time zone.
    pub timezone: Option<String>,
    /// Directory of the service's own files: the generated admin password
    /// (`admin-password`). Default `data` (also where the default SQLite database lives).
    pub data_dir: PathBuf,
    /// The connection loop and request limits.
    pub server: ServerConfig,
    /// Storage.
    pub database: DatabaseConfig,
    /// Upload limits.
    pub ingest: IngestConfig,
    /// The group-commit writer.
    pub writer: WriterConfig,
    /// Device → wearer mapping cache.
    pub devices: DevicesConfig,
    /// Redis, for the shared device cache and counters. Optional.
    pub redis: RedisConfig,
    /// Per-client request rate limit on the upload endpoints.
    pub rate_limit: RateLimitConfig,
    /// Logging.
    pub log: LogConfig,
    /// Cross-origin requests from browsers.
    pub cors: CorsConfig,
    /// Health alert rules and notifications.
    pub alerts: AlertsConfig,
    /// The admin API.
    pub admin: AdminConfig,
    /// The system monitor.
    pub monitor: MonitorConfig,
    /// The in-process recent-trace store.
    pub traces: TracesConfig,
    /// The supervisor dashboard.
    pub dashboard: DashboardConfig,
    /// Who may read traces and the system monitor.
    pub observability: ObservabilityConfig,
    /// Samples of unbound devices.
    pub quarantine: QuarantineConfig,
    /// Deleting side-table rows past their retention.
    pub housekeeping: HousekeepingConfig,
    /// Monthly partitions of the health table (MariaDB/MySQL, PostgreSQL).
    pub partitions: PartitionsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8001)),
            timezone: None,
            data_dir: PathBuf::from("data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            ingest: IngestConfig::default(),
            writer: WriterConfig::default(),
            devices: DevicesConfig::default(),
            redis: RedisConfig::default(),
            rate_limit: RateLimitConfig::default(),
            log: LogConfig::default(),
            cors: CorsConfig::default(),
            alerts: AlertsConfig::default(),
            admin: AdminConfig::default(),
            monitor: MonitorConfig::default(),
            traces: TracesConfig::default(),
            dashboard: DashboardConfig::default(),
            observability: ObservabilityConfig::default(),
            quarantine: QuarantineConfig::default(),
            housekeeping: HousekeepingConfig::default(),
            partitions: PartitionsConfig::default(),
        }
    }
}

impl Config {
    /// Loads defaults < `file` (if it exists) < `LJWX_*` < `DATABASE_URL`, `REDIS_URL`.
    pub fn load(file: &Path) -> Result<Self, Box<figment::Error>> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("LJWX_").split("__"))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .merge(Env::raw().only(&["REDIS_URL"]).map(|_| "redis.url".into()))
            .extract()
            .map_err(Box::new)
    }
}
