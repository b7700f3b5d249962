//! The optional Redis connection shared by the device cache and the counters: one node or a
//! Redis Cluster.
//!
//! Redis is an accelerator, never a dependency: every call has a short timeout, failures are
//! logged (at most every 30 s) and answered with "no value", and a connection that could not
//! be opened is tried again at most every 5 s by the next call that needs it. Values are JSON
//! or plain numbers, never code.

use crate::config::RedisConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracing::{info, warn};

/// How often a failed connection is tried again.
const RECONNECT_EVERY: Duration = Duration::from_secs(5);
/// How often a failing Redis is reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(30);

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

enum Client {
    Single(redis::Client),
    Cluster(Box<ClusterClient>),
}

/// A Redis (node or cluster) that may be down. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    client: Arc<Client>,
    /// The open connection; it reconnects by itself once opened.
    conn: Arc<RwLock<Option<Conn>>>,
    /// Held while opening the connection; the time of the last attempt.
    opening: Arc<Mutex<Option<Instant>>>,
    /// When a failure was last logged.
    reported: Arc<std::sync::Mutex<Option<Instant>>>,
    healthy: Arc<AtomicBool>,
    prefix: Arc<str>,
    timeout: Duration,
}

/// The Redis URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid Redis URL: {0}")]
pub struct InvalidRedisUrl(String);

impl Redis {
    /// A Redis handle for `config`, or `None` when no URL is configured. Tries to connect
    /// once; a Redis that is down now is used once it comes up.
    pub async fn connect(config: &RedisConfig) -> Result<Option<Redis>, InvalidRedisUrl> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let url = url.expose();
        let client = if let Some(nodes) = url.strip_prefix("redis+cluster://") {
            let nodes: Vec<String> = nodes
                .split(',')
                .map(|node| format!("redis://{}", node.trim()))
                .collect();
            ClusterClient::builder(nodes)
                .connection_timeout(Duration::from_millis(config.timeout_ms.max(100) * 5))
                .response_timeout(Duration::from_millis(config.timeout_ms))
                .build()
                .map(|c| Client::Cluster(Box::new(c)))
        } else {
            redis::Client::open(url).map(Client::Single)
        }
        .map_err(|err| InvalidRedisUrl(err.to_string()))?;
        let redis = Redis {
            client: Arc::new(client),
            conn: Arc::default(),
            opening: Arc::default(),
            reported: Arc::default(),
            healthy: Arc::new(AtomicBool::new(false)),
            prefix: config.key_prefix.as_str().into(),
            timeout: Duration::from_millis(config.timeout_ms),
        };
        if redis.conn().await.is_some() {
            info!("Redis connected.");
        }
        Ok(Some(redis))
    }

    /// `key` with the configured prefix.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Whether the last call succeeded.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Runs `cmd`; `None` when Redis is down, slow or answered an error.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Option<T> {
        let conn = self.conn().await?;
        let result = tokio::time::timeout(self.timeout, async {
            match conn {
                Conn::Single(mut c) => cmd.query_async(&mut c).await,
                Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
            }
        })
        .await;
        self.settle(result).await
    }

    /// Runs `pipe`; `None` when Redis is down, slow or answered an error.
    pub async fn pipeline<T: FromRedisValue>(&self, pipe: &Pipeline) -> Option<T> {
        let conn = self.conn().await?;
        let result = tokio::time::timeout(self.timeout, async {
            match conn {
                Conn::Single(mut c) => pipe.query_async(&mut c).await,
                Conn::Cluster(mut c) => pipe.query_async(&mut c).await,
            }
        })
        .await;
        self.settle(result).await
    }

    async fn settle<T>(
        &self,
        result: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        match result {
            Ok(Ok(value)) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    info!("Redis is answering again.");
                }
                Some(value)
            }
            Ok(Err(err)) => {
                self.failed(&err.to_string());
                None
            }
            Err(_) => {
                self.failed("timed out");
                None
            }
        }
    }

    fn failed(&self, reason: &str) {
        self.healthy.store(false, Ordering::Relaxed);
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            *reported = Some(Instant::now());
            warn!(reason, "Redis call failed; continuing without it.");
        }
    }

    /// The connection, opening it if it is not open and no attempt was made lately. Callers
    /// never queue behind an attempt: while one is under way the others go without Redis.
    async fn conn(&self) -> Option<Conn> {
        if let Some(conn) = self.open_conn() {
            return Some(conn);
        }
        let mut last_attempt = self.opening.try_lock().ok()?;
        if let Some(conn) = self.open_conn() {
            return Some(conn);
        }
        if last_attempt.is_some_and(|at| at.elapsed() < RECONNECT_EVERY) {
            return None;
        }
        *last_attempt = Some(Instant::now());
        let attempt = tokio::time::timeout(self.timeout.max(Duration::from_millis(500)), async {
            match self.client.as_ref() {
                Client::Single(client) => {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(500))))
                        .set_response_timeout(Some(self.timeout))
                        .set_number_of_retries(1);
                    ConnectionManager::new_with_config(client.clone(), config)
                        .await
                        .map(Conn::Single)
                }
                Client::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
            }
        })
        .await;
        match attempt {
            Ok(Ok(conn)) => {
                self.healthy.store(true, Ordering::Relaxed);
                *self.conn.write().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
                Some(conn)
            }
            Ok(Err(err)) => {
                self.failed(&err.to_string());
                None
            }
            Err(_) => {
                self.failed("connect timed out");
                None
            }
        }
    }

    fn open_conn(&self) -> Option<Conn> {
        self.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
