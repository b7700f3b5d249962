//! `batchId` idempotency: a replay returns the first result and writes nothing.

use crate::backend_tests;
use crate::common::{Backend, TestApp, now};
use serde_json::json;

backend_tests!(
    replayed_batch_id_returns_the_first_result_and_writes_nothing,
    concurrent_requests_with_one_batch_id_commit_once,
    generated_batch_ids_are_unique,
);

async fn replayed_batch_id_returns_the_first_result_and_writes_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 50;
    let first = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
                {"deviceSn": "WATCH0001", "heartRate": 300, "timestamp": t + 1},
                {"deviceSn": "x", "timestamp": t},
            ]),
            Some("device-42-seq-7"),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    // Same id, different content: the first result comes back and nothing new is stored.
    let replay = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 99, "timestamp": t + 2}]),
            Some("device-42-seq-7"),
        )
        .await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    for field in [
        "batch_id",
        "status",
        "total_records",
        "valid_records",
        "errors",
        "warnings",
        "inserted",
        "duplicates",
        "unknown_device",
        "error_details",
    ] {
        assert_eq!(replay.body[field], first.body[field], "{field}");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        2
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE heart_rate = 99")
            .await,
        0
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 1);
    app.stop().await;
}

async fn concurrent_requests_with_one_batch_id_commit_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    app.bind("WATCH0002", 2, 1, 1).await;
    let t = now() - 500;
    let records: Vec<_> = (0..50)
        .flat_map(|i| {
            [
                json!({"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t + i}),
                json!({"deviceSn": "WATCH0002", "heartRate": 70, "timestamp": t + i}),
            ]
        })
        .collect();
    let records = serde_json::Value::Array(records);
    let replies = futures::future::join_all(
        (0..6).map(|_| app.upload(records.clone(), Some("same-id-everywhere"))),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["batch_id"], "same-id-everywhere");
        assert_eq!(
            reply.body["inserted"], 100,
            "every answer is the one committed result"
        );
        assert_eq!(reply.body["duplicates"], 0);
    }
    let fresh = replies
        .iter()
        .filter(|r| r.headers["idempotent-replayed"] == "false")
        .count();
    assert_eq!(fresh, 1, "exactly one request committed the batch");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        100
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 1);
    assert_eq!(
        app.scalar("SELECT SUM(records) FROM t_device_daily").await,
        100
    );
    app.stop().await;
}

async fn generated_batch_ids_are_unique(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 1000;
    let replies = futures::future::join_all((0..20).map(|i| {
        app.upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t + i}]),
            None,
        )
    }))
    .await;
    let mut ids: Vec<String> = replies
        .iter()
        .map(|r| r.body["batch_id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 20);
    app.stop().await;
}
