//! Bringing the schema up to date, one process at a time: instances that start together (or
//! the `migrate` command beside a running service) must not apply a migration twice. The lock
//! is the database's own: `GET_LOCK` on MySQL/MariaDB, an advisory lock on PostgreSQL, and on
//! a SQLite file one `BEGIN IMMEDIATE` transaction around every migration.

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::{self, sqlite::SqlitePoolOptions};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, SqlxSqliteConnector,
};
use std::sync::Arc;

/// Name of the MySQL lock, and key of the PostgreSQL advisory lock.
const LOCK_NAME: &str = "ljwx_bigscreen_migrate";
const LOCK_KEY: i64 = 0x6c6a_7778_6d69_6772;
/// Longest wait for another process's migrations, in seconds.
const LOCK_WAIT_SECS: i64 = 600;

/// Applies the pending migrations to `db`, waiting for any other process migrating the same
/// database. `sqlite_file` tells whether a SQLite database is a file (others can open it)
/// rather than in memory.
pub async fn migrate(db: &DatabaseConnection, sqlite_file: bool) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::MySql => {
            let mut lock = db
                .get_mysql_connection_pool()
                .acquire()
                .await
                .map_err(conn_err)?;
            let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                .bind(LOCK_NAME)
                .bind(LOCK_WAIT_SECS)
                .fetch_one(&mut *lock)
                .await
                .map_err(conn_err)?;
            if got != Some(1) {
                return Err(DbErr::Migration(format!(
                    "another process kept the migration lock for {LOCK_WAIT_SECS} s"
                )));
            }
            let result = Migrator::up(db, None).await;
            // Closing the connection would release it too.
            let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
                .bind(LOCK_NAME)
                .execute(&mut *lock)
                .await;
            result
        }
        DbBackend::Postgres => {
            let mut lock = db
                .get_postgres_connection_pool()
                .acquire()
                .await
                .map_err(conn_err)?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(LOCK_KEY)
                .execute(&mut *lock)
                .await
                .map_err(conn_err)?;
            let result = Migrator::up(db, None).await;
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LOCK_KEY)
                .execute(&mut *lock)
                .await;
            result
        }
        DbBackend::Sqlite if sqlite_file => {
            // One connection, so that every statement runs in the one transaction that holds
            // the write lock from its start.
            let options = db.get_sqlite_connection_pool().connect_options();
            let single = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with((*options).clone())
                .await
                .map_err(conn_err)?;
            let conn = SqlxSqliteConnector::from_sqlx_sqlite_pool(single);
            conn.execute_unprepared("BEGIN IMMEDIATE").await?;
            let result = match Migrator::up(&conn, None).await {
                Ok(()) => conn.execute_unprepared("COMMIT").await.map(drop),
                Err(err) => {
                    let _ = conn.execute_unprepared("ROLLBACK").await;
                    Err(err)
                }
            };
            let _ = conn.close().await;
            result
        }
        _ => Migrator::up(db, None).await,
    }
}

fn conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)))
}
