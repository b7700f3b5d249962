//! SeaORM statements on a connection the writer holds, in or out of a transaction.
//!
//! SeaORM runs statements only on connections of its pool, and sqlx pings every connection
//! when it goes back to the pool (and, unless told otherwise, when it is taken out): two
//! round trips per commit that carry no data. A writer task keeps one connection
//! ([`CommitConn`]) and runs its commits on it through [`Session`], which speaks SeaORM's
//! [`ConnectionTrait`] so the commit's statements are written as everywhere else.

use super::driver::Driver;
use sea_orm::sqlx::{self, pool::PoolConnection};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, TransactionSession,
};
use std::marker::PhantomData;
use std::ops::DerefMut;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a held connection may sit unused before it goes back to the pool (which pings a
/// connection idle that long before handing it out again).
const MAX_IDLE: Duration = Duration::from_secs(30);
/// How long a writer keeps one connection: then it goes back to the pool, whose lifetime
/// and health rules apply again (and a new server behind a proxy gets its share).
const MAX_HELD: Duration = Duration::from_secs(300);

/// SeaORM statements on one sqlx connection `C` of driver `DB`: a held connection, or a
/// transaction on it.
pub(super) struct Session<DB, C> {
    // A lock only because `ConnectionTrait` hands out `&self`; a commit runs its statements
    // one after the other, so it is never contended.
    conn: Mutex<C>,
    _driver: PhantomData<fn() -> DB>,
}

impl<DB: Driver, C: DerefMut<Target = DB::Connection> + Send> Session<DB, C> {
    /// Statements on `conn`.
    pub(super) fn new(conn: C) -> Self {
        Self {
            conn: Mutex::new(conn),
            _driver: PhantomData,
        }
    }

    /// The connection, for what SeaORM cannot express (multi-row binds, `COPY`).
    pub(super) async fn lock(&self) -> tokio::sync::MutexGuard<'_, C> {
        self.conn.lock().await
    }
}

/// A statement error as SeaORM reports it.
pub(super) fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

/// A query error as SeaORM reports it.
pub(super) fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

#[async_trait::async_trait]
impl<DB: Driver, C: DerefMut<Target = DB::Connection> + Send> ConnectionTrait for Session<DB, C> {
    fn get_database_backend(&self) -> DbBackend {
        DB::BACKEND
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut conn = self.conn.lock().await;
        DB::execute(&mut conn, stmt).await.map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut conn = self.conn.lock().await;
        DB::execute_sql(&mut conn, sql.to_owned())
            .await
            .map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut conn = self.conn.lock().await;
        DB::fetch_optional(&mut conn, stmt).await.map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut conn = self.conn.lock().await;
        DB::fetch_all(&mut conn, stmt).await.map_err(query_err)
    }
}

/// A transaction: dropped without [`TransactionSession::commit`] it rolls back (sqlx sends the
/// `ROLLBACK` before the connection runs anything else).
pub(super) type Txn<'c, DB> = Session<DB, sqlx::Transaction<'c, DB>>;

#[async_trait::async_trait]
impl<DB: Driver> TransactionSession for Txn<'_, DB> {
    async fn commit(self) -> Result<(), DbErr> {
        self.conn.into_inner().commit().await.map_err(exec_err)
    }

    async fn rollback(self) -> Result<(), DbErr> {
        self.conn.into_inner().rollback().await.map_err(exec_err)
    }
}

/// The connection a writer task commits on, taken from the pool when first needed and kept
/// (up to [`MAX_HELD`], or until it sits idle for [`MAX_IDLE`] or fails).
#[derive(Default)]
pub struct CommitConn {
    held: Option<Held>,
}

struct Held {
    conn: Conn,
    taken: Instant,
    used: Instant,
}

pub(super) enum Conn {
    MySql(PoolConnection<sqlx::MySql>),
    Postgres(PoolConnection<sqlx::Postgres>),
    Sqlite(PoolConnection<sqlx::Sqlite>),
}

/// A driver's connections as [`CommitConn`] holds them.
pub(super) trait Holds: Driver {
    fn wrap(conn: PoolConnection<Self>) -> Conn;
    fn unwrap(conn: &mut Conn) -> Option<&mut PoolConnection<Self>>;
}

macro_rules! holds {
    ($db:ty, $variant:ident) => {
        impl Holds for $db {
            fn wrap(conn: PoolConnection<Self>) -> Conn {
                Conn::$variant(conn)
            }
            fn unwrap(conn: &mut Conn) -> Option<&mut PoolConnection<Self>> {
                match conn {
                    Conn::$variant(conn) => Some(conn),
                    _ => None,
                }
            }
        }
    };
}

holds!(sqlx::MySql, MySql);
holds!(sqlx::Postgres, Postgres);
holds!(sqlx::Sqlite, Sqlite);

impl CommitConn {
    /// The held connection of `DB`, taken from `db`'s pool when there is none (or the one
    /// held is due back); also whether it was held before this call.
    pub(super) async fn take<DB: Holds>(
        &mut self,
        db: &DatabaseConnection,
    ) -> Result<(&mut DB::Connection, bool), DbErr> {
        let now = Instant::now();
        let due = self.held.as_ref().is_some_and(|held| {
            now.duration_since(held.used) >= MAX_IDLE || now.duration_since(held.taken) >= MAX_HELD
        });
        if due {
            self.held = None;
        }
        let reused = self.held.is_some();
        if self.held.is_none() {
            let conn = DB::pool(db).acquire().await.map_err(acquire_error)?;
            self.held = Some(Held {
                conn: DB::wrap(conn),
                taken: now,
                used: now,
            });
        }
        let held = self.held.as_mut().expect("a connection was just taken");
        held.used = now;
        let conn = DB::unwrap(&mut held.conn).ok_or_else(|| {
            DbErr::Custom("the writer's connection is of another database".to_owned())
        })?;
        Ok((&mut **conn, reused))
    }

    /// Closes the held connection (it failed): the next commit takes another.
    pub(super) fn discard(&mut self) {
        if let Some(held) = self.held.take() {
            match held.conn {
                Conn::MySql(mut c) => c.close_on_drop(),
                Conn::Postgres(mut c) => c.close_on_drop(),
                Conn::Sqlite(mut c) => c.close_on_drop(),
            }
        }
    }
}

/// A failed checkout as SeaORM reports it.
fn acquire_error(err: sqlx::Error) -> DbErr {
    use sea_orm::ConnAcquireErr;
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}
