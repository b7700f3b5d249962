//! PostgreSQL's fastest insert for the writer's health rows, and the transaction that carries
//! it.
//!
//! The rows go by `COPY` into a session-local staging table, then one `INSERT … SELECT … ON
//! CONFLICT DO NOTHING` moves them: the server parses no parameters and plans one statement
//! per commit instead of one per 512 rows (`bench-db`: ~30 % more rows per second than
//! multi-row `INSERT`s, docs/BENCHMARKS.md). SeaORM's transaction cannot lend its connection
//! to `COPY`, so [`CopyTxn`] holds a sqlx transaction and runs the commit's other statements
//! (quarantine, counters, alerts, batch rows) through SeaORM's [`ConnectionTrait`], binding
//! values as SeaORM does.

use super::columns::{Cells, HEALTH, HEALTH_NAMES, Row, staging_columns, write_row};
use super::samples::GroupTxn;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Values;
use sea_orm::sqlx::{self, Executor as _, PgPool, Postgres};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement,
    TransactionSession,
};
use sea_query_sqlx::SqlxValues;
use std::fmt::{Display, Write as _};
use std::sync::{Arc, LazyLock};
use tokio::sync::Mutex;

/// Opens the transaction and, once per connection, the staging table. Its columns take the
/// types the multi-row `INSERT` binds (`float8` for the decimals, `text` for strings:
/// [`super::columns::HEALTH`]), so the `INSERT … SELECT` converts them exactly as it converts
/// bound parameters and both paths store the same values. `ON COMMIT DELETE ROWS` empties it
/// at every commit that used it.
static BEGIN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "BEGIN; CREATE TEMP TABLE IF NOT EXISTS health_stage ({}) ON COMMIT DELETE ROWS",
        staging_columns()
    )
});
/// Fills the staging table.
static COPY: LazyLock<String> =
    LazyLock::new(|| format!("COPY health_stage ({}) FROM STDIN", *HEALTH_NAMES));
/// Moves the staged rows into the health table.
static MOVE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO t_user_health_data ({names}) SELECT {names} FROM health_stage \
         ON CONFLICT (device_sn, timestamp) DO NOTHING",
        names = *HEALTH_NAMES
    )
});

/// A PostgreSQL transaction whose connection takes both `COPY` and SeaORM statements.
/// Dropped without [`CopyTxn::commit`], it rolls back (sqlx queues the `ROLLBACK` before the
/// connection is used again).
pub(super) struct CopyTxn {
    // A lock only because `ConnectionTrait` hands out `&self`; the commit runs its statements
    // one after the other, so it is never contended.
    tx: Mutex<sqlx::Transaction<'static, Postgres>>,
}

impl CopyTxn {
    /// Takes a connection of `pool` and begins.
    pub(super) async fn begin(pool: &PgPool) -> Result<Self, DbErr> {
        let tx = pool
            .begin_with(sqlx::AssertSqlSafe(BEGIN.as_str()))
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        Ok(Self { tx: Mutex::new(tx) })
    }
}

impl GroupTxn for CopyTxn {
    async fn insert_health(&self, rows: &[Row<'_>]) -> Result<u64, DbErr> {
        if rows.is_empty() {
            return Ok(0);
        }
        let data = encode(rows);
        let mut tx = self.tx.lock().await;
        let mut copy = tx.copy_in_raw(&COPY).await.map_err(exec_err)?;
        // On an error the dropped `copy` tells the server to abandon it; the transaction
        // rolls back.
        copy.send(data.into_bytes()).await.map_err(exec_err)?;
        copy.finish().await.map_err(exec_err)?;
        let moved = (&mut **tx)
            .execute(sqlx::AssertSqlSafe(MOVE.as_str()))
            .await
            .map_err(exec_err)?;
        Ok(moved.rows_affected())
    }
}

#[async_trait::async_trait]
impl TransactionSession for CopyTxn {
    async fn commit(self) -> Result<(), DbErr> {
        self.tx.into_inner().commit().await.map_err(exec_err)
    }

