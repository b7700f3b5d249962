//! Housekeeping of the side tables: deleting quarantined samples, batch records, delivered
//! notifications and sessions once they are past their retention, a small batch per
//! statement so that no delete holds locks the writer waits for.
//!
//! One instance at a time runs it (a database lock: `GET_LOCK` on MySQL/MariaDB, an advisory
//! lock on PostgreSQL); the deletes are idempotent, so the lock only saves double work.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use sea_orm::sqlx;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, RuntimeErr, Statement, Value};
use std::sync::Arc;

/// Name of the MySQL lock, and key of the PostgreSQL advisory lock.
const LOCK_NAME: &str = "ljwx_bigscreen_housekeeping";
const LOCK_KEY: i64 = 0x6c6a_7778_686f_7573;

/// A side table housekeeping trims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideTable {
    /// Samples of unbound devices (`t_unknown_device_data`), by arrival.
    Quarantine,
    /// Batch records kept for idempotent replays (`t_ingest_batch`), by commit time.
    Batches,
    /// Delivered alert notifications (`t_alert_outbox`), by delivery time.
    Outbox,
    /// Dashboard sessions (`t_admin_session`), by expiry.
    Sessions,
    /// Binding changes every instance has read (`t_binding_change`), by time.
    BindingChanges,
    /// FHIR Bulk Data exports (`t_export_job`), by kick-off.
    ExportJobs,
}

impl SideTable {
    /// Every side table, in the order housekeeping visits them.
    pub const ALL: [SideTable; 6] = [
        SideTable::Quarantine,
        SideTable::Batches,
        SideTable::Outbox,
        SideTable::Sessions,
        SideTable::BindingChanges,
        SideTable::ExportJobs,
    ];

    /// The table's name, also the metric label.
    pub fn table(self) -> &'static str {
        match self {
            SideTable::Quarantine => "t_unknown_device_data",
            SideTable::Batches => "t_ingest_batch",
            SideTable::Outbox => "t_alert_outbox",
            SideTable::Sessions => "t_admin_session",
            SideTable::BindingChanges => "t_binding_change",
            SideTable::ExportJobs => "t_export_job",
        }
    }

    /// The unique key rows are deleted by.
    fn key(self) -> &'static str {
        match self {
            SideTable::Sessions => "token_hash",
            _ => "id",
        }
    }

    /// The indexed time a row is old by (a `NULL` one, an undelivered notification, never
    /// is).
    fn age(self) -> &'static str {
        match self {
            SideTable::Quarantine
            | SideTable::Batches
            | SideTable::BindingChanges
            | SideTable::ExportJobs => "create_time",
            SideTable::Outbox => "sent_at",
            SideTable::Sessions => "expires_at",
        }
    }
}

/// The statement deleting at most `limit` rows of `table` older than the bound cutoff, oldest
/// first.
fn delete_sql(backend: DbBackend, table: SideTable, limit: usize) -> String {
    let (name, key, age) = (table.table(), table.key(), table.age());
    match backend {
        // MySQL has no LIMIT in an IN subquery, but a single-table DELETE takes ORDER BY and
        // LIMIT (ordered by a unique key too, so replicas delete the same rows).
        DbBackend::MySql => {
            format!("DELETE FROM {name} WHERE {age} < ? ORDER BY {age}, {key} LIMIT {limit}")
        }
        DbBackend::Postgres => format!(
            "DELETE FROM {name} WHERE {key} IN \
             (SELECT {key} FROM {name} WHERE {age} < $1 ORDER BY {age}, {key} LIMIT {limit})"
        ),
        _ => format!(
            "DELETE FROM {name} WHERE {key} IN \
             (SELECT {key} FROM {name} WHERE {age} < ? ORDER BY {age}, {key} LIMIT {limit})"
        ),
    }
}

/// The housekeeping lock, held until [`HousekeepingLock::release`]d or dropped.
pub struct HousekeepingLock {
    conn: Option<HeldConnection>,
}

enum HeldConnection {
    MySql(sqlx::pool::PoolConnection<sqlx::MySql>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl HousekeepingLock {
    /// Releases the lock; its connection goes back to the pool.
    pub async fn release(mut self) {
        match self.conn.take() {
            Some(HeldConnection::MySql(mut conn)) => {
                let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
                    .bind(LOCK_NAME)
                    .execute(&mut *conn)
                    .await;
            }
            Some(HeldConnection::Postgres(mut conn)) => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(LOCK_KEY)
                    .execute(&mut *conn)
                    .await;
            }
            None => {}
        }
    }
}

impl Drop for HousekeepingLock {
    fn drop(&mut self) {
        // Not released (dropped on an error): the connection is closed rather than returned
        // to the pool still holding the lock, and the server releases it with the session.
        match self.conn.take() {
            Some(HeldConnection::MySql(conn)) => drop(conn.detach()),
            Some(HeldConnection::Postgres(conn)) => drop(conn.detach()),
            None => {}
        }
    }
}

fn conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)))
}

impl Store {
    /// Takes the housekeeping lock without waiting: `None` when another instance holds it.
    /// On SQLite (one process per database file) it always succeeds.
    pub async fn try_housekeeping_lock(&self) -> Result<Option<HousekeepingLock>, StoreError> {
        let conn = match self.backend() {
            DbBackend::MySql => {
                let mut conn = self
                    .db
                    .get_mysql_connection_pool()
                    .acquire()
                    .await
                    .map_err(conn_err)?;
                let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
                    .bind(LOCK_NAME)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(conn_err)?;
                (got == Some(1)).then_some(HeldConnection::MySql(conn))
            }
            DbBackend::Postgres => {
                let mut conn = self
                    .db
                    .get_postgres_connection_pool()
                    .acquire()
                    .await
                    .map_err(conn_err)?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(LOCK_KEY)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(conn_err)?;
                got.then_some(HeldConnection::Postgres(conn))
            }
            _ => return Ok(Some(HousekeepingLock { conn: None })),
        };
        Ok(conn.map(|conn| HousekeepingLock { conn: Some(conn) }))
    }

    /// Deletes at most `limit` rows of `table` older than `cutoff`, oldest first, in one
    /// statement of its own. Returns how many it deleted.
    pub async fn delete_older(
        &self,
        table: SideTable,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let backend = self.backend();
        let deleted = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                delete_sql(backend, table, limit.max(1)),
                [Value::ChronoDateTimeUtc(Some(cutoff))],
            ))
            .await?
            .rows_affected();
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_are_bounded_and_oldest_first() {
        assert_eq!(
            delete_sql(DbBackend::MySql, SideTable::Quarantine, 500),
            "DELETE FROM t_unknown_device_data WHERE create_time < ? \
             ORDER BY create_time, id LIMIT 500"
        );
        assert_eq!(
            delete_sql(DbBackend::Postgres, SideTable::Sessions, 10),
            "DELETE FROM t_admin_session WHERE token_hash IN (SELECT token_hash FROM \
             t_admin_session WHERE expires_at < $1 ORDER BY expires_at, token_hash LIMIT 10)"
        );
    }
}
