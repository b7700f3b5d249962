//! Opening the pool with the settings each backend needs.

use crate::config::{DatabaseConfig, SqliteSynchronous};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous as Sync};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use std::path::Path;
use std::time::Duration;

/// Most pooled connections to a SQLite database: one for the writer, one for readers (WAL
/// lets them run side by side). Each connection runs on its own thread, and SQLite's memory
/// (page cache, prepared multi-row statements) lives in that thread's C malloc arena: 4
/// connections held ~140 MiB more than 2 under the 5000-user workload, for the same
/// throughput (docs/BENCHMARKS.md).
const SQLITE_MAX_CONNECTIONS: u32 = 2;

/// Opens the connection pool for `config.url`. For a SQLite file its directory is created
/// and the database runs in WAL mode.
pub async fn connect(config: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    let url = config.url.expose();
    if let Some(dir) = sqlite_dir(url) {
        std::fs::create_dir_all(dir)
            .map_err(|err| DbErr::Custom(format!("cannot create {}: {err}", dir.display())))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    // SQLite has one writer at a time and a page cache per connection: two connections
    // serve writer and readers, and bound the memory the caches take.
    let max_connections = if sqlite_dir(url).is_some() || url.starts_with("sqlite:") {
        config.max_connections.min(SQLITE_MAX_CONNECTIONS)
    } else {
        config.max_connections
    };
    options
        .max_connections(max_connections)
        .min_connections(config.min_connections)
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .sqlx_logging(false);
    let synchronous = match config.sqlite_synchronous {
        SqliteSynchronous::Full => Sync::Full,
        SqliteSynchronous::Normal => Sync::Normal,
    };
    options.map_sqlx_sqlite_opts(move |opts| {
        opts.journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Six B-trees take every health row: with SQLite's default 2 MiB page cache each
            // insert re-reads index pages from the OS. 16 MiB per connection keeps them hot.
            .pragma("cache_size", "-16384")
        // `temp_store` stays at its default (files): statement journals (a multi-row insert in
        // a transaction keeps one) then live in the OS cache, not in the process heap
        // (-25 MiB under the 5000-user load, measured when statements also ran in savepoints).
    });
    Database::connect(options).await
}

/// Opens the pool of the read replica at `url` with the settings of `config`, lazily: a
/// replica that is down at start is not an error (reads go to the primary until it answers).
pub async fn connect_replica(
    config: &DatabaseConfig,
    url: &str,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .connect_lazy(true)
        .sqlx_logging(false);
    Database::connect(options).await
}

/// The file of a SQLite database URL; `None` for one in memory, or another database.
pub fn sqlite_file(url: &str) -> Option<&Path> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .and_then(|rest| rest.split('?').next())
        .filter(|path| !path.is_empty() && !path.contains(":memory:"))
        .map(Path::new)
}

/// The directory of a SQLite file URL (`sqlite://data/ljwx.db?mode=rwc` → `data`).
fn sqlite_dir(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_directory_from_url() {
        assert_eq!(
            sqlite_dir("sqlite://data/ljwx.db?mode=rwc"),
            Some(Path::new("data"))
        );
        assert_eq!(sqlite_dir("sqlite::memory:"), None);
        assert_eq!(
            sqlite_file("sqlite://ljwx.db?mode=rwc"),
            Some(Path::new("ljwx.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
        assert_eq!(sqlite_dir("sqlite://ljwx.db"), None);
        assert_eq!(sqlite_dir("mysql://root@localhost/test"), None);
    }
}
