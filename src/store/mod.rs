//! Storage: connecting, migrating, and every query the service runs.
//!
//! Queries are hand-written SQL with bound parameters where the statement differs per backend
//! (multi-row inserts with dedup, upserts); SeaORM entities serve the plain reads.

mod admin;
mod alerts;
mod batch_rows;
mod batches;
mod columns;
mod commit;
mod connect;
mod daily;
mod dashboard;
mod devices;
mod driver;
mod exports;
mod group;
mod housekeeping;
mod keys;
mod migrate;
mod partitions;
mod pg_arrays;
mod readings;
mod replay;
mod replica;
mod samples;
mod session;
pub mod sql;
mod stats;

pub use admin::AdminSession;
pub use alerts::{AlertEvent, AlertFilter, Transition, TransitionOutcome};
pub use commit::{Committed, GroupCommitted};
pub use connect::{connect, connect_replica, sqlite_file};
pub use dashboard::{BoundDevice, OpenAlert, QuarantinedDevice};
pub use devices::DeviceImport;
pub use exports::{ExportJob, ExportStatus, PART_IDS, Part, parts_covering};
pub use group::CommitBatch;
pub use housekeeping::{HousekeepingLock, SideTable};
pub use keys::KeyInfo;
pub use migrate::{lock_sqlite, migrate};
pub use partitions::{Maintained, Month, Partition, PartitionError, Progress};
pub use readings::{SampleKey, SampleOwner, SampleQuery, Stat, SummaryBucket, SummaryQuery};
pub use replay::Replayed;
pub use replica::ReplicaStatus;
pub use session::CommitConn;
pub use stats::TodayStats;

use sea_orm::{DatabaseConnection, DbBackend, DbErr, RuntimeErr};

/// The database the service stores into, shared by all requests.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// The read replica, if one is configured (see `replica`).
    replica: Option<replica::Replica>,
}

impl Store {
    /// Wraps an open connection pool.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db, replica: None }
    }

    /// How the writer inserts samples: `"arrays"` (PostgreSQL, one statement) or
    /// `"multi-row"`.
    pub fn sample_insert(&self) -> &'static str {
        match self.backend() {
            DbBackend::Postgres => "arrays",
            _ => "multi-row",
        }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Which SQL dialect the pool speaks.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Connections of the pool: (open, idle).
    pub fn pool_usage(&self) -> (u32, usize) {
        match self.backend() {
            DbBackend::MySql => {
                let pool = self.db.get_mysql_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        }
    }

    /// Round trip to the database (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(StoreError::from)
    }

    /// Whether the database answers a round trip within `timeout`; a failure is logged.
    pub async fn reachable(&self, timeout: std::time::Duration) -> bool {
        match tokio::time::timeout(timeout, self.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "Health check: database unreachable.");
                false
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "Health check: database did not answer in time."
                );
                false
            }
        }
    }
}

/// A storage failure. The text may hold SQL or driver detail: log it, never send it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or has no free connection; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DbErr),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            StoreError::Unavailable(err)
        } else {
            StoreError::Database(err)
        }
    }
}

fn sqlx_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e.as_ref()),
        _ => None,
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as E;
    if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return true;
    }
    matches!(
        sqlx_error(err),
        Some(E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::Tls(_) | E::WorkerCrashed)
    )
}

/// Deadlocks, serialization failures and lock timeouts: the transaction did nothing and may
/// simply be run again.
fn is_transient(err: &DbErr) -> bool {
    let Some(err) = sqlx_error(err).and_then(|e| e.as_database_error()) else {
        return false;
    };
    // The MySQL protocol's errors are told by number: their SQLSTATE is `HY000` for a lock
    // wait timeout and TiDB's write conflict.
    if let Some(mysql) = err.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        // Deadlock (also a Galera certification failure), lock wait timeout, TiDB write
        // conflict (a transaction in optimistic mode).
        return matches!(mysql.number(), 1213 | 1205 | 9007);
    }
    let Some(code) = err.code() else {
        return false;
    };
    matches!(
        code.as_ref(),
        // PostgreSQL: serialization failure, deadlock detected.
        "40001" | "40P01"
        // SQLite: busy, locked.
        | "5" | "6" | "517" | "261"
    )
}

/// A unique-key violation (`INSERT` of a key that exists).
fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
