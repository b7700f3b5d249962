//! The read replica (`database.read_url`, seed §3.1): dashboard pages, `/api/stats` and the
//! alert listings read from it; the group commit and everything else that writes or must see
//! its own writes never do. [`Store::check_replica`] (run every couple of seconds by the
//! health module's watcher) measures its round trip and lag; while it does not answer, reads
//! go to the primary and `/api/health` says so.

use super::Store;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// What the last check of the replica found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaStatus {
    /// It answered a round trip: reads go to it.
    pub up: bool,
    /// Milliseconds the round trip took (or waited).
    pub latency_ms: f64,
    /// Seconds it is behind the primary, where the server reports it (PostgreSQL: since
    /// the last replayed transaction, 0 when it has replayed all it received; MariaDB/MySQL:
    /// `Seconds_Behind_Master`).
    pub lag_seconds: Option<f64>,
}

/// The replica's pool and what its last check found.
#[derive(Debug, Clone)]
pub(super) struct Replica {
    db: DatabaseConnection,
    status: Arc<RwLock<ReplicaStatus>>,
}

impl Replica {
    fn status(&self) -> ReplicaStatus {
        *self.status.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store {
    /// Reads of the dashboard, statistics and alert listings go to `replica` while it
    /// answers. Until its first check it counts as down.
    pub fn with_replica(mut self, replica: DatabaseConnection) -> Self {
        self.replica = Some(Replica {
            db: replica,
            status: Arc::new(RwLock::new(ReplicaStatus {
                up: false,
                latency_ms: 0.0,
                lag_seconds: None,
            })),
        });
        self
    }

    /// The pool reads that may lag go to: the replica while it answers, else the primary.
    pub(super) fn reader(&self) -> &DatabaseConnection {
        match &self.replica {
            Some(replica) if replica.status().up => &replica.db,
            _ => &self.db,
        }
    }

    /// What the last check of the replica found; `None` without one.
    pub fn replica_status(&self) -> Option<ReplicaStatus> {
        self.replica.as_ref().map(Replica::status)
    }

    /// Checks the replica now (a round trip within `timeout`, then its lag) and routes reads
    /// by the result. Logs when it goes down or comes back. `None` without a replica.
    pub async fn check_replica(&self, timeout: Duration) -> Option<ReplicaStatus> {
        let replica = self.replica.as_ref()?;
        let started = Instant::now();
        let answered = tokio::time::timeout(timeout, lag(&replica.db)).await;
        let latency_ms = (started.elapsed().as_secs_f64() * 1e5).round() / 100.0;
        let status = match answered {
            Ok(Ok(lag_seconds)) => ReplicaStatus {
                up: true,
                latency_ms,
                lag_seconds,
            },
            Ok(Err(err)) => {
                if replica.status().up {
                    tracing::warn!(error = %err, "Read replica unreachable; reads go to the primary.");
                }
                ReplicaStatus {
                    up: false,
                    latency_ms,
                    lag_seconds: None,
                }
            }
            Err(_) => {
                if replica.status().up {
                    tracing::warn!(
                        timeout_ms = timeout.as_millis() as u64,
                        "Read replica did not answer in time; reads go to the primary."
                    );
                }
                ReplicaStatus {
                    up: false,
                    latency_ms,
                    lag_seconds: None,
                }
            }
        };
        let was = replica.status();
        if status.up && !was.up {
            tracing::info!(lag_seconds = ?status.lag_seconds, "Reads go to the read replica.");
        }
        *replica.status.write().unwrap_or_else(|e| e.into_inner()) = status;
        Some(status)
    }
}

/// The replica's lag in seconds, where the server reports it; an error when it does not
/// answer.
async fn lag(db: &DatabaseConnection) -> Result<Option<f64>, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        // Idle, a standby replays nothing: no lag once it replayed all it received.
        DbBackend::Postgres => {
            "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL \
             WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
             ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END::float8 AS lag"
        }
        DbBackend::MySql => "SHOW SLAVE STATUS",
        _ => "SELECT NULL AS lag",
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    Ok(match (backend, row) {
        (DbBackend::MySql, Some(row)) => row
            .try_get::<Option<u64>>("", "Seconds_Behind_Master")
            .ok()
            .flatten()
            .map(|s| s as f64),
        (_, Some(row)) => row.try_get::<Option<f64>>("", "lag").ok().flatten(),
        (_, None) => None,
    })
}