    async fn rollback(self) -> Result<(), DbErr> {
        self.tx.into_inner().rollback().await.map_err(exec_err)
    }
}

fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

/// `stmt` as a sqlx query with its values bound.
fn query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

#[async_trait::async_trait]
impl ConnectionTrait for CopyTxn {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut tx = self.tx.lock().await;
        let done = query(&stmt).execute(&mut **tx).await.map_err(exec_err)?;
        Ok(done.into())
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut tx = self.tx.lock().await;
        let done = (&mut **tx)
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .map_err(exec_err)?;
        Ok(done.into())
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut tx = self.tx.lock().await;
        let row = query(&stmt)
            .fetch_optional(&mut **tx)
            .await
            .map_err(query_err)?;
        Ok(row.map(Into::into))
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut tx = self.tx.lock().await;
        let rows = query(&stmt).fetch_all(&mut **tx).await.map_err(query_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// The rows in `COPY`'s text format, columns as [`HEALTH`].
fn encode(rows: &[Row<'_>]) -> String {
    let mut out = CopyText(String::with_capacity(rows.len() * 192));
    for row in rows {
        write_row(HEALTH.iter(), row, &mut out);
        // Every field ended with a tab; the last one ends the line instead.
        out.0.pop();
        out.0.push('\n');
    }
    out.0
}

/// Fields in `COPY`'s text format, each ended by a tab.
struct CopyText(String);

impl<'a> Cells<'a> for CopyText {
    fn int(&mut self, value: Option<i32>) {
        number(&mut self.0, value);
    }
    fn bigint(&mut self, value: Option<i64>) {
        number(&mut self.0, value);
    }
    fn double(&mut self, value: Option<f64>) {
        number(&mut self.0, value);
    }
    fn text(&mut self, value: Option<&'a str>) {
        text(&mut self.0, value);
    }
    fn time(&mut self, value: DateTime<Utc>) {
        timestamp(&mut self.0, value);
    }
}

/// A number field: Rust prints integers plainly and floats as the shortest text that reads
/// back as the same `f64` (never in exponent form), which `float8` parses exactly.
fn number(out: &mut String, value: Option<impl Display>) {
    match value {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push_str("\\N"),
    }
    out.push('\t');
}

/// A text field, with the backslash escapes of `COPY`'s text format.
fn text(out: &mut String, value: Option<&str>) {
    match value {
        Some(v) => {
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
        None => out.push_str("\\N"),
    }
    out.push('\t');
}

/// A UTC time field to the microsecond (truncated, as sqlx binds it); nothing in it needs an
/// escape.
fn timestamp(out: &mut String, at: DateTime<Utc>) {
    let _ = write!(out, "{}", at.format("%Y-%m-%d %H:%M:%S%.6f+00"));
    out.push('\t');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_escape_what_copy_would_read_as_syntax() {
        let mut out = String::new();
        text(&mut out, Some("a\tb\nc\\d\re"));
        text(&mut out, None);
        assert_eq!(out, "a\\tb\\nc\\\\d\\re\t\\N\t");
    }

    #[test]
    fn numbers_read_back_exactly() {
        let mut out = String::new();
        number(&mut out, Some(39.904_200_049_999_99_f64));
        number(&mut out, Some(1e-7_f64));
        number(&mut out, None::<i32>);
        assert_eq!(out, "39.90420004999999\t0.0000001\t\\N\t");
        assert_eq!(
            "39.90420004999999".parse::<f64>(),
            Ok(39.904_200_049_999_99)
        );
    }

    #[test]
    fn timestamps_keep_microseconds_and_say_utc() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T08:01:02.123456789Z")
            .expect("a valid time")
            .with_timezone(&Utc);
        let mut out = String::new();
        timestamp(&mut out, at);
        assert_eq!(out, "2026-11-30 08:01:02.123456+00\t");
    }
}
