//! Test databases: one fresh database per test on each backend, dropped after it.

use super::configured;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

/// Runs `sql` on `db`, returning one integer (a `COUNT(*)`, an INTEGER column, or a `SUM`
/// that MySQL and PostgreSQL type as DECIMAL).
pub async fn scalar_on(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("query")
        .expect("one row");
    row.try_get_by_index::<i64>(0)
        .or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))
        .or_else(|_| {
            row.try_get_by_index::<sea_orm::prelude::Decimal>(0)
                .map(|d| i64::try_from(d).expect("integral"))
        })
        .expect("integer column")
}

/// A database engine the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
    Postgres,
    /// SQLite with the Redis cache level and counters (`BIGSCREEN_TEST_REDIS_URL`).
    SqliteRedis,
    /// SQLite with a Redis Cluster of three masters and three replicas
    /// (`BIGSCREEN_TEST_REDIS_CLUSTER_URL`, started once per run by `.ci/run`).
    SqliteRedisCluster,
}

impl Backend {
    fn admin_url_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite | Backend::SqliteRedis | Backend::SqliteRedisCluster => None,
            Backend::MariaDb => Some("BIGSCREEN_TEST_MYSQL_URL"),
            Backend::Postgres => Some("BIGSCREEN_TEST_POSTGRES_URL"),
        }
    }

    /// The Redis this backend runs with: `None` for none, `Some(None)` when it is not
    /// configured for this run (a failure under CI).
    pub fn redis(self) -> Option<Option<String>> {
        match self {
            Backend::SqliteRedis => Some(redis_url()),
            Backend::SqliteRedisCluster => Some(redis_cluster_url()),
            _ => None,
        }
    }
}

/// Redis for tests: `BIGSCREEN_TEST_REDIS_URL`, or `None` when unset (a failure under CI).
pub fn redis_url() -> Option<String> {
    configured("BIGSCREEN_TEST_REDIS_URL", "the Redis tests")
}

/// A Redis Cluster for tests (`redis+cluster://host:port,…`):
/// `BIGSCREEN_TEST_REDIS_CLUSTER_URL`, or `None` when unset (a failure under CI).
pub fn redis_cluster_url() -> Option<String> {
    configured(
        "BIGSCREEN_TEST_REDIS_CLUSTER_URL",
        "the Redis Cluster tests",
    )
}

/// A database created for one test and dropped after it.
pub struct TestDb {
    /// URL of the test's own database.
    pub url: String,
    /// Redis key prefix of this test, unique like the database.
    pub redis_prefix: String,
    pub(super) backend: Backend,
    pub(super) admin_url: Option<String>,
    pub(super) name: String,
    pub(super) _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh, empty database; `None` when the backend is not configured for this run.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let name = format!("ljwx_t_{}", uuid_simple());
        if backend.redis() == Some(None) {
            return None;
        }
        let Some(var) = backend.admin_url_var() else {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/ljwx.db?mode=rwc", dir.path().display());
            return Some(TestDb {
                url,
                redis_prefix: format!("{name}:"),
                backend,
                admin_url: None,
                name,
                _dir: Some(dir),
            });
        };
        let admin_url = configured(var, &format!("the {backend:?} variant"))?;
        Some(Self::create_on(backend, admin_url).await)
    }

    /// A fresh, empty database on the server of `admin_url` (a database server of
    /// `backend`'s kind).
    pub async fn create_on(backend: Backend, admin_url: String) -> TestDb {
        let name = format!("ljwx_t_{}", uuid_simple());
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|err| panic!("{admin_url} is set but unreachable: {err}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.expect("close admin connection");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        TestDb {
            url: format!("{base}/{name}"),
            redis_prefix: format!("{name}:"),
            backend,
            admin_url: Some(admin_url),
            name,
            _dir: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.clone() else {
            return;
        };
        let sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let admin = Database::connect(&admin_url).await?;
                admin.execute_unprepared(&sql).await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

fn uuid_simple() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}_{:x}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
