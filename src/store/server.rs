//! What the database server can do, and the write path chosen for it.
//!
//! The group commit must know which of its batch records it wrote (another request may have
//! committed the same batch meanwhile). PostgreSQL, SQLite and MariaDB ≥ 10.5 say so with
//! `INSERT … RETURNING`. MySQL 8 and TiDB have no `RETURNING`: there the writer counts the
//! affected rows, and in the rare case that some record was taken, rolls back and looks the
//! taken ones up (`commit.rs`). `database.mysql_returning = false` picks that path on
//! MariaDB too, which is how the suite keeps it tested without a MySQL 8 server.

use super::{Store, StoreError};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// How a group commit learns which batch records it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePath {
    /// `INSERT … RETURNING` names the records written.
    Returning,
    /// Affected-row counts (MySQL 8, TiDB, MariaDB before 10.5, or chosen by setting).
    AffectedRows,
}

impl WritePath {
    /// The name logged at startup.
    pub fn as_str(self) -> &'static str {
        match self {
            WritePath::Returning => "returning",
            WritePath::AffectedRows => "affected-rows",
        }
    }
}

impl Store {
    /// Asks the server what it is and chooses the write path: on the MySQL protocol,
    /// `RETURNING` only when the server has it and `mysql_returning` allows it. Logs the
    /// server version and the choice.
    pub async fn detect_server(mut self, mysql_returning: bool) -> Result<Self, StoreError> {
        if self.backend() != DbBackend::MySql {
            return Ok(self);
        }
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::MySql,
                "SELECT VERSION() AS version",
            ))
            .await?;
        let version: String = match row {
            Some(row) => row.try_get("", "version")?,
            None => String::new(),
        };
        self.write_path = if mysql_returning && has_insert_returning(&version) {
            WritePath::Returning
        } else {
            WritePath::AffectedRows
        };
        tracing::info!(
            server = %version,
            write_path = self.write_path.as_str(),
            "MySQL-protocol server."
        );
        Ok(self)
    }

    /// The write path chosen by [`Store::detect_server`].
    pub fn write_path(&self) -> WritePath {
        self.write_path
    }
}

/// Whether a MySQL-protocol server with `version` (as `SELECT VERSION()` gives it) has
/// `INSERT … RETURNING`: MariaDB from 10.5. MySQL (`8.0.36`) and TiDB
/// (`8.0.11-TiDB-v7.5.0`) have not.
fn has_insert_returning(version: &str) -> bool {
    if !version.contains("MariaDB") {
        return false;
    }
    // A MariaDB replicating from MySQL once reported `5.5.5-10.x.y-MariaDB`.
    let version = version.strip_prefix("5.5.5-").unwrap_or(version);
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= (10, 5)
}

#[cfg(test)]
mod tests {
    use super::has_insert_returning;

    #[test]
    fn only_mariadb_from_10_5_returns() {
        assert!(has_insert_returning("10.11.19-MariaDB-0+deb12u1"));
        assert!(has_insert_returning("11.4.2-MariaDB"));
        assert!(has_insert_returning("5.5.5-10.6.12-MariaDB-log"));
        assert!(!has_insert_returning("10.4.32-MariaDB"));
        assert!(!has_insert_returning("8.0.36"));
        assert!(!has_insert_returning("8.4.0-commercial"));
        assert!(!has_insert_returning("8.0.11-TiDB-v7.5.0"));
        assert!(!has_insert_returning(""));
    }
}
