//! The one typed configuration of the service, loaded once at start.
//!
//! Sources, later ones winning: built-in defaults < `bigscreen.toml` (optional, or the file
//! given with `--config`) < `LJWX_*` environment variables (`__` nests: `LJWX_DATABASE__URL`,
//! `LJWX_INGEST__MAX_RECORDS`) < `DATABASE_URL` and `REDIS_URL`.

mod server;

pub use server::{ObservabilityConfig, ServerConfig};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
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
        }
    }
}

/// Storage settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Connection URL: `sqlite://data/ljwx.db?mode=rwc` (default),
    /// `mysql://user:pass@host/db`, `postgres://user:pass@host/db`. `DATABASE_URL` overrides.
    pub url: Secret,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a request may wait for a pooled connection before it is answered 503, in
    /// milliseconds.
    pub acquire_timeout_ms: u64,
    /// How long opening a connection may take, in milliseconds.
    pub connect_timeout_ms: u64,
    /// SQLite only: `full` makes every commit survive power loss, `normal` only a process
    /// crash (faster). Default `full`, since an acknowledged upload must never be lost.
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://data/ljwx.db?mode=rwc"),
            max_connections: 16,
            min_connections: 1,
            acquire_timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

/// SQLite `synchronous` pragma (WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Commits survive power loss.
    Full,
    /// Commits survive a process crash, not power loss.
    Normal,
}

/// Limits on one upload request (DESIGN §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body, in bytes; larger bodies get 413. Default 10 MiB (the seed's
    /// nginx `client_max_body_size`).
    pub max_body_bytes: usize,
    /// Most records in one batch; more get 413. Default 10 000.
    pub max_records: usize,
    /// Days a batch record is kept for idempotent replays: a batch re-sent (same `batchId`,
    /// same records) within this window is answered with its first result and not written
    /// again. Default 7. Deleting older records is housekeeping's (not built yet: until then
    /// they are kept, and replays keep working past the window).
    pub idempotency_days: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 10 * 1024 * 1024,
            max_records: 10_000,
            idempotency_days: 7,
        }
    }
}

/// The group-commit writer (DESIGN §4): uploads hand their rows to writer tasks, which
/// commit many uploads in one transaction and then answer each of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriterConfig {
    /// Writer tasks, each committing on its own connection. `0` (default): 1 on SQLite (one
    /// writer at a time is all it allows), 4 on MariaDB/MySQL and PostgreSQL. A database
    /// server with many cores of its own may take more.
    pub writers: usize,
    /// A commit starts once this many rows are gathered.
    pub max_rows: usize,
    /// …or once the gathered uploads hold this many bytes of sample data.
    pub max_bytes: usize,
    /// …or this many milliseconds after the first row arrived, whichever comes first.
    pub linger_ms: u64,
    /// Rows waiting for or inside a commit, at most. An upload that does not fit waits up to
    /// `queue_wait_ms` for room, then is answered 503 with `Retry-After`.
    pub queue_rows: usize,
    /// How long an upload may wait for room in the queue, in milliseconds.
    pub queue_wait_ms: u64,
    /// Uploads being parsed or committed at once; more wait (up to `queue_wait_ms`) or get
    /// 503. Bounds the memory that parsed batches take at the same time (bodies being
    /// received are bounded by `server.read_memory_bytes`).
    pub max_inflight: usize,
    /// How often the counts of committed groups are added to the daily counters, in
    /// milliseconds. "Today" figures lag the commits by up to this much.
    pub fold_ms: u64,
    /// PostgreSQL only: health rows go by `COPY` into a staging table, then one `INSERT …
    /// SELECT … ON CONFLICT DO NOTHING` (`true`, default: faster, docs/BENCHMARKS.md), or by
    /// multi-row `INSERT … ON CONFLICT DO NOTHING` (`false`). Both store the same rows.
    pub postgres_copy: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            writers: 0,
            max_rows: 4000,
            max_bytes: 8 * 1024 * 1024,
            linger_ms: 5,
            queue_rows: 20_000,
            queue_wait_ms: 200,
            max_inflight: 256,
            fold_ms: 1000,
            postgres_copy: true,
        }
    }
}

