//! The three sqlx drivers as the writer uses them directly: SeaORM statements on a connection
//! the writer holds (SeaORM only runs them on connections of its pool), and multi-row inserts
//! whose values are bound straight into the driver's arguments.
//!
//! Each operation is one generic function with the driver bounds it needs; [`Driver`] is
//! implemented for MySQL, PostgreSQL and SQLite by instantiating them, so the code above it
//! is generic over `DB: Driver` alone.

use super::columns::{Cells, Row, write_row};
use super::pg_arrays;
use super::samples::SampleTable;
use super::sql::padded_chunks;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::{
    self, Arguments, Database, Encode, Executor, IntoArguments, MySql, Pool, Postgres, Sqlite, Type,
};
use sea_orm::{DatabaseConnection, DbBackend, ExecResult, QueryResult, Statement};
use sea_query_sqlx::SqlxValues;

/// A sqlx driver the writer commits through.
pub(super) trait Driver: Database {
    /// SeaORM's name for its dialect.
    const BACKEND: DbBackend;

    /// Whether a connection the writer holds commits each statement by itself, so that a
    /// transaction needs a `BEGIN`. `false` on MySQL, where [`Driver::hold`] turns autocommit
    /// off and a commit's first statement opens its transaction.
    const AUTOCOMMIT: bool = true;

    /// The sqlx pool under SeaORM's `db`, which must be of this driver.
    fn pool(db: &DatabaseConnection) -> &Pool<Self>;

    /// Prepares a connection the writer starts to hold.
    fn hold(_conn: &mut Self::Connection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async { Ok(()) })
    }

    /// Runs a SeaORM statement.
    fn execute(
        conn: &mut Self::Connection,
        stmt: Statement,
    ) -> BoxFuture<'_, Result<ExecResult, sqlx::Error>>;

    /// Runs SQL text without parameters (several statements on PostgreSQL and SQLite).
    fn execute_sql(
        conn: &mut Self::Connection,
        sql: String,
    ) -> BoxFuture<'_, Result<ExecResult, sqlx::Error>>;

    /// Runs a SeaORM query and returns its rows.
    fn fetch_all(
        conn: &mut Self::Connection,
        stmt: Statement,
    ) -> BoxFuture<'_, Result<Vec<QueryResult>, sqlx::Error>>;

    /// Runs a SeaORM query and returns its first row.
    fn fetch_optional(
        conn: &mut Self::Connection,
        stmt: Statement,
    ) -> BoxFuture<'_, Result<Option<QueryResult>, sqlx::Error>>;

    /// Inserts `rows` into `table`, skipping rows whose `(device_sn, timestamp)` is stored
    /// already or repeated in `rows`; returns how many were new. Multi-row statements with the
    /// values bound straight into the driver's arguments; on PostgreSQL one statement of
    /// arrays (`pg_arrays`).
    fn insert_samples<'a>(
        conn: &'a mut Self::Connection,
        table: SampleTable,
        rows: &'a [Row<'a>],
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>>;
}

macro_rules! driver {
    ($db:ty, $backend:expr, $pool:ident $(, $extra:item)*) => {
        impl Driver for $db {
            const BACKEND: DbBackend = $backend;

            fn pool(db: &DatabaseConnection) -> &Pool<Self> {
                db.$pool()
            }
            fn execute(
                conn: &mut Self::Connection,
                stmt: Statement,
            ) -> BoxFuture<'_, Result<ExecResult, sqlx::Error>> {
                Box::pin(execute::<$db>(conn, stmt))
            }
            fn execute_sql(
                conn: &mut Self::Connection,
                sql: String,
            ) -> BoxFuture<'_, Result<ExecResult, sqlx::Error>> {
                Box::pin(execute_sql::<$db>(conn, sql))
            }
            fn fetch_all(
                conn: &mut Self::Connection,
                stmt: Statement,
            ) -> BoxFuture<'_, Result<Vec<QueryResult>, sqlx::Error>> {
                Box::pin(fetch_all::<$db>(conn, stmt))
            }
            fn fetch_optional(
                conn: &mut Self::Connection,
                stmt: Statement,
            ) -> BoxFuture<'_, Result<Option<QueryResult>, sqlx::Error>> {
                Box::pin(fetch_optional::<$db>(conn, stmt))
            }
            $($extra)*
        }
    };
}

driver!(
    MySql,
    DbBackend::MySql,
    get_mysql_connection_pool,
    const AUTOCOMMIT: bool = false;,
    fn hold(conn: &mut Self::Connection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move {
            conn.execute("SET autocommit = 0").await?;
            Ok(())
        })
    },
    fn insert_samples<'a>(
        conn: &'a mut Self::Connection,
        table: SampleTable,
        rows: &'a [Row<'a>],
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(insert_multi::<MySql>(conn, table, rows))
    }
);
driver!(
    Postgres,
    DbBackend::Postgres,
    get_postgres_connection_pool,
    fn insert_samples<'a>(
        conn: &'a mut Self::Connection,
        table: SampleTable,
        rows: &'a [Row<'a>],
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(pg_arrays::insert(
            conn,
            table.unnest_sql(),
            table.columns(),
            rows,
        ))
    }
);
driver!(
    Sqlite,
    DbBackend::Sqlite,
    get_sqlite_connection_pool,
    fn insert_samples<'a>(
        conn: &'a mut Self::Connection,
        table: SampleTable,
        rows: &'a [Row<'a>],
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(insert_multi::<Sqlite>(conn, table, rows))
    }
);

