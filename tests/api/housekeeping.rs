//! Housekeeping: side-table rows past their retention go, a batch at a time, and nothing
//! else; one instance at a time does it.

use crate::backend_tests;
use crate::common::{Backend, TestApp, eventually, now, records};
use ljwx_bigscreen::housekeeping::{Pace, Retention, run_once};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

backend_tests!(side_tables_lose_only_rows_past_their_retention);

// The database servers only: the lock is theirs (a SQLite file has one process).
crate::server_tests!(one_instance_at_a_time: a_second_instance_leaves_housekeeping_to_the_first);

/// `at` (`YYYY-MM-DD hh:mm:ss`, UTC) as a literal each backend reads as UTC.
fn utc(backend: Backend, at: &str) -> String {
    match backend {
        Backend::MariaDb => format!("'{at}'"),
        Backend::Postgres => format!("'{at}+00'"),
        _ => format!("'{at}+00:00'"),
    }
}

async fn side_tables_lose_only_rows_past_their_retention(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        // A run every second, two rows per delete: five old quarantined samples take three.
        c.housekeeping.interval_secs = 1;
        c.housekeeping.batch_rows = 2;
        c.housekeeping.pause_ms = 0;
    })
    .await
    else {
        return;
    };
    let (old, ahead) = (
        utc(backend, "2020-01-01 00:00:00"),
        utc(backend, "2037-01-01 00:00:00"),
    );
    let t = now() - 3_000;
    for (device, n, id) in [("STRAY0001", 5, "old-batch"), ("STRAY0002", 3, "new-batch")] {
        let reply = app.upload(records(device, t, n), Some(id)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    app.exec(&format!(
        "UPDATE t_unknown_device_data SET create_time = {old} WHERE device_sn = 'STRAY0001'"
    ))
    .await;
    app.exec(&format!(
        "UPDATE t_ingest_batch SET create_time = {old} WHERE batch_id = 'old-batch'"
    ))
    .await;
    // Notifications: delivered long ago, delivered lately, and never delivered.
    app.exec(&format!(
        "INSERT INTO t_alert_outbox (alert_id, event, payload, attempts, next_attempt_at, \
         sent_at, created_at) VALUES \
         (1, 'opened', '{{}}', 1, {old}, {old}, {old}), \
         (2, 'opened', '{{}}', 1, {ahead}, {ahead}, {old}), \
         (3, 'opened', '{{}}', 0, {ahead}, NULL, {old})"
    ))
    .await;
    app.exec(&format!(
        "INSERT INTO t_admin_session (token_hash, csrf_token, client, created_at, expires_at, \
         credential) VALUES ('expired', 'x', NULL, {old}, {old}, ''), \
         ('valid', 'x', NULL, {old}, {ahead}, '')"
    ))
    .await;

    eventually(
        "housekeeping deletes what is past its retention",
        Duration::from_secs(20),
        async || {
            app.scalar("SELECT COUNT(*) FROM t_unknown_device_data WHERE device_sn = 'STRAY0001'")
                .await
                == 0
                && app
                    .scalar("SELECT COUNT(*) FROM t_ingest_batch WHERE batch_id = 'old-batch'")
                    .await
                    == 0
                && app
                    .scalar("SELECT COUNT(*) FROM t_alert_outbox WHERE alert_id = 1")
                    .await
                    == 0
                && app
                    .scalar("SELECT COUNT(*) FROM t_admin_session WHERE token_hash = 'expired'")
                    .await
                    == 0
        },
    )
    .await;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_unknown_device_data WHERE device_sn = 'STRAY0002'")
            .await,
        3,
        "recent quarantined samples stay"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_ingest_batch WHERE batch_id = 'new-batch'")
            .await,
        1,
        "recent batch records stay"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_alert_outbox WHERE alert_id IN (2, 3)")
            .await,
        2,
        "recent and undelivered notifications stay"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_admin_session WHERE token_hash = 'valid'")
            .await,
        1,
        "open sessions stay"
    );
    // A batch re-sent after its record went is stored as a new batch: nothing is lost.
    let again = app
        .upload(records("STRAY0001", t, 5), Some("old-batch"))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        again.headers["idempotent-replayed"], "false",
        "{}",
        again.text
    );
    app.stop().await;
}

/// While one instance holds the housekeeping lock, another's run does nothing; once it is
/// released, the other runs.
async fn a_second_instance_leaves_housekeeping_to_the_first(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.housekeeping.enabled = false).await else {
        return;
    };
    let retention = Retention {
        quarantine: Some(chrono::Duration::days(30)),
        batches: None,
        outbox: None,
        partitions: None,
    };
    let pace = Pace {
        batch_rows: 100,
        pause: Duration::ZERO,
        busy_percent: 100,
    };
    let stop = CancellationToken::new();
    let held = app
        .store
        .try_housekeeping_lock()
        .await
        .expect("lock")
        .expect("free at first");
    let other = run_once(&app.store, &retention, pace, &stop)
        .await
        .expect("run");
    assert!(other.is_none(), "a second instance must not run meanwhile");
    drop(held);
    eventually(
        "the released lock lets the other instance run",
        Duration::from_secs(10),
        async || {
            run_once(&app.store, &retention, pace, &stop)
                .await
                .expect("run")
                .is_some()
        },
    )
    .await;
    app.stop().await;
}
