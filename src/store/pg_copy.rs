//! PostgreSQL's fastest insert for the writer's health rows, and the transaction that carries
//! it.
//!
//! The rows go by `COPY` into a session-local staging table, then one `INSERT … SELECT … ON
//! CONFLICT DO NOTHING` moves them: the server parses no parameters and plans one statement
//! per commit instead of one per 512 rows (`bench-db`: ~30 % more rows per second than
//! multi-row `INSERT`s, docs/BENCHMARKS.md). The writer runs it on the connection it holds
//! (`session`), in the transaction that writes the rest of the group.

use super::columns::{Cells, HEALTH, HEALTH_NAMES, Row, staging_columns, write_row};
use chrono::{DateTime, Utc};
use sea_orm::sqlx::{self, Executor as _, PgConnection};
use std::fmt::{Display, Write as _};
use std::sync::LazyLock;

/// Opens the transaction and, once per connection, the staging table. Its columns take the
/// types the multi-row `INSERT` binds (`float8` for the decimals, `text` for strings:
/// [`super::columns::HEALTH`]), so the `INSERT … SELECT` converts them exactly as it converts
/// bound parameters and both paths store the same values. `ON COMMIT DELETE ROWS` empties it
/// at every commit that used it.
pub(super) static BEGIN: LazyLock<String> = LazyLock::new(|| {
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

/// Stores health `rows` by `COPY` into the staging table of the transaction on `conn`
/// (opened with [`BEGIN`]) and one `INSERT … SELECT` from it; returns the rows that were new.
pub(super) async fn copy_health(
    conn: &mut PgConnection,
    rows: &[Row<'_>],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut copy = conn.copy_in_raw(&COPY).await?;
    // On an error the dropped `copy` tells the server to abandon it; the transaction rolls
    // back.
    copy.send(encode(rows).into_bytes()).await?;
    copy.finish().await?;
    let moved = conn.execute(sqlx::AssertSqlSafe(MOVE.as_str())).await?;
    Ok(moved.rows_affected())
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
