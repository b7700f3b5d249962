//! The group-commit writer through the server: backpressure, failure isolation, and the
//! drain at shutdown.

use crate::backend_tests;
use crate::common::{Backend, TestApp, eventually, now, records};
use serde_json::{Value, json};
use std::time::Duration;

backend_tests!(
    full_queue_is_answered_503_with_retry_after_and_nothing_is_lost,
    failed_commit_fails_its_group_and_the_next_group_commits,
    uploads_of_many_clients_share_commits,
    shutdown_commits_queued_uploads_before_exit,
);

// The database servers only: SQLite has no connection a server could drop.
crate::server_tests!(server_drops_connections: a_connection_the_server_dropped_fails_no_upload);

async fn full_queue_is_answered_503_with_retry_after_and_nothing_is_lost(backend: Backend) {
    // Room for two uploads of 5 rows; a commit waits 1.5 s for more rows to arrive.
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.writer.queue_rows = 10;
        c.writer.queue_wait_ms = 50;
        c.writer.linger_ms = 1500;
        c.writer.max_rows = 1000;
        c.writer.writers = 1;
    })
    .await
    else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 10_000;
    let replies = futures::future::join_all(
        (0..3).map(|i| app.upload(records("WATCH0001", t + i * 100, 5), None)),
    )
    .await;
    let ok: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    let refused: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(
        (ok.len(), refused.len()),
        (2, 1),
        "{:?}",
        replies.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert_eq!(refused[0].body["error"], "overloaded");
    assert_eq!(refused[0].headers["retry-after"], "1");
    for reply in ok {
        assert_eq!(reply.body["inserted"], 5);
    }
    // Exactly what was acknowledged is stored.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        10
    );
    app.stop().await;
}

async fn failed_commit_fails_its_group_and_the_next_group_commits(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.writer.linger_ms = 300;
        c.writer.writers = 1;
    })
    .await
    else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 20_000;
    // Break the commit: the table of counts for the daily counters is away.
    app.exec("ALTER TABLE t_device_daily_pending RENAME TO t_pending_away")
        .await;
    let failed = futures::future::join_all(
        (0..3).map(|i| app.upload(records("WATCH0001", t + i * 10, 3), None)),
    )
    .await;
    for reply in &failed {
        assert_eq!(reply.status, 500, "{}", reply.text);
        assert_eq!(reply.body["error"], "internal");
    }
    app.exec("ALTER TABLE t_pending_away RENAME TO t_device_daily_pending")
        .await;
    let next = app.upload(records("WATCH0001", t + 100, 3), None).await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert_eq!(next.body["inserted"], 3);
    // Nothing of the failed group was stored; a retry of it commits now.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        3
    );
    let retry = app.upload(records("WATCH0001", t, 3), None).await;
    assert_eq!(retry.body["inserted"], 3, "{}", retry.text);
    app.stop().await;
}

/// The writer keeps its connection between commits. When the server drops it (a restart, a
/// timeout), the next commit runs on a new one instead of failing its uploads.
async fn a_connection_the_server_dropped_fails_no_upload(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.writer.writers = 1).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 20_000;
    let first = app.upload(records("WATCH0001", t, 3), None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    // Every other session on the test database ends, the writer's among them.
    let others = match backend {
        Backend::MariaDb => {
            "SELECT CAST(id AS SIGNED) FROM information_schema.processlist \
             WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        }
        _ => {
            "SELECT pid::int8 FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()"
        }
    };
    let sessions = app.column(others).await;
    assert!(!sessions.is_empty(), "the writer holds a session");
    for id in sessions {
        match backend {
            Backend::MariaDb => app.exec(&format!("KILL {id}")).await,
            _ => {
                app.exec(&format!("SELECT pg_terminate_backend({id})"))
                    .await
            }
        }
    }
    let second = app.upload(records("WATCH0001", t + 10, 3), None).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["inserted"], 3);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        6
    );
    app.stop().await;
}

