//! `/api/stats` and `/api/health`.

use crate::backend_tests;
use crate::common::{Backend, TestApp, now};
use serde_json::json;

backend_tests!(stats_count_todays_stored_samples, health_reports_components);

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
