//! Where the service stores: the database, and the optional Redis.

use super::Secret;
use serde::{Deserialize, Serialize};

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
    /// A read replica of the same database (seed §3.1), e.g.
    /// `postgres://user:pass@replica/db` (`LJWX_DATABASE__READ_URL`): dashboard pages,
    /// `/api/stats` and alert listings read from it while it answers (checked every
    /// `replica_check_ms`), the primary otherwise; writes never go to it. Unset (default):
    /// everything reads from `url`.
    pub read_url: Option<Secret>,
    /// How often the replica's round trip and lag are checked, in milliseconds. Default 2000.
    pub replica_check_ms: u64,
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
            read_url: None,
            replica_check_ms: 2_000,
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
