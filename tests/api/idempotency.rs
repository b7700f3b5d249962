//! `batchId` idempotency: the same batch again (same id, same records) is a replay that
//! returns the first result and writes nothing; other records under an id used before are
//! stored as the new batch they are.

use crate::backend_tests;
use crate::common::{Backend, Reply, TestApp, eventually, now};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use std::time::Duration;

backend_tests!(
    the_same_batch_again_returns_the_first_result_and_writes_nothing,
    other_records_under_a_used_batch_id_are_stored,
    a_reused_batch_id_counts_its_own_rows_only,
    concurrent_requests_with_one_batch_id_commit_once,
    concurrent_batches_of_two_devices_under_one_id_are_both_stored,
    generated_batch_ids_are_unique,
    replay_and_resent_samples_beside_new_batches_are_each_answered_right,
);

// The database servers only: a transaction of the test holds a batch record while an
// upload waits for it, which needs row locks and a view of the waiting statement.
crate::server_tests!(committed_meanwhile: a_batch_committed_by_another_transaction_meanwhile_is_answered_as_replay);

/// The answer fields a replay repeats.
const ANSWER_FIELDS: [&str; 10] = [
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
];

fn assert_same_answer(replay: &Reply, first: &Reply) {
    for field in ANSWER_FIELDS {
        assert_eq!(
            replay.body[field], first.body[field],
            "{field}: {}",
            replay.text
        );
    }
}

async fn the_same_batch_again_returns_the_first_result_and_writes_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 50;
    let records = json!([
        {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
        {"deviceSn": "WATCH0001", "heartRate": 300, "timestamp": t + 1},
        {"deviceSn": "x", "timestamp": t},
    ]);
    let first = app.upload(records.clone(), Some("device-42-seq-7")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.headers["idempotent-replayed"], "false");
    // A retry whose answer was lost: the same body again.
    let replay = app.upload(records, Some("device-42-seq-7")).await;
    assert_eq!(replay.status, 200, "{}", replay.text);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_same_answer(&replay, &first);
    assert_eq!(replay.body["inserted"], 2);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        2
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 1);
    app.stop().await;
}

async fn other_records_under_a_used_batch_id_are_stored(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    app.bind("WATCH0002", 2, 1, 1).await;
    let t = now() - 80;
    // Two watches whose firmware counters collide.
    let first = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
                {"deviceSn": "WATCH0001", "heartRate": 300, "timestamp": t + 1},
            ]),
            Some("seq-1"),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second_records = json!([
        {"deviceSn": "WATCH0002", "heartRate": 99, "timestamp": t},
        {"deviceSn": "WATCH0002", "heartRate": 98, "timestamp": t + 1},
        {"deviceSn": "WATCH0002", "heartRate": 97, "timestamp": t + 2},
    ]);
    let second = app.upload(second_records.clone(), Some("seq-1")).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.headers["idempotent-replayed"], "false");
    assert_eq!(second.body["batch_id"], "seq-1");
    assert_eq!(second.body["inserted"], 3, "{}", second.text);
    assert_eq!(
        second.body["error_details"],
        json!(["batchId: already used for other records; stored as a new batch"]),
        "the answer says the id was reused, and shows nothing of the other batch"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = 'WATCH0002'")
            .await,
        3
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE batch_id = 'seq-1'")
            .await,
        5,
        "both batches' samples carry the id they were sent with"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 2);
    // Each of the two is replayed as itself.
    let again = app.upload(second_records, Some("seq-1")).await;
    assert_eq!(
        again.headers["idempotent-replayed"], "true",
        "{}",
        again.text
    );
    assert_same_answer(&again, &second);
    let first_again = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
                {"deviceSn": "WATCH0001", "heartRate": 300, "timestamp": t + 1},
            ]),
            Some("seq-1"),
        )
        .await;
    assert_eq!(first_again.headers["idempotent-replayed"], "true");
    assert_same_answer(&first_again, &first);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        5
    );
    app.stop().await;
}

