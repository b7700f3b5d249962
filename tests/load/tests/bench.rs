//! `bench-db`, the raw insert rate the writer is measured against: every method stores the
//! rows it reports, with the dedup key intact, on the databases that offer it. SQLite always;
//! MariaDB and PostgreSQL when `BIGSCREEN_TEST_MYSQL_URL` / `BIGSCREEN_TEST_POSTGRES_URL` are
//! set (under `CI=true` they must be).

use ljwx_bigscreen::app::open_storage;
use ljwx_bigscreen::config::{Config, Secret};
use ljwx_bigscreen::store::Store;
use ljwx_load::bench::{BenchMethod, BenchOptions, bench_insert};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

/// A fresh database for `backend_var` (or SQLite in a temporary directory), and how to drop
/// it: `None` when the variable is unset outside CI.
async fn fresh(
    backend_var: Option<&str>,
) -> Option<(String, Option<(String, String)>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(var) = backend_var else {
        let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
        return Some((url, None, dir));
    };
    let Ok(admin) = std::env::var(var) else {
        assert!(
            std::env::var("CI").ok().is_none_or(|ci| ci != "true"),
            "{var} is not set: under CI=true that is a failure"
        );
        eprintln!("{var} is not set: not run");
        return None;
    };
    let name = format!("ljwx_bench_{}_{}", std::process::id(), rand_suffix());
    let db = Database::connect(&admin).await.expect("admin connection");
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create");
    db.close().await.expect("close");
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_owned();
    Some((format!("{base}/{name}"), Some((admin, name)), dir))
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

async fn count(store: &Store, sql: &str) -> i64 {
    let db = store.connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

async fn every_method_stores_the_rows_it_reports(backend_var: Option<&str>) {
    let Some((url, admin, _dir)) = fresh(backend_var).await else {
        return;
    };
    let mut config = Config::default();
    config.database.url = Secret::new(url);
    let store = open_storage(&config).await.expect("storage");
    let postgres = store.backend() == DbBackend::Postgres;
    let methods: &[BenchMethod] = if postgres {
        &[BenchMethod::Multi, BenchMethod::Copy, BenchMethod::Json]
    } else {
        &[BenchMethod::Multi]
    };
    let mut expected = 0;
    for &method in methods {
        let options = BenchOptions {
            rows: 2500,
            chunk: 1000,
            connections: 2,
            method,
        };
        let result = bench_insert(&store, options).await.expect("bench");
        assert_eq!(result.rows, 2500);
        assert!(result.rows_per_second > 0.0);
        expected += 2500;
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM t_user_health_data").await,
            expected,
            "{method:?}"
        );
    }
    // One wearer per device, as under load.
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(DISTINCT user_id) FROM t_user_health_data"
        )
        .await,
        1000
    );
    if !postgres {
        for method in [BenchMethod::Copy, BenchMethod::Json] {
            let options = BenchOptions {
                rows: 10,
                chunk: 10,
                connections: 1,
                method,
            };
            assert!(
                bench_insert(&store, options).await.is_err(),
                "{method:?} is PostgreSQL only"
            );
        }
    }
    store.connection().clone().close().await.expect("close");
    if let Some((admin, name)) = admin {
        let db = Database::connect(&admin).await.expect("admin connection");
        let drop = if postgres {
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        } else {
            format!("DROP DATABASE IF EXISTS {name}")
        };
        db.execute_unprepared(&drop).await.expect("drop");
        db.close().await.expect("close");
    }
}

#[tokio::test]
async fn sqlite() {
    every_method_stores_the_rows_it_reports(None).await;
}

#[tokio::test]
async fn mariadb() {
    every_method_stores_the_rows_it_reports(Some("BIGSCREEN_TEST_MYSQL_URL")).await;
}

#[tokio::test]
async fn postgres() {
    every_method_stores_the_rows_it_reports(Some("BIGSCREEN_TEST_POSTGRES_URL")).await;
}
