//! `batchId` idempotency: a replay returns the first result and writes nothing.

use crate::backend_tests;
use crate::common::{Backend, TestApp, now};
use serde_json::json;

backend_tests!(
    replayed_batch_id_returns_the_first_result_and_writes_nothing,
    concurrent_requests_with_one_batch_id_commit_once,
    generated_batch_ids_are_unique,
    replay_and_resent_samples_beside_new_batches_are_each_answered_right,
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
    app.fold_counts().await;
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

/// Uploads sent together usually share one group commit: a replay, a batch that re-sends
/// samples and a new batch must still each get their own answer.
async fn replay_and_resent_samples_beside_new_batches_are_each_answered_right(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    app.bind("WATCH0002", 2, 1, 1).await;
    let t = now() - 2000;
    let sample =
        |device: &str, at: i64| json!({"deviceSn": device, "heartRate": 70, "timestamp": at});
    let first = app
        .upload(
            json!([sample("WATCH0001", t), sample("WATCH0001", t + 1)]),
            Some("first"),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    for round in 0..5 {
        let replies = futures::future::join_all([
            app.upload(json!([sample("WATCH0002", t + 50)]), Some("first")),
            app.upload(
                json!([
                    sample("WATCH0001", t),
                    sample("WATCH0001", t + 2),
                    sample("WATCH0001", t + 1),
                    sample("WATCH0001", t + 3),
                    sample("WATCH0001", t + 3),
                ]),
                None,
            ),
            app.upload(
                json!([sample("WATCH0002", t), sample("WATCH0002", t + 1)]),
                None,
            ),
        ])
        .await;
        let [replay, resent, new] = [&replies[0], &replies[1], &replies[2]];
        assert_eq!(
            replay.headers["idempotent-replayed"], "true",
            "{}",
            replay.text
        );
        assert_eq!(replay.body["inserted"], 2);
        assert_eq!(resent.status, 200, "{}", resent.text);
        assert_eq!(new.status, 200, "{}", new.text);
        // The first round stores t+2, t+3 (once) and WATCH0002's two; later rounds find
        // everything stored.
        let (resent_new, new_new) = if round == 0 { (2, 2) } else { (0, 0) };
        assert_eq!(resent.body["inserted"], resent_new, "{}", resent.text);
        assert_eq!(resent.body["duplicates"], 5 - resent_new, "{}", resent.text);
        assert_eq!(new.body["inserted"], new_new, "{}", new.text);
        assert_eq!(new.body["duplicates"], 2 - new_new, "{}", new.text);
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        6
    );
    app.fold_counts().await;
    assert_eq!(
        app.scalar("SELECT SUM(records) FROM t_device_daily").await,
        6,
        "the daily counters count each stored sample once"
    );
    app.stop().await;
}
