//! Bringing the schema up to date, one process at a time: instances that start together (or
//! the `migrate` command beside a running service) must not apply a migration twice. The lock
//! is the database's own — `GET_LOCK` on MySQL/MariaDB, an advisory lock on PostgreSQL — and
//! for a SQLite file a lock on a file beside it.

use super::Store;
use chrono::Utc;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx;
use sea_orm::{DatabaseConnection, DbBackend, DbErr, RuntimeErr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the MySQL lock, and key of the PostgreSQL advisory lock.
const LOCK_NAME: &str = "ljwx_bigscreen_migrate";
const LOCK_KEY: i64 = 0x6c6a_7778_6d69_6772;
/// Longest wait for another process's migrations, in seconds.
const LOCK_WAIT_SECS: i64 = 600;

/// Applies the pending migrations to `db`, waiting for any other process migrating the same
/// database; with `partition_ahead`, then partitions a new install's empty health table by
/// month, `partition_ahead` months ahead (`partitions`). A SQLite file is the caller's to
/// lock, with [`lock_sqlite`] held from before it connects until this returns.
pub async fn migrate(db: &DatabaseConnection, partition_ahead: Option<u32>) -> Result<(), DbErr> {
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
            let result = up(db, partition_ahead).await;
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
            let result = up(db, partition_ahead).await;
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LOCK_KEY)
                .execute(&mut *lock)
                .await;
            result
        }
        _ => up(db, partition_ahead).await,
    }
}

/// What runs under the migration lock.
async fn up(db: &DatabaseConnection, partition_ahead: Option<u32>) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    if let Some(ahead) = partition_ahead {
        let partitioned = Store::new(db.clone())
            .partition_if_empty(Utc::now(), ahead)
            .await
            .map_err(|err| DbErr::Migration(format!("partitioning the health table: {err}")))?;
        if partitioned {
            tracing::info!(ahead, "Health table partitioned by month (a new install).");
        }
    }
    Ok(())
}

/// An exclusive lock standing for the SQLite database at `database` (on a file beside it,
/// created if missing), held until the returned file is dropped.
///
/// It covers connecting too: the first connection to a new file switches it to WAL, which
/// needs the file to itself, and SQLite answers "database is locked" at once, without
/// waiting, to one of two connections that both want to upgrade their lock — so processes
/// starting together on a new file connect and migrate one at a time.
pub async fn lock_sqlite(database: &Path) -> Result<std::fs::File, DbErr> {
    let path = sqlite_lock_file(database);
    let locked = tokio::task::spawn_blocking(move || {
        // Before the first connection, the database's directory may not exist yet.
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|err| DbErr::Migration(format!("migration lock: {err}")))?;
    locked.map_err(|err| DbErr::Migration(format!("cannot lock for migrating: {err}")))
}

/// The lock file of the SQLite database at `path`.
fn sqlite_lock_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".migrate-lock");
    PathBuf::from(name)
}

fn conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)))
}