async fn uploads_of_many_clients_share_commits(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.writer.linger_ms = 50).await else {
        return;
    };
    for n in 1..=20 {
        app.bind(&format!("WATCH{n:04}"), n, 1, 1).await;
    }
    let t = now() - 30_000;
    let replies = futures::future::join_all(
        (1..=20).map(|n| app.upload(records(&format!("WATCH{n:04}"), t, 10), None)),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["inserted"], 10);
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        200
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 20);
    app.fold_counts().await;
    assert_eq!(
        app.scalar("SELECT SUM(records) FROM t_device_daily").await,
        200
    );
    // 20 uploads arriving together do not take 20 transactions.
    let transactions = app
        .scalar("SELECT COUNT(DISTINCT create_time) FROM t_ingest_batch")
        .await;
    assert!(
        transactions < 20,
        "{transactions} commits for 20 concurrent uploads"
    );
    app.stop().await;
}

async fn shutdown_commits_queued_uploads_before_exit(backend: Backend) {
    // A commit would wait 60 s for more rows: only the shutdown can flush it in time.
    let Some(mut app) = TestApp::spawn_with(backend, |c| {
        c.writer.linger_ms = 60_000;
        c.writer.writers = 1;
    })
    .await
    else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 40_000;
    let client = app.client.clone();
    let url = app.url("/upload_health_data_batch");
    let upload = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"data": records("WATCH0001", t, 7)}))
            .send()
            .await
            .expect("request")
            .json::<Value>()
            .await
            .expect("json")
    });
    // Wait (bounded) until the upload sits in the writer queue.
    eventually(
        "the upload is queued",
        Duration::from_secs(10),
        async || app.get("/api/health").await.body["components"]["writer"]["queued_rows"] == 7,
    )
    .await;
    app.shut_down().await;
    let answer = upload.await.expect("upload task");
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["inserted"], 7);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        7
    );
}

/// On PostgreSQL the writer sends a group's samples as one array per column (`UNNEST`): the
/// values stored are those sent — text with tabs, newlines and backslashes, nulls, decimals
/// rounded from awkward floats, millisecond timestamps — and new rows and duplicates (also
/// within one batch) are counted as on the other databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_arrays_store_the_values_sent() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    app.bind("ARRAYS0001", 7, 70, 700).await;
    let t = now() - 50_000;
    let samples = json!([
        {"deviceSn": "ARRAYS0001", "heartRate": 71, "bloodOxygen": 98, "temperature": 36.55,
         "pressureHigh": 120, "pressureLow": 80, "stress": 30, "step": 1200,
         "distance": 900, "calorie": 55, "latitude": 39.904_200_049_999_99,
         "longitude": -116.407_399_999_999_98, "sleep": "deep\tlight\nrem\r\\N \\. é",
         "timestamp": t, "uploadMethod": "wifi"},
        {"deviceSn": "ARRAYS0001", "timestamp": t + 1},
        {"deviceSn": "ARRAYS0001", "temperature": 44.95, "latitude": -0.000_000_1,
         "timestamp": (t + 2) * 1000},
        // The same (device, timestamp) again: the first one is kept.
        {"deviceSn": "ARRAYS0001", "heartRate": 72, "timestamp": t + 2},
    ]);
    let first = app.upload(samples.clone(), None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        (&first.body["inserted"], &first.body["duplicates"]),
        (&json!(3), &json!(1)),
        "{}",
        first.text
    );
    let again = app.upload(samples, None).await;
    assert_eq!(
        (&again.body["inserted"], &again.body["duplicates"]),
        (&json!(0), &json!(4)),
        "{}",
        again.text
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = 'ARRAYS0001' \
             AND user_id = 7 AND customer_id = 70 AND org_id = 700 \
             AND heart_rate = 71 AND blood_oxygen = 98 AND temperature = 36.6 \
             AND pressure_high = 120 AND pressure_low = 80 AND stress = 30 AND step = 1200 \
             AND distance = 900 AND calorie = 55 \
             AND latitude = 39.9042000 AND longitude = -116.4074000 \
             AND sleep = E'deep\\tlight\\nrem\\r\\\\N \\\\. é' \
             AND timestamp = to_timestamp({t}) AND upload_method = 'wifi'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = 'ARRAYS0001' \
             AND timestamp = to_timestamp({}) AND temperature = 45.0 \
             AND latitude = -0.0000001 AND heart_rate IS NULL AND sleep IS NULL",
            t + 2
        ))
        .await,
        1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = 'ARRAYS0001'")
            .await,
        3
    );
    app.stop().await;
}