/// Most rows per multi-row `INSERT` of samples (also kept below every backend's parameter
/// limit).
const MAX_SAMPLE_ROWS: usize = 4096;

/// `stmt` as a sqlx query with SeaORM's values bound (moved, not copied).
fn query<DB>(stmt: Statement) -> sqlx::query::Query<'static, DB, SqlxValues>
where
    DB: Database,
    SqlxValues: IntoArguments<DB>,
{
    let values = stmt.values.unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql), SqlxValues(values))
}

async fn execute<DB>(conn: &mut DB::Connection, stmt: Statement) -> Result<ExecResult, sqlx::Error>
where
    DB: Database,
    for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    ExecResult: From<DB::QueryResult>,
{
    Ok(query::<DB>(stmt).execute(conn).await?.into())
}

async fn execute_sql<DB>(conn: &mut DB::Connection, sql: String) -> Result<ExecResult, sqlx::Error>
where
    DB: Database,
    for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
    ExecResult: From<DB::QueryResult>,
{
    Ok(conn.execute(sqlx::AssertSqlSafe(sql)).await?.into())
}

async fn fetch_all<DB>(
    conn: &mut DB::Connection,
    stmt: Statement,
) -> Result<Vec<QueryResult>, sqlx::Error>
where
    DB: Database,
    for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    QueryResult: From<DB::Row>,
{
    let rows = query::<DB>(stmt).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

async fn fetch_optional<DB>(
    conn: &mut DB::Connection,
    stmt: Statement,
) -> Result<Option<QueryResult>, sqlx::Error>
where
    DB: Database,
    for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    QueryResult: From<DB::Row>,
{
    Ok(query::<DB>(stmt)
        .fetch_optional(conn)
        .await?
        .map(Into::into))
}

/// [`Driver::insert_samples`] by multi-row statements of a few shapes (`padded_chunks`): the
/// last row of a statement is repeated up to its shape, and skipped as a duplicate. Returns
/// the rows the statements affected.
async fn insert_multi<'a, DB>(
    conn: &'a mut DB::Connection,
    table: SampleTable,
    rows: &'a [Row<'a>],
) -> Result<u64, sqlx::Error>
where
    DB: Driver,
    for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    ExecResult: From<DB::QueryResult>,
    for<'t> Option<i32>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<f64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> DateTime<Utc>: Encode<'t, DB> + Type<DB>,
{
    let columns = table.columns();
    let mut new = 0;
    for (rows, shape) in padded_chunks(DB::BACKEND, columns.len(), MAX_SAMPLE_ROWS, rows) {
        let sql = table.insert_sql(DB::BACKEND, shape);
        let mut args = DB::Arguments::default();
        // About 8 bytes a value (numbers, times; serial numbers and batch ids are longer, absent
        // values shorter): one buffer for the statement instead of one grown by doubling.
        args.reserve(shape * columns.len(), shape * columns.len() * 8);
        let mut bind = Bind { args, failed: None };
        let repeats = rows
            .last()
            .into_iter()
            .cycle()
            .take(shape.saturating_sub(rows.len()));
        for row in rows.iter().chain(repeats) {
            write_row(columns.iter().copied(), row, &mut bind);
        }
        if let Some(err) = bind.failed {
            return Err(sqlx::Error::Encode(err));
        }
        let done: ExecResult = sqlx::query_with(sqlx::AssertSqlSafe(sql), bind.args)
            .execute(&mut *conn)
            .await?
            .into();
        new += done.rows_affected();
    }
    Ok(new)
}

/// Values bound into a driver's arguments as they come; the first encoding error is kept
/// (the statement is then not run).
struct Bind<A> {
    args: A,
    failed: Option<sqlx::error::BoxDynError>,
}

impl<A: Arguments> Bind<A> {
    fn add<'t, T: Encode<'t, A::Database> + Type<A::Database>>(&mut self, value: T) {
        if let Err(err) = self.args.add(value) {
            self.failed.get_or_insert(err);
        }
    }
}

impl<'a, A: Arguments> Cells<'a> for Bind<A>
where
    for<'t> Option<i32>: Encode<'t, A::Database> + Type<A::Database>,
    for<'t> Option<i64>: Encode<'t, A::Database> + Type<A::Database>,
    for<'t> Option<f64>: Encode<'t, A::Database> + Type<A::Database>,
    for<'t> Option<&'t str>: Encode<'t, A::Database> + Type<A::Database>,
    for<'t> DateTime<Utc>: Encode<'t, A::Database> + Type<A::Database>,
{
    fn int(&mut self, value: Option<i32>) {
        self.add(value);
    }
    fn bigint(&mut self, value: Option<i64>) {
        self.add(value);
    }
    fn double(&mut self, value: Option<f64>) {
        self.add(value);
    }
    fn text(&mut self, value: Option<&'a str>) {
        self.add(value);
    }
    fn time(&mut self, value: DateTime<Utc>) {
        self.add(value);
    }
}
