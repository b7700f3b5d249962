//! SeaORM statements in a transaction on a connection the writer holds.
//!
//! SeaORM runs statements only on connections of its pool, and sqlx pings every connection
//! when it goes back to the pool (and, unless told otherwise, when it is taken out): two
//! round trips per commit that carry no data. A writer task keeps one connection
//! ([`CommitConn`]) and runs its commits on it through [`Session`], which speaks SeaORM's
//! [`ConnectionTrait`] so the commit's statements are written as everywhere else.
//!
//! On MySQL the held connection runs with autocommit off, so the first statement of a commit
//! opens its transaction and no `BEGIN` goes ahead of it: a round trip less per commit. Such
//! a connection never goes back to the pool; a held connection is closed when it is due.

use super::driver::Driver;
use sea_orm::sqlx::{self, pool::PoolConnection};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, TransactionSession,
};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a held connection may sit unused before it goes back to the pool (which pings a
/// connection idle that long before handing it out again).
const MAX_IDLE: Duration = Duration::from_secs(30);
/// How long a writer keeps one connection: then it goes back to the pool, whose lifetime
/// and health rules apply again (and a new server behind a proxy gets its share).
const MAX_HELD: Duration = Duration::from_secs(300);

/// SeaORM statements on one sqlx connection `C` of driver `DB`: a transaction on a held
/// connection.
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

/// An open transaction on a held connection.
pub(super) struct OpenTxn<'c, DB: Driver> {
    conn: &'c mut DB::Connection,
    /// Set until the transaction is committed or rolled back: [`CommitConn`] closes a
    /// connection left with a transaction open (a commit cancelled or failed halfway).
    open: &'c mut bool,
}

impl<DB: Driver> Deref for OpenTxn<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        self.conn
    }
}

impl<DB: Driver> DerefMut for OpenTxn<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn
    }
}

/// A transaction: [`TransactionSession::commit`] or [`TransactionSession::rollback`] ends it.
pub(super) type Txn<'c, DB> = Session<DB, OpenTxn<'c, DB>>;

impl<'c, DB: Driver> Txn<'c, DB> {
    /// Opens a transaction on `held`: with `BEGIN` where the driver has autocommit on, with
    /// nothing where it is off.
    pub(super) async fn begin(held: &'c mut HeldConn<'_, DB>) -> Result<Self, DbErr> {
        let HeldConn { conn, open } = held;
        if DB::AUTOCOMMIT {
            DB::execute_sql(conn, "BEGIN".to_owned())
                .await
                .map_err(|err| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err))))?;
        }
        **open = true;
        Ok(Session::new(OpenTxn { conn, open }))
    }

    /// Ends the transaction with `sql` (`COMMIT` or `ROLLBACK`).
    async fn end(self, sql: &str) -> Result<(), DbErr> {
        let txn = self.conn.into_inner();
        DB::execute_sql(txn.conn, sql.to_owned())
            .await
            .map_err(exec_err)?;
        *txn.open = false;
        Ok(())
    }
}

#[async_trait::async_trait]
impl<DB: Driver> TransactionSession for Txn<'_, DB> {
    async fn commit(self) -> Result<(), DbErr> {
        self.end("COMMIT").await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        self.end("ROLLBACK").await
    }
}

/// The held connection of a [`CommitConn`], for one commit.
pub(super) struct HeldConn<'c, DB: Driver> {
    conn: &'c mut DB::Connection,
    open: &'c mut bool,
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
    /// A transaction was opened and not ended.
    open: bool,
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
    /// held is due, or was left in a transaction); also whether it was held before this call.
    pub(super) async fn take<DB: Holds>(
        &mut self,
        db: &DatabaseConnection,
    ) -> Result<(HeldConn<'_, DB>, bool), DbErr> {
        let now = Instant::now();
        let due = self.held.as_ref().is_some_and(|held| {
            held.open
                || now.duration_since(held.used) >= MAX_IDLE
                || now.duration_since(held.taken) >= MAX_HELD
        });
        if due {
            self.discard();
        }
        let reused = self.held.is_some();
        if self.held.is_none() {
            let mut conn = DB::pool(db).acquire().await.map_err(acquire_error)?;
            DB::hold(&mut conn).await.map_err(exec_err)?;
            self.held = Some(Held {
                conn: DB::wrap(conn),
                taken: now,
                used: now,
                open: false,
            });
        }
        let held = self.held.as_mut().expect("a connection was just taken");
        held.used = now;
        let conn = DB::unwrap(&mut held.conn).ok_or_else(|| {
            DbErr::Custom("the writer's connection is of another database".to_owned())
        })?;
        let held = HeldConn {
            conn: &mut **conn,
            open: &mut held.open,
        };
        Ok((held, reused))
    }

    /// Closes the held connection (it failed, or is due): the next commit takes another.
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

impl Drop for CommitConn {
    fn drop(&mut self) {
        self.discard();
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
