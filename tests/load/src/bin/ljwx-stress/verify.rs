//! `--verify-db`: after the run, count what the database holds for the run and compare it
//! with what the server acknowledged.
//!
//! The service promises that an acknowledged record is committed. Every generated record has
//! its own `(deviceSn, timestamp)`, so every acknowledged insert must be a row whose
//! `batch_id` starts with the run id; fewer rows means acknowledged data was lost. More rows
//! is not a loss: a request the client gave up on (timeout) may still have been committed.

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde::Serialize;

/// Escape character for `LIKE`. Not a backslash: MySQL would also treat a backslash in the
/// string literal itself as an escape, so the SQL would differ between backends.
const LIKE_ESCAPE: char = '!';

/// The comparison of acknowledged and stored counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Sum of `inserted` over all 200 answers.
    pub acknowledged_inserted: u64,
    /// Rows of the run in `t_user_health_data`.
    pub stored: u64,
    /// Sum of `unknown_device` over all 200 answers.
    pub acknowledged_unknown: u64,
    /// Rows of the run in `t_unknown_device_data`.
    pub quarantined: u64,
    /// Rows stored beyond the acknowledged inserts (committed, answer not received).
    pub stored_not_acknowledged: u64,
    /// Quarantined rows beyond the acknowledged unknown-device records.
    pub quarantined_not_acknowledged: u64,
    /// Acknowledged inserts missing from the database.
    pub lost_inserted: u64,
    /// Acknowledged quarantined records missing from the database.
    pub lost_unknown: u64,
    /// All acknowledged records missing: `lost_inserted + lost_unknown`.
    pub lost: u64,
}

impl Verification {
    /// Compares acknowledged with stored counts.
    pub fn compare(acked_inserted: u64, stored: u64, acked_unknown: u64, quarantined: u64) -> Self {
        let lost_inserted = acked_inserted.saturating_sub(stored);
        let lost_unknown = acked_unknown.saturating_sub(quarantined);
        Self {
            acknowledged_inserted: acked_inserted,
            stored,
            acknowledged_unknown: acked_unknown,
            quarantined,
            stored_not_acknowledged: stored.saturating_sub(acked_inserted),
            quarantined_not_acknowledged: quarantined.saturating_sub(acked_unknown),
            lost_inserted,
            lost_unknown,
            lost: lost_inserted + lost_unknown,
        }
    }
}

/// Connects to `database_url`, counts the run's rows and compares them with the
/// acknowledged counts.
pub async fn verify(
    database_url: &str,
    run_id: &str,
    acked_inserted: u64,
    acked_unknown: u64,
) -> anyhow::Result<Verification> {
    // The URL may hold a password: never print it.
    let db = Database::connect(database_url)
        .await
        .context("cannot connect to the --verify-db database")?;
    let pattern = like_pattern(run_id);
    let stored = count(&db, "t_user_health_data", &pattern).await;
    let quarantined = count(&db, "t_unknown_device_data", &pattern).await;
    // Close before deciding, so a failed count does not leave the pool open.
    let _ = db.close().await;
    Ok(Verification::compare(
        acked_inserted,
        stored?,
        acked_unknown,
        quarantined?,
    ))
}

/// `SELECT COUNT(*)` of `table`'s rows whose `batch_id` matches `pattern`.
async fn count(db: &DatabaseConnection, table: &str, pattern: &str) -> anyhow::Result<u64> {
    // `pattern` is built from a run id restricted to `[A-Za-z0-9._-]` (see `check_run_id`)
    // and escaped, so inlining it is safe; `table` is one of two constants.
    let sql = format!(
        "SELECT COUNT(*) FROM {table} WHERE batch_id LIKE '{pattern}' ESCAPE '{LIKE_ESCAPE}'"
    );
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .with_context(|| format!("cannot count the rows of {table}"))?
        .with_context(|| format!("COUNT(*) on {table} returned no row"))?;
    // COUNT(*) is a 64-bit integer on SQLite, MySQL and PostgreSQL alike.
    let n = row
        .try_get_by_index::<i64>(0)
        .with_context(|| format!("cannot read COUNT(*) of {table}"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The `LIKE` pattern matching every batch id of run `run_id`: `{run_id}_` followed by
/// anything, with `_` and `%` in the run id taken literally. Without the escaping,
/// `stress_1700000000` would also match another run's `stress_17000000001_…`-style ids,
/// and `_` would match any character.
pub fn like_pattern(run_id: &str) -> String {
    let mut out = String::with_capacity(run_id.len() * 2 + 4);
    for c in run_id.chars().chain(std::iter::once('_')) {
        if matches!(c, '_' | '%') || c == LIKE_ESCAPE {
            out.push(LIKE_ESCAPE);
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_takes_the_run_id_literally() {
        assert_eq!(like_pattern("stress_17"), "stress!_17!_%");
        assert_eq!(like_pattern("a-b.c"), "a-b.c!_%");
    }

    #[test]
    fn lost_and_unacknowledged_rows_are_told_apart() {
        let v = Verification::compare(1000, 1000, 10, 10);
        assert_eq!(v.lost, 0);
        assert_eq!(v.stored_not_acknowledged, 0);

        // A timed-out request committed anyway: extra rows, nothing lost.
        let v = Verification::compare(1000, 1100, 10, 10);
        assert_eq!(v.lost, 0);
        assert_eq!(v.stored_not_acknowledged, 100);

        let v = Verification::compare(1000, 990, 10, 7);
        assert_eq!(v.lost_inserted, 10);
        assert_eq!(v.lost_unknown, 3);
        assert_eq!(v.lost, 13);
        assert_eq!(v.stored_not_acknowledged, 0);
    }

    #[tokio::test]
    async fn rows_of_the_run_are_counted_on_sqlite() {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        let backend = db.get_database_backend();
        for sql in [
            "CREATE TABLE t_user_health_data (id INTEGER PRIMARY KEY, batch_id TEXT)",
            "INSERT INTO t_user_health_data (batch_id) VALUES \
             ('stress_17_1_1'), ('stress_17_1_2'), ('stress_17_o_3'), \
             ('stress_170_1_1'), ('stressX17_1_1'), (NULL)",
        ] {
            db.execute_raw(Statement::from_string(backend, sql))
                .await
                .expect("setup");
        }
        let n = count(&db, "t_user_health_data", &like_pattern("stress_17"))
            .await
            .expect("count");
        assert_eq!(n, 3);
    }
}
