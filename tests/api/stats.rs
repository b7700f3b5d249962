//! `/api/stats` and `/api/health`.

use crate::backend_tests;
use crate::common::{Backend, TestApp, eventually, now};
use serde_json::json;
use std::time::Duration;

backend_tests!(
    stats_count_todays_stored_samples,
    counts_reach_the_daily_counters_by_themselves,
    a_clean_stop_leaves_no_count_pending,
    health_reports_components
);

async fn stats_count_todays_stored_samples(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let empty = app.get("/api/stats").await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.body["today_records"], 0);
    assert_eq!(empty.body["active_devices"], 0);

    app.bind("WATCH0001", 1, 1, 1).await;
    app.bind("WATCH0002", 2, 1, 1).await;
    app.bind("WATCH0003", 2, 1, 1).await; // rebinding user 2 to a new watch
    let t = now() - 300;
    app.upload(
        json!([
            {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
            {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t + 1},
            {"deviceSn": "WATCH0003", "heartRate": 70, "timestamp": t},
            {"deviceSn": "STRANGER1", "heartRate": 70, "timestamp": t},
        ]),
        None,
    )
    .await;
    // Duplicates and quarantined samples are not stored records.
    app.upload(
        json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t}]),
        None,
    )
    .await;
    app.fold_counts().await;
    let stats = app.get("/api/stats").await;
    assert_eq!(stats.body["today_records"], 3, "{}", stats.text);
    assert_eq!(stats.body["active_devices"], 2);
    assert_eq!(stats.body["active_users"], 2);
    assert!(stats.body["timestamp"].as_str().is_some());
    assert_eq!(
        stats.body["today_records"].as_i64(),
        Some(app.scalar("SELECT COUNT(*) FROM t_user_health_data").await)
    );
    app.stop().await;
}

async fn counts_reach_the_daily_counters_by_themselves(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.writer.fold_ms = 50).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 400;
    let reply = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t + 1},
            ]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // No help from the test: the server's own task folds the counts.
    eventually(
        "the counts in /api/stats",
        Duration::from_secs(20),
        async || app.get("/api/stats").await.body["today_records"] == 2,
    )
    .await;
    assert_eq!(app.get("/api/stats").await.body["active_devices"], 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_device_daily_pending")
            .await,
        0
    );
    app.stop().await;
}

async fn a_clean_stop_leaves_no_count_pending(backend: Backend) {
    let never = |c: &mut ljwx_bigscreen::Config| c.writer.fold_ms = 3_600_000;
    let Some(app) = TestApp::spawn_with(backend, never).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let reply = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": now() - 500}]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_device_daily_pending")
            .await,
        1,
        "the commit queued its counts"
    );
    // The graceful stop folds them; the next instance (which would not fold for an hour)
    // reads them.
    let app = app.restart(never).await;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_device_daily_pending")
            .await,
        0
    );
    assert_eq!(app.get("/api/stats").await.body["today_records"], 1);
    app.stop().await;
}

async fn health_reports_components(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let health = app.get("/api/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.body["status"], "healthy");
    assert_eq!(health.body["components"]["database"]["status"], "up");
    assert!(
        health.body["components"]["database"]["latency_ms"]
            .as_f64()
            .is_some()
    );
    assert_eq!(health.body["components"]["cache"]["status"], "up");
    assert_eq!(health.body["components"]["writer"]["status"], "up");
    app.stop().await;
}
