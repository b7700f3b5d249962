//! Alert notifications through the server: webhooks from the outbox receive what opened and
//! escalated, and nothing is lost to a down endpoint or a restart.

use crate::alerts::{hr, spo2, upload_ok, with_token};
use crate::backend_tests;
use crate::common::{Backend, Hook, TestApp, eventually, now};
use ljwx_bigscreen::config::{Config, Secret};
use serde_json::json;
use std::time::Duration;

backend_tests!(
    webhook_receives_opened_and_escalated_only,
    notifications_survive_a_down_endpoint_and_a_restart,
);

/// How long a notification may take to be delivered (or its failure recorded).
const DELIVERY_WAIT: Duration = Duration::from_secs(15);

async fn pending(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM t_alert_outbox WHERE sent_at IS NULL")
        .await
}

async fn webhook_receives_opened_and_escalated_only(backend: Backend) {
    let hook = Hook::start(0);
    let url = hook.url.clone();
    let Some(app) = TestApp::spawn_with(backend, |c| {
        with_token(c);
        c.alerts.webhook_url = Some(Secret::new(url));
    })
    .await
    else {
        return;
    };
    app.bind("WATCH0001", 7, 1, 1).await;
    let t = now() - 1000;
    upload_ok(&app, vec![spo2("WATCH0001", t, 89)]).await;
    upload_ok(&app, vec![spo2("WATCH0001", t + 1, 88)]).await;
    upload_ok(&app, vec![spo2("WATCH0001", t + 2, 84)]).await;
    eventually("every notification delivered", DELIVERY_WAIT, async || {
        pending(&app).await == 0 && hook.received().len() >= 2
    })
    .await;
    let received = hook.received();
    let events: Vec<_> = received.iter().map(|n| n["event"].clone()).collect();
    assert_eq!(
        events,
        vec![json!("opened"), json!("escalated")],
        "{received:?}"
    );
    let opened = &received[0]["alert"];
    assert_eq!(
        (
            &opened["device_sn"],
            &opened["user_id"],
            &opened["alert_type"],
            &opened["level"],
            &opened["value"]
        ),
        (
            &json!("WATCH0001"),
            &json!(7),
            &json!("blood_oxygen_low"),
            &json!("major"),
            &json!("89")
        )
    );
    let escalated = &received[1]["alert"];
    assert_eq!(
        (
            &escalated["id"],
            &escalated["level"],
            &escalated["occurrences"],
            &escalated["last_value"]
        ),
        (&opened["id"], &json!("critical"), &json!(3), &json!("84"))
    );
    assert_ne!(
        received[0]["notification_id"],
        received[1]["notification_id"]
    );
    app.stop().await;
    hook.stop().await;
}

async fn notifications_survive_a_down_endpoint_and_a_restart(backend: Backend) {
    // A port nobody listens on: the endpoint is down.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let fast_retries = |c: &mut Config| {
        with_token(c);
        c.alerts.retry_initial_ms = 20;
        c.alerts.retry_max_ms = 100;
        c.alerts.poll_interval_ms = 20;
    };
    let Some(app) = TestApp::spawn_with(backend, |c| {
        fast_retries(c);
        c.alerts.webhook_url = Some(Secret::new(format!("http://{closed}/hook")));
    })
    .await
    else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 1000;
    // The upload is answered although the webhook is down.
    upload_ok(&app, vec![hr("WATCH0001", t, 150)]).await;
    eventually("failed attempts recorded", DELIVERY_WAIT, async || {
        app.scalar("SELECT COALESCE(MAX(attempts), 0) FROM t_alert_outbox WHERE sent_at IS NULL")
            .await
            >= 2
    })
    .await;
    let id = app.scalar("SELECT MAX(id) FROM t_alert_outbox").await;

    // Restarted with a working endpoint (that still fails once): delivered after the restart.
    let hook = Hook::start(1);
    let url = hook.url.clone();
    let app = app
        .restart(|c| {
            fast_retries(c);
            c.alerts.webhook_url = Some(Secret::new(url));
        })
        .await;
    eventually(
        "the pending notification delivered",
        DELIVERY_WAIT,
        async || pending(&app).await == 0,
    )
    .await;
    let received = hook.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["notification_id"], json!(id));
    assert_eq!(received[0]["event"], "opened");
    assert_eq!(received[0]["alert"]["device_sn"], "WATCH0001");
    assert_eq!(hook.calls(), 2, "one failure, then the delivery");
    app.stop().await;
    hook.stop().await;
}