/// Device → wearer mapping cache (DESIGN §6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevicesConfig {
    /// Most devices kept in the in-process cache.
    pub cache_capacity: u64,
    /// How long a known binding is trusted before it is read again, in seconds.
    pub cache_ttl_secs: u64,
    /// How long "this device is bound to no user" is trusted, in seconds. A binding written
    /// by ljwx-boot is picked up at most this long after it was written.
    pub unknown_ttl_secs: u64,
    /// Device credentials on uploads (`LJWX_DEVICES__AUTH`): `off` (default; firmware
    /// without keys keeps working), `optional` (a key, when sent, must be valid and covers
    /// only its devices), `required` (every upload needs a valid key).
    pub auth: DeviceAuth,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        Self {
            cache_capacity: 200_000,
            cache_ttl_secs: 300,
            unknown_ttl_secs: 60,
            auth: DeviceAuth::Off,
        }
    }
}

/// Whether uploads must carry a device key (`Authorization: Bearer <key>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceAuth {
    /// Keys are not looked at.
    Off,
    /// An upload without a key is accepted; one with a key needs a valid key, and its
    /// records must be of devices the key covers.
    Optional,
    /// Every upload needs a valid key; missing, unknown or revoked keys get 401.
    Required,
}

/// Redis (DESIGN §6). Without a URL the service runs on its in-process cache alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:6379/0` for one node, `redis+cluster://host1:7000,host2:7001` for a
    /// Redis Cluster. `REDIS_URL` overrides. Unset (default): no Redis.
    pub url: Option<Secret>,
    /// Prefix of every key this service writes, so instances of different deployments can
    /// share a Redis.
    pub key_prefix: String,
    /// Longest wait for one Redis call, in milliseconds; slower calls count as failures
    /// and the upload continues without Redis.
    pub timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "ljwx:".to_owned(),
            timeout_ms: 100,
        }
    }
}

/// Per-client rate limit on uploads (the seed's nginx: 100 r/s, burst 50). Off by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Whether uploads are rate-limited.
    pub enabled: bool,
    /// Sustained requests per second per client.
    pub per_second: u32,
    /// Requests a client may send at once above the sustained rate.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            per_second: 100,
            burst: 50,
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` overrides. Default `info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Cross-origin resource sharing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser (`https://boot.example.com`). Empty
    /// (default): no CORS headers at all. Credentials are never allowed with `*`.
    pub allowed_origins: Vec<String>,
}

/// Health alerts (DESIGN §7): the rules, episode hysteresis and notifications.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Whether committed samples are checked against the rules. Default on.
    pub enabled: bool,
    /// The rules. Default: the seed's (heart rate > 120 or < 50 minor, > 140 or < 40 major;
    /// blood oxygen < 90 major, < 85 critical). Setting `[[alerts.rules]]` in the config
    /// file replaces the whole list.
    pub rules: Vec<AlertRule>,
    /// An open alert resolves by itself when a normal reading of its field arrives at least
    /// this many seconds (sample time) after its last breach. `0` (default): alerts stay
    /// open until resolved through the admin API.
    pub resolve_after_secs: u64,
    /// Webhook that receives a JSON POST when an alert opens or escalates
    /// (`LJWX_ALERTS__WEBHOOK_URL`). Unset (default): notifications are only logged.
    pub webhook_url: Option<Secret>,
    /// Longest wait for one webhook call, in milliseconds.
    pub webhook_timeout_ms: u64,
    /// First wait before a failed notification is retried, in milliseconds; doubled after
    /// each failure up to `retry_max_ms`. Notifications are retried until delivered.
    pub retry_initial_ms: u64,
    /// Longest wait between two attempts of one notification, in milliseconds.
    pub retry_max_ms: u64,
    /// How often the notifier looks for pending notifications written by other instances or
    /// due for a retry, in milliseconds (its own instance's new alerts wake it at once).
    pub poll_interval_ms: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rules: AlertRule::seed_defaults(),
            resolve_after_secs: 0,
            webhook_url: None,
            webhook_timeout_ms: 5_000,
            retry_initial_ms: 1_000,
            retry_max_ms: 300_000,
            poll_interval_ms: 2_000,
        }
    }
}

/// One alert rule: a sample breaches it when its `field` is above `above` or below `below`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// The sample field checked.
    pub field: AlertField,
    /// Breach when the value is strictly greater. Unset: no upper bound.
    #[serde(default)]
    pub above: Option<f64>,
    /// Breach when the value is strictly smaller. Unset: no lower bound.
    #[serde(default)]
    pub below: Option<f64>,
    /// Level of the alert raised.
    pub level: AlertLevel,
    /// Alert type written to `t_alert_info.alert_type`, e.g. `heart_rate_abnormal`. Rules
    /// of one type form one episode; the highest breached level wins.
    pub alert_type: String,
}

