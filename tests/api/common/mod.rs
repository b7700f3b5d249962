//! The test harness: a fresh database per test on each backend, and the real server on a
//! loopback port.
//!
//! SQLite always runs. MariaDB and PostgreSQL run when `BIGSCREEN_TEST_MYSQL_URL` and
//! `BIGSCREEN_TEST_POSTGRES_URL` are set (`.ci/run` sets both); when a set URL cannot be reached
//! the test fails instead of skipping.

mod app;
mod db;
mod hook;
mod loopback;
mod nginx;
mod process;
pub mod schemas;
mod supervisor;

pub use app::{Reply, TestApp, location, read};
pub use db::{Backend, TestDb, redis_cluster_url, redis_url, scalar_on};
pub use hook::Hook;
pub use loopback::Loopback;
pub use nginx::Nginx;
pub use process::{exit_status, prepare_database, start_server_process, terminate};
pub use supervisor::{Supervisor, TEST_PASSWORD, cookie_client, form_value};

/// Polls `check` until it holds, failing the test with `what` after `within`.
pub async fn eventually(
    what: &str,
    within: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) {
    eventually_some(what, within, async || check().await.then_some(())).await;
}

/// Polls `check` until it gives a value and returns it, failing the test with `what` after
/// `within`. Every test that waits for something waits through here (or [`eventually`]).
pub async fn eventually_some<T>(
    what: &str,
    within: std::time::Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Whether this is a CI run (`CI=true`): then a part of the suite that cannot run fails
/// instead of being skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The value of the environment variable `var`; when it is unset, `None` (the caller skips
/// `what`) — or, under CI, a failed test.
pub fn configured(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) => Some(value),
        Err(_) => {
            assert!(
                !in_ci(),
                "{var} is not set, so {what} cannot run: under CI=true that is a failure"
            );
            eprintln!("{var} is not set: {what} not run");
            None
        }
    }
}

/// The installed program at `path`, or `None` when it is missing (a failure under CI).
pub fn configured_program(path: &str, what: &str) -> Option<std::path::PathBuf> {
    let path = std::path::PathBuf::from(path);
    if path.exists() {
        return Some(path);
    }
    assert!(
        !in_ci(),
        "{} is not installed, so {what} cannot run: under CI=true that is a failure",
        path.display()
    );
    eprintln!("{} is not installed: {what} not run", path.display());
    None
}

/// `count` records of `device`, heart rate 70, one a second from `from` (epoch seconds).
pub fn records(device: &str, from: i64, count: i64) -> serde_json::Value {
    serde_json::Value::Array(
        (0..count)
            .map(
                |i| serde_json::json!({"deviceSn": device, "heartRate": 70, "timestamp": from + i}),
            )
            .collect(),
    )
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs each listed `async fn name(backend: Backend)` once per backend, as
/// `sqlite::name`, `mariadb::name`, `postgres::name`, `sqlite_redis::name` and `sqlite_redis_cluster::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod mariadb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::MariaDb).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
        mod sqlite_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::SqliteRedis).await
                }
            )*
        }
        mod sqlite_redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::SqliteRedisCluster).await
                }
            )*
        }
    };
}

/// Runs `async fn test(backend: Backend)` on the database servers only, as `module::mariadb`
/// and `module::postgres`: for what SQLite has not (connections a server
/// drops, row locks another session holds, server locks, replicas).
#[macro_export]
macro_rules! server_tests {
    ($module:ident: $test:ident) => {
        mod $module {
            use $crate::common::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                super::$test(Backend::MariaDb).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$test(Backend::Postgres).await
            }
        }
    };
}

/// Runs each listed `async fn name(backend: Backend)` once on a single Redis node and once
/// on the Redis Cluster, as `redis_node::name` and `redis_cluster::name`.
#[macro_export]
macro_rules! redis_tests {
    ($($name:ident),* $(,)?) => {
        mod redis_node {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::SqliteRedis).await
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::SqliteRedisCluster).await
                }
            )*
        }
    };
}
