//! The read replica (`database.read_url`): the dashboard's reads follow a real PostgreSQL
//! standby (started once per run by `.ci/pg-replica.sh`), `/api/health` shows it and its
//! lag, and reads fall back to the primary while it does not answer.

use crate::common::{
    Backend, TestApp, TestDb, configured, eventually, eventually_some, now, records,
};
use futures::FutureExt;
use ljwx_bigscreen::config::Secret;
use sea_orm::{ConnectionTrait, Database};
use std::time::Duration;

/// `PRIMARY_URL REPLICA_URL`: a PostgreSQL primary and its streaming standby.
const URLS: &str = "BIGSCREEN_TEST_PG_REPLICA_URLS";

async fn today_records(app: &TestApp) -> i64 {
    let stats = app.get("/api/stats").await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    stats.body["today_records"].as_i64().expect("today_records")
}

/// Stats come from the standby: while its replay is paused they stay behind the primary,
/// and catch up once it resumes. Uploads commit on the primary all the while.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_follow_the_standby() {
    let Some(urls) = configured(URLS, "the read replica test") else {
        return;
    };
    let (primary, standby) = urls.split_once(' ').expect("two URLs");
    let db = TestDb::create_on(Backend::Postgres, primary.to_owned()).await;
    let name = db.url.rsplit_once('/').expect("database name").1.to_owned();
    let standby_base = standby.rsplit_once('/').expect("standby base").0;
    let replica_url = format!("{standby_base}/{name}");
    let app = TestApp::start(db, |c| {
        c.database.read_url = Some(Secret::new(replica_url.clone()));
        c.database.replica_check_ms = 100;
        c.writer.fold_ms = 50;
    })
    .await;
    app.bind("REPLWATCH1", 1, 1, 1).await;
    let t = now() - 4_000;
    let first = app.upload(records("REPLWATCH1", t, 5), None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    eventually(
        "the standby has the first upload's counts",
        Duration::from_secs(20),
        async || today_records(&app).await == 5,
    )
    .await;
    let health = app.get("/api/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    let replica = &health.body["components"]["replica"];
    assert_eq!(replica["status"], "up", "{}", health.text);
    assert!(replica["lag_seconds"].is_number(), "{}", health.text);

    // Replay paused: the standby keeps what it had.
    let control = Database::connect(standby).await.expect("standby");
    control
        .execute_unprepared("SELECT pg_wal_replay_pause()")
        .await
        .expect("pause replay");
    let second = app.upload(records("REPLWATCH1", t + 100, 7), None).await;
    let lagging = async {
        assert_eq!(second.status, 200, "{}", second.text);
        eventually(
            "the primary has both uploads' counts",
            Duration::from_secs(10),
            async || app.scalar("SELECT SUM(records) FROM t_device_daily").await == 12,
        )
        .await;
        assert_eq!(
            today_records(&app).await,
            5,
            "statistics come from the paused standby"
        );
        eventually_some(
            "the health check reports the lag",
            Duration::from_secs(10),
            async || {
                let health = app.get("/api/health").await;
                health.body["components"]["replica"]["lag_seconds"]
                    .as_f64()
                    .filter(|lag| *lag > 0.0)
            },
        )
        .await;
    };
    // Resumed whatever happened, so the standby is left following the primary.
    let checked = std::panic::AssertUnwindSafe(lagging).catch_unwind().await;
    control
        .execute_unprepared("SELECT pg_wal_replay_resume()")
        .await
        .expect("resume replay");
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
    eventually(
        "the resumed standby catches up",
        Duration::from_secs(20),
        async || today_records(&app).await == 12,
    )
    .await;
    app.stop().await;
}

/// A replica that does not answer: the service is healthy, says the replica is down, and
/// the dashboard's reads come from the primary.
async fn an_unreachable_replica_leaves_reads_on_the_primary(backend: Backend) {
    let nowhere = match backend {
        Backend::Postgres => "postgres://postgres@127.0.0.1:1/nowhere",
        _ => "mysql://root@127.0.0.1:1/nowhere",
    };
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.database.read_url = Some(Secret::new(nowhere));
        c.database.replica_check_ms = 100;
        c.database.connect_timeout_ms = 500;
        crate::alerts::with_token(c);
    })
    .await
    else {
        return;
    };
    let health = app.get("/api/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.body["status"], "healthy", "{}", health.text);
    assert_eq!(
        health.body["components"]["replica"]["status"], "down",
        "{}",
        health.text
    );
    app.bind("REPLWATCH2", 1, 1, 1).await;
    let reply = app
        .upload(records("REPLWATCH2", now() - 5_000, 4), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    app.fold_counts().await;
    assert_eq!(today_records(&app).await, 4, "read from the primary");
    let alerts = app.admin_get("/api/alerts", crate::alerts::TOKEN).await;
    assert_eq!(
        alerts.status, 200,
        "alert listings read from the primary: {}",
        alerts.text
    );
    app.stop().await;
}

crate::server_tests!(unreachable: an_unreachable_replica_leaves_reads_on_the_primary);
