//! Uploads: their limits, the group-commit writer, the device cache and keys, and the
//! per-client rate limit.

use serde::{Deserialize, Serialize};

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
    /// again. Default 7; `0` keeps them forever. Housekeeping deletes older records: a batch
    /// re-sent after that is stored as a new batch, its samples counted as duplicates.
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
