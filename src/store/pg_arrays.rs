//! PostgreSQL's insert of a group's samples: one statement whatever the row count, each
//! column's values bound as one array and turned back into rows by `UNNEST`.
//!
//! A multi-row `VALUES` list needs a statement per row count (prepared and cached per shape)
//! and a parameter per value; with arrays the statement is always the same, the server parses
//! twenty parameters, and the rows of a group go in one round trip.

use super::columns::{Cells, Column, Row, write_row};
use chrono::{DateTime, Utc};
use sea_orm::sqlx::postgres::PgArguments;
use sea_orm::sqlx::{self, Arguments as _, Executor as _, PgConnection};

/// `INSERT INTO table (names) SELECT * FROM UNNEST($1::type[], …) ON CONFLICT (device_sn,
/// timestamp) DO NOTHING` for `columns`.
pub(super) fn insert_sql(table: &str, names: &str, columns: &[&Column]) -> String {
    let arrays = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}[]", i + 1, c.pg_type))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({names}) SELECT * FROM UNNEST({arrays}) \
         ON CONFLICT (device_sn, timestamp) DO NOTHING"
    )
}

/// Runs `sql` (from [`insert_sql`]) with `rows`' values of `columns`, a column an array.
/// Returns the rows that were new.
pub(super) async fn insert(
    conn: &mut PgConnection,
    sql: &str,
    columns: &[&'static Column],
    rows: &[Row<'_>],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut arrays = Arrays {
        columns: Vec::with_capacity(columns.len()),
        at: 0,
        rows: rows.len(),
        mismatch: false,
    };
    for row in rows {
        arrays.at = 0;
        write_row(columns.iter().copied(), row, &mut arrays);
    }
    if arrays.mismatch {
        return Err(sqlx::Error::Encode(
            "a column's values changed type between rows".into(),
        ));
    }
    let mut args = PgArguments::default();
    for column in &arrays.columns {
        let added = match column {
            Array::Int(v) => args.add(v),
            Array::BigInt(v) => args.add(v),
            Array::Double(v) => args.add(v),
            Array::Text(v) => args.add(v),
            Array::Time(v) => args.add(v),
        };
        added.map_err(sqlx::Error::Encode)?;
    }
    let done = conn
        .execute(sqlx::query_with(sqlx::AssertSqlSafe(sql.to_owned()), args))
        .await?;
    Ok(done.rows_affected())
}

/// One column's values.
enum Array<'a> {
    Int(Vec<Option<i32>>),
    BigInt(Vec<Option<i64>>),
    Double(Vec<Option<f64>>),
    Text(Vec<Option<&'a str>>),
    Time(Vec<DateTime<Utc>>),
}

/// The rows' values gathered column by column.
struct Arrays<'a> {
    columns: Vec<Array<'a>>,
    /// The column the next value belongs to.
    at: usize,
    /// Rows in all, for each array's capacity.
    rows: usize,
    /// A column got a value of another type than in an earlier row (never, by construction
    /// of the column table; checked rather than assumed).
    mismatch: bool,
}

impl<'a> Arrays<'a> {
    /// The array of the current column, made by `new` on the first row; moves on.
    fn next(&mut self, new: fn(usize) -> Array<'a>) -> &mut Array<'a> {
        if self.at == self.columns.len() {
            self.columns.push(new(self.rows));
        }
        self.at += 1;
        &mut self.columns[self.at - 1]
    }
}

macro_rules! push {
    ($self:ident, $variant:ident, $value:expr) => {
        match $self.next(|n| Array::$variant(Vec::with_capacity(n))) {
            Array::$variant(values) => values.push($value),
            _ => $self.mismatch = true,
        }
    };
}

impl<'a> Cells<'a> for Arrays<'a> {
    fn int(&mut self, value: Option<i32>) {
        push!(self, Int, value);
    }
    fn bigint(&mut self, value: Option<i64>) {
        push!(self, BigInt, value);
    }
    fn double(&mut self, value: Option<f64>) {
        push!(self, Double, value);
    }
    fn text(&mut self, value: Option<&'a str>) {
        push!(self, Text, value);
    }
    fn time(&mut self, value: DateTime<Utc>) {
        push!(self, Time, value);
    }
}

#[cfg(test)]
mod tests {
    use super::super::columns::HEALTH;
    use super::*;

    #[test]
    fn one_array_per_column_of_the_column_table() {
        let columns: Vec<&Column> = HEALTH.iter().take(3).collect();
        assert_eq!(
            insert_sql("t", "a, b, c", &columns),
            "INSERT INTO t (a, b, c) SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int4[]) \
             ON CONFLICT (device_sn, timestamp) DO NOTHING"
        );
    }
}
