//! Partitions on MariaDB/MySQL: `PARTITION BY RANGE (UNIX_TIMESTAMP(timestamp))` — the form
//! both document for a `TIMESTAMP` column — each month `VALUES LESS THAN` the next month's
//! first second, and `pmax` (`VALUES LESS THAN MAXVALUE`) last.

use super::{Month, Partition, PartitionError, Progress, TABLE, execute};
use chrono::DateTime;
use sea_orm::sqlx::{self, Executor as _};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement};
use std::sync::Arc;
use std::time::Duration;

/// The catch-all partition.
const CATCH_ALL: &str = "pmax";
/// How often a conversion's progress is read.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The table's partitions in order; `None` when it has none.
pub(super) async fn partitions(db: &DatabaseConnection) -> Result<Option<Vec<Partition>>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::MySql,
            format!(
                "SELECT PARTITION_NAME AS name, PARTITION_DESCRIPTION AS bound, \
                 CAST(TABLE_ROWS AS SIGNED) AS rows_estimate \
                 FROM information_schema.PARTITIONS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{TABLE}' \
                 ORDER BY PARTITION_ORDINAL_POSITION"
            ),
        ))
        .await?;
    let mut partitions = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(name) = row.try_get::<Option<String>>("", "name")? else {
            // An unpartitioned table is listed as one nameless partition.
            return Ok(None);
        };
        let bound: Option<String> = row.try_get("", "bound")?;
        let bounds = match bound.as_deref().map(str::parse::<i64>) {
            Some(Ok(seconds)) => DateTime::from_timestamp(seconds, 0).map_or_else(
                || format!("timestamp < {seconds}"),
                |at| format!("timestamp < {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
            ),
            _ => "the rest (MAXVALUE)".to_owned(),
        };
        partitions.push(Partition {
            month: Month::parse(&name),
            name,
            bounds,
            rows: row
                .try_get::<Option<i64>>("", "rows_estimate")?
                .unwrap_or(0),
        });
    }
    Ok((!partitions.is_empty()).then_some(partitions))
}

/// `PARTITION pYYYYMM VALUES LESS THAN (…)` for `month`.
fn definition(month: Month) -> String {
    format!(
        "PARTITION {} VALUES LESS THAN ({})",
        month.name(),
        month.next().start().timestamp()
    )
}

/// Rewrites the table into `months` partitions and the catch-all in one `ALTER TABLE`,
/// reporting the server's progress every few seconds (MariaDB's `PROGRESS`; MySQL 8 reports
/// none).
pub(super) async fn convert(
    db: &DatabaseConnection,
    months: &[Month],
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), PartitionError> {
    let kind = db
        .query_one_raw(Statement::from_string(
            DbBackend::MySql,
            format!(
                "SELECT DATA_TYPE AS kind FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{TABLE}' \
                 AND COLUMN_NAME = 'timestamp'"
            ),
        ))
        .await?
        .map(|row| row.try_get::<String>("", "kind"))
        .transpose()?
        .unwrap_or_default();
    if !kind.eq_ignore_ascii_case("timestamp") {
        return Err(PartitionError::State(format!(
            "{TABLE}.timestamp is `{kind}`, not `timestamp`: it cannot be partitioned by \
             UNIX_TIMESTAMP"
        )));
    }
    let mut partitions: Vec<String> = months.iter().copied().map(definition).collect();
    partitions.push(format!("PARTITION {CATCH_ALL} VALUES LESS THAN MAXVALUE"));
    // The primary key must contain the partition column; `id` stays first, as its
    // AUTO_INCREMENT needs.
    let alter = format!(
        "ALTER TABLE {TABLE} DROP PRIMARY KEY, ADD PRIMARY KEY (id, timestamp) \
         PARTITION BY RANGE (UNIX_TIMESTAMP(timestamp)) ({})",
        partitions.join(", ")
    );
    let pool = db.get_mysql_connection_pool();
    let mut conn = pool.acquire().await.map_err(conn_err)?;
    let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut *conn)
        .await
        .map_err(conn_err)?;
    let rewrite = conn.execute(sqlx::AssertSqlSafe(alter));
    tokio::pin!(rewrite);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            done = &mut rewrite => {
                done.map_err(|err| DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err))))?;
                return Ok(());
            }
            _ = tick.tick() => {
                let percent = sqlx::query_scalar::<_, f64>(
                    "SELECT CAST(PROGRESS AS DOUBLE) FROM information_schema.PROCESSLIST WHERE ID = ?",
                )
                .bind(id)
                .fetch_optional(pool)
                .await
                .ok()
                .flatten();
                progress(Progress::Rewriting(percent));
            }
        }
    }
}

/// Adds the partition of `month` after the last one, splitting it off the catch-all, and
/// returns its name; `None` for a month before the last partition's (a gap, whose samples
/// the next partition holds: a range partition can only be added at the end).
pub(super) async fn create(
    db: &DatabaseConnection,
    existing: &[Partition],
    month: Month,
) -> Result<Option<String>, DbErr> {
    if existing
        .iter()
        .filter_map(|p| p.month)
        .any(|last| last > month)
    {
        return Ok(None);
    }
    let sql = if existing.iter().any(|p| p.name == CATCH_ALL) {
        // `pmax` is empty unless samples came for months without a partition: the server
        // moves them into the new one.
        format!(
            "ALTER TABLE {TABLE} REORGANIZE PARTITION {CATCH_ALL} INTO \
             ({}, PARTITION {CATCH_ALL} VALUES LESS THAN MAXVALUE)",
            definition(month)
        )
    } else {
        format!("ALTER TABLE {TABLE} ADD PARTITION ({})", definition(month))
    };
    execute(db, &sql).await?;
    Ok(Some(month.name()))
}

/// Drops the partition `name` and its rows.
pub(super) async fn drop(db: &DatabaseConnection, name: &str) -> Result<(), DbErr> {
    execute(db, &format!("ALTER TABLE {TABLE} DROP PARTITION {name}")).await
}

fn conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_ends_at_the_next_months_first_second() {
        assert_eq!(
            definition(Month {
                year: 2026,
                month: 12
            }),
            "PARTITION p202612 VALUES LESS THAN (1798761600)"
        );
    }
}
