//! Migrations against an existing ljwx database: create what is missing, touch nothing else.

use crate::backend_tests;
use crate::common::{Backend, TestApp, TestDb, now};
use ljwx_bigscreen::{App, Config};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

backend_tests!(
    migrations_keep_an_existing_ljwx_database,
    existing_health_table_gets_the_unique_key_it_lacks,
    batch_records_of_an_older_schema_keep_their_ids_and_results,
    instances_starting_together_migrate_once,
);

async fn migrations_keep_an_existing_ljwx_database(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    // ljwx-boot's tables, with columns this service does not know.
    let boot = Database::connect(&db.url).await.expect("connect");
    for sql in [
        "CREATE TABLE sys_user (id BIGINT PRIMARY KEY, user_name VARCHAR(64) NOT NULL, \
         phone VARCHAR(20), device_sn VARCHAR(64), customer_id BIGINT, \
         is_deleted SMALLINT NOT NULL DEFAULT 0)",
        "CREATE TABLE sys_user_org (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, \
         org_id BIGINT NOT NULL, is_deleted SMALLINT NOT NULL DEFAULT 0)",
        "INSERT INTO sys_user VALUES (1, 'Zhang San', '13800000000', 'BOOTWATCH1', 9, 0)",
        "INSERT INTO sys_user_org VALUES (1, 1, 90, 0)",
    ] {
        boot.execute_unprepared(sql).await.expect(sql);
    }
    boot.close().await.expect("close");

    // Migrating twice is a no-op the second time.
    let mut config = Config::default();
    config.database.url = ljwx_bigscreen::config::Secret::new(db.url.clone());
    App::build(config).await.expect("first migration");
    let app = TestApp::start(db, |_| {}).await;

    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM sys_user WHERE phone = '13800000000' AND user_name = 'Zhang San'"
        )
        .await,
        1
    );
    let reply = app
        .upload(
            json!([{"deviceSn": "BOOTWATCH1", "heartRate": 70, "timestamp": now()}]),
            None,
        )
        .await;
    assert_eq!(reply.body["inserted"], 1, "{}", reply.text);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE user_id = 1 AND customer_id = 9 AND org_id = 90").await,
        1
    );
    app.stop().await;
}

/// ljwx-boot's health table as the seed created it: `idx_device_timestamp` is not unique.
async fn existing_health_table_gets_the_unique_key_it_lacks(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let boot = Database::connect(&db.url).await.expect("connect");
    let (id, ts) = match backend {
        Backend::Sqlite | Backend::SqliteRedis | Backend::SqliteRedisCluster => {
            ("INTEGER PRIMARY KEY AUTOINCREMENT", "TIMESTAMP")
        }
        Backend::MariaDb => ("BIGINT AUTO_INCREMENT PRIMARY KEY", "TIMESTAMP NULL"),
        Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "TIMESTAMPTZ"),
    };
    let create = format!(
        "CREATE TABLE t_user_health_data (id {id}, user_id BIGINT NOT NULL, \
         device_sn VARCHAR(64) NOT NULL, heart_rate INT, blood_oxygen INT, \
         temperature DECIMAL(4,1), pressure_high INT, pressure_low INT, stress INT, step INT, \
         distance INT, calorie INT, latitude DECIMAL(10,7), longitude DECIMAL(10,7), \
         sleep TEXT, timestamp {ts} NOT NULL, upload_method VARCHAR(20) DEFAULT 'api', \
         customer_id BIGINT, org_id BIGINT, batch_id VARCHAR(64), create_time {ts}, \
         update_time {ts}, is_deleted SMALLINT DEFAULT 0)"
    );
    boot.execute_unprepared(&create)
        .await
        .expect("create seed table");
    boot.execute_unprepared(
        "CREATE INDEX idx_device_timestamp ON t_user_health_data (device_sn, timestamp)",
    )
    .await
    .expect("create seed index");
    boot.close().await.expect("close");

    let app = TestApp::start(db, |_| {}).await;
    app.bind("WATCH0001", 1, 1, 1).await;
    let sample = json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": now()}]);
    assert_eq!(app.upload(sample.clone(), None).await.body["inserted"], 1);
    let again = app.upload(sample, None).await;
    assert_eq!(again.body["duplicates"], 1, "{}", again.text);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        1
    );
    app.stop().await;
}

/// A database whose batch records predate fingerprints (batch ids unique on their own): the
/// upgrade keeps every record, and an id of theirs may then carry another batch.
async fn batch_records_of_an_older_schema_keep_their_ids_and_results(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let old = Database::connect(&db.url).await.expect("connect");
    // The schema as it was before `t_ingest_batch.fingerprint` (the first 10 migrations).
    Migrator::up(&old, Some(10)).await.expect("older schema");
    old.execute_unprepared(
        "INSERT INTO t_ingest_batch (batch_id, status, total_records, valid_records, errors, \
         warnings, inserted, duplicates, unknown_device, error_details, processing_time_ms, \
         trace_id, create_time) VALUES ('old-1', 'committed', 1, 1, 0, 0, 1, 0, 0, '[]', 1.5, \
         NULL, '2026-11-30 10:00:00')",
    )
    .await
    .expect("an older batch record");
    old.close().await.expect("close");

    let app = TestApp::start(db, |_| {}).await;
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM t_ingest_batch WHERE batch_id = 'old-1' AND fingerprint = ''"
        )
        .await,
        1
    );
    app.bind("WATCH0001", 1, 1, 1).await;
    let reply = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": now()}]),
            Some("old-1"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["inserted"], 1, "{}", reply.text);
    assert_eq!(reply.headers["idempotent-replayed"], "false");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 2);
    app.stop().await;
}

/// Several instances starting at once on a new database: each waits for the one migrating,
/// none applies a migration twice, all start.
async fn instances_starting_together_migrate_once(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let config = || {
        let mut config = Config::default();
        config.database.url = ljwx_bigscreen::config::Secret::new(db.url.clone());
        config
    };
    let opened = futures::future::join_all(
        (0..4).map(|_| async { ljwx_bigscreen::app::open_storage(&config()).await }),
    )
    .await;
    for store in opened {
        let store = store.expect("every instance starts");
        store.connection().clone().close().await.expect("close");
    }
    let app = TestApp::start(db, |_| {}).await;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM seaql_migrations").await,
        i64::try_from(<migration::Migrator as MigratorTrait>::migrations().len()).expect("count")
    );
    app.stop().await;
}