/// A counter reset after a reflash: the watch sends a batch under an id it used before, and
/// some of its samples are the earlier batch's. Those count as duplicates, not as new rows,
/// although the stored rows carry the same batch id.
async fn a_reused_batch_id_counts_its_own_rows_only(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 120;
    let sample = |at: i64| json!({"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": at});
    let first = app
        .upload(json!([sample(t), sample(t + 1)]), Some("0001"))
        .await;
    assert_eq!(first.body["inserted"], 2, "{}", first.text);
    let second = app
        .upload(
            json!([sample(t + 1), sample(t + 2), sample(t + 2)]),
            Some("0001"),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["inserted"], 1, "{}", second.text);
    assert_eq!(second.body["duplicates"], 2, "{}", second.text);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        3
    );
    app.fold_counts().await;
    assert_eq!(
        app.scalar("SELECT SUM(records) FROM t_device_daily").await,
        3
    );
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

/// Several copies of two different batches under one id, all at once (on one instance
/// they often share a group commit): each batch is stored once, each copy gets its batch's
/// answer.
async fn concurrent_batches_of_two_devices_under_one_id_are_both_stored(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    app.bind("WATCH0002", 2, 1, 1).await;
    let t = now() - 900;
    let batch = |device: &str, n: i64| -> Value {
        (0..n)
            .map(|i| json!({"deviceSn": device, "heartRate": 70, "timestamp": t + i}))
            .collect()
    };
    let (a, b) = (batch("WATCH0001", 20), batch("WATCH0002", 30));
    for round in 0..3 {
        let id = format!("collide-{round}");
        let replies = futures::future::join_all(
            (0..8).map(|i| app.upload(if i % 2 == 0 { a.clone() } else { b.clone() }, Some(&id))),
        )
        .await;
        for (i, reply) in replies.iter().enumerate() {
            assert_eq!(reply.status, 200, "{}", reply.text);
            let expected = if i % 2 == 0 { 20 } else { 30 };
            assert_eq!(
                reply.body["valid_records"], expected,
                "each copy gets its own batch's answer: {}",
                reply.text
            );
        }
        for parity in [0, 1] {
            let fresh = replies
                .iter()
                .enumerate()
                .filter(|(i, r)| i % 2 == parity && r.headers["idempotent-replayed"] == "false")
                .count();
            assert_eq!(fresh, 1, "exactly one copy of each batch committed it");
        }
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 6);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        50
    );
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
            app.upload(
                json!([sample("WATCH0001", t), sample("WATCH0001", t + 1)]),
                Some("first"),
            ),
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

/// Another transaction commits the same batch while the writer is writing it. The writer's
/// insert of the batch record waits for the other transaction, finds the record taken, rolls
/// back, looks the id up and answers with the stored result.
async fn a_batch_committed_by_another_transaction_meanwhile_is_answered_as_replay(
    backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 700;
    let records: Value = (0..3)
        .map(|i| json!({"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t + i}))
        .collect();
    let first = app.upload(records.clone(), Some("first-id")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    // The other transaction: the first batch's record renamed to the id about to be sent,
    // uncommitted, so the insert of the record must wait for it.
    let other = app.db.begin().await.expect("begin");
    other
        .execute_unprepared("UPDATE t_ingest_batch SET batch_id = 'raced-id'")
        .await
        .expect("update");
    let waiting = match backend {
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO t_ingest_batch%'"
        }
        _ => {
            "SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() \
             AND info LIKE 'INSERT IGNORE INTO t_ingest_batch%'"
        }
    };
    let (again, ()) = tokio::join!(app.upload(records, Some("raced-id")), async {
        eventually(
            "the upload waits for the other transaction's batch record",
            Duration::from_secs(10),
            async || app.scalar(waiting).await > 0,
        )
        .await;
        other.commit().await.expect("commit");
    });
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        again.headers["idempotent-replayed"], "true",
        "{}",
        again.text
    );
    assert_eq!(again.body["batch_id"], "raced-id");
    for field in ANSWER_FIELDS.iter().filter(|f| **f != "batch_id") {
        assert_eq!(
            again.body[field], first.body[field],
            "{field}: {}",
            again.text
        );
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        3
    );
    app.stop().await;
}