impl AlertRule {
    /// The seed's `check_health_alert_single` thresholds.
    pub fn seed_defaults() -> Vec<AlertRule> {
        let rule = |field, above, below, level, alert_type: &str| AlertRule {
            field,
            above,
            below,
            level,
            alert_type: alert_type.to_owned(),
        };
        vec![
            rule(
                AlertField::HeartRate,
                Some(120.0),
                Some(50.0),
                AlertLevel::Minor,
                "heart_rate_abnormal",
            ),
            rule(
                AlertField::HeartRate,
                Some(140.0),
                Some(40.0),
                AlertLevel::Major,
                "heart_rate_abnormal",
            ),
            rule(
                AlertField::BloodOxygen,
                None,
                Some(90.0),
                AlertLevel::Major,
                "blood_oxygen_low",
            ),
            rule(
                AlertField::BloodOxygen,
                None,
                Some(85.0),
                AlertLevel::Critical,
                "blood_oxygen_low",
            ),
        ]
    }
}

/// A sample field an alert rule can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertField {
    /// Beats per minute.
    HeartRate,
    /// SpO2 in percent.
    BloodOxygen,
    /// Body temperature in °C.
    Temperature,
    /// Systolic blood pressure in mmHg.
    PressureHigh,
    /// Diastolic blood pressure in mmHg.
    PressureLow,
    /// Stress index 0–100.
    Stress,
}

/// How serious an alert is; a higher level escalates an open alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    /// Worth a look.
    Minor,
    /// Needs attention soon.
    Major,
    /// Needs attention now.
    Critical,
}

/// The system monitor (DESIGN §8, seed §5.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Milliseconds between samples (at least 100).
    pub interval_ms: u64,
    /// Samples kept.
    pub history: usize,
    /// Host CPU use above this percentage is a threshold event.
    pub cpu_threshold_percent: f32,
    /// Host memory use above this percentage is a threshold event.
    pub memory_threshold_percent: f32,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval_ms: 10_000,
            history: 100,
            cpu_threshold_percent: 80.0,
            memory_threshold_percent: 85.0,
        }
    }
}

/// The recent-trace store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracesConfig {
    /// Upload traces kept in memory (about 1 KiB each).
    pub recent: usize,
}

impl Default for TracesConfig {
    fn default() -> Self {
        Self { recent: 2000 }
    }
}

/// The admin API (alert lifecycle) and the dashboard login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token the admin API requires (`LJWX_ADMIN__TOKEN`). Unset (default): the admin
    /// API answers 403, it is disabled.
    pub token: Option<Secret>,
    /// Argon2 PHC hash of the dashboard password (`LJWX_ADMIN__PASSWORD_HASH`,
    /// `$argon2id$v=19$…`; `ljwx-bigscreen hash-password` makes one). Wins over `password`.
    pub password_hash: Option<Secret>,
    /// The dashboard password in plain text, for automation (`LJWX_ADMIN__PASSWORD`); hashed
    /// at start, never logged. With neither set, a password is generated at first start,
    /// printed once, and only its hash is kept (in the database, for every instance).
    pub password: Option<Secret>,
    /// Hours a dashboard session lasts without use; each use renews it. Default 12.
    pub session_ttl_hours: u64,
    /// Mark the session cookie `Secure` (serve the dashboard over HTTPS, e.g. behind nginx).
    /// Default false: intranet deployments often serve plain HTTP.
    pub secure_cookie: bool,
    /// Login attempts allowed per client address per minute (burst of the same size).
    /// Default 5.
    pub login_attempts_per_minute: u32,
    /// Hours a dashboard session lasts at most from its login, however often it is renewed.
    /// Default 168 (7 days).
    pub session_max_hours: u64,
    /// Password checks (argon2, deliberately slow) running at once; more logins wait, and
    /// get 503 after 10 s. Default 2.
    pub password_checks: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token: None,
            password_hash: None,
            password: None,
            session_ttl_hours: 12,
            secure_cookie: false,
            login_attempts_per_minute: 5,
            session_max_hours: 168,
            password_checks: 2,
        }
    }
}

/// The dashboard (DESIGN §9).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Milliseconds between live updates of the overview. Computed once per interval for
    /// every open dashboard, and only while one is open. Default 2000 (at least 200).
    pub refresh_ms: u64,
    /// Rows per page of the alert and device tables. Default 50 (at most 500).
    pub page_size: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            refresh_ms: 2000,
            page_size: 50,
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

/// A string that must not appear in logs (a database URL may carry a password).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}
