//! Health alerts through the server: the seed's rules and their boundaries, one alert per
//! episode (also with two instances and concurrent uploads), escalation and the lifecycle
//! API. Webhook notifications are in `notifications.rs`.

use crate::backend_tests;
use crate::common::{Backend, Reply, TestApp, now};
use ljwx_bigscreen::config::{Config, Secret};
use ljwx_bigscreen::domain::{AlertField, AlertLevel, AlertRule};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

backend_tests!(
    seed_rules_raise_exactly_their_levels_at_the_boundaries,
    breaches_update_one_episode_and_escalate,
    two_instances_and_concurrent_uploads_keep_one_open_alert,
    lifecycle_transitions_filters_and_auth,
    quiet_period_resolves_and_the_next_breach_opens_anew,
    the_database_allows_one_open_alert_per_device_and_type,
);

pub(crate) const TOKEN: &str = "test-admin-token";

pub(crate) fn with_token(c: &mut Config) {
    c.admin.token = Some(Secret::new(TOKEN));
}

async fn alerts(app: &TestApp, query: &str) -> Reply {
    app.admin(
        app.client.get(app.url(&format!("/api/alerts{query}"))),
        TOKEN,
    )
    .await
}

async fn action(app: &TestApp, id: i64, what: &str) -> Reply {
    app.admin(
        app.client
            .post(app.url(&format!("/api/alerts/{id}/{what}"))),
        TOKEN,
    )
    .await
}

/// Alerts of `device`, oldest first.
async fn device_alerts(app: &TestApp, device: &str) -> Vec<Value> {
    let reply = alerts(app, &format!("?device={device}&page_size=500")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mut items = reply.body["items"].as_array().cloned().unwrap_or_default();
    items.reverse();
    items
}

pub(crate) fn hr(device: &str, t: i64, heart_rate: i64) -> Value {
    json!({"deviceSn": device, "heartRate": heart_rate, "timestamp": t})
}

pub(crate) fn spo2(device: &str, t: i64, blood_oxygen: i64) -> Value {
    json!({"deviceSn": device, "bloodOxygen": blood_oxygen, "timestamp": t})
}

pub(crate) async fn upload_ok(app: &TestApp, records: Vec<Value>) -> Value {
    let reply = app.upload(Value::Array(records), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

/// A device, its one record, and the (type, level) of the alert it must raise, if any.
type Case = (&'static str, Value, Option<(&'static str, &'static str)>);

async fn seed_rules_raise_exactly_their_levels_at_the_boundaries(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        with_token(c);
        // A rule from configuration, beside the seed's defaults.
        c.alerts.rules.push(AlertRule {
            field: AlertField::Temperature,
            above: Some(37.5),
            below: None,
            level: AlertLevel::Minor,
            alert_type: "fever".to_owned(),
        });
    })
    .await
    else {
        return;
    };
    let t = now() - 1000;
    // (device, record, expected (type, level) or none)
    let cases: Vec<Case> = vec![
        ("HR120", hr("HR120", t, 120), None),
        (
            "HR121",
            hr("HR121", t, 121),
            Some(("heart_rate_abnormal", "minor")),
        ),
        (
            "HR140",
            hr("HR140", t, 140),
            Some(("heart_rate_abnormal", "minor")),
        ),
        (
            "HR141",
            hr("HR141", t, 141),
            Some(("heart_rate_abnormal", "major")),
        ),
        ("HR050", hr("HR050", t, 50), None),
        (
            "HR049",
            hr("HR049", t, 49),
            Some(("heart_rate_abnormal", "minor")),
        ),
        (
            "HR040",
            hr("HR040", t, 40),
            Some(("heart_rate_abnormal", "minor")),
        ),
        (
            "HR039",
            hr("HR039", t, 39),
            Some(("heart_rate_abnormal", "major")),
        ),
        ("SP090", spo2("SP090", t, 90), None),
        (
            "SP089",
            spo2("SP089", t, 89),
            Some(("blood_oxygen_low", "major")),
        ),
        (
            "SP085",
            spo2("SP085", t, 85),
            Some(("blood_oxygen_low", "major")),
        ),
        (
            "SP084",
            spo2("SP084", t, 84),
            Some(("blood_oxygen_low", "critical")),
        ),
        (
            "TMP375",
            json!({"deviceSn": "TMP375", "temperature": 37.5, "timestamp": t}),
            None,
        ),
        (
            "TMP376",
            json!({"deviceSn": "TMP376", "temperature": 37.6, "timestamp": t}),
            Some(("fever", "minor")),
        ),
    ];
    for (i, (device, _, _)) in cases.iter().enumerate() {
        app.bind(device, 100 + i as i64, 1, 1).await;
    }
    upload_ok(&app, cases.iter().map(|(_, r, _)| r.clone()).collect()).await;

    for (device, record, expected) in &cases {
        let found = device_alerts(&app, device).await;
        match expected {
            None => assert!(
                found.is_empty(),
                "{record}: no alert expected, got {found:?}"
            ),
            Some((alert_type, level)) => {
                assert_eq!(found.len(), 1, "{record}: {found:?}");
                let a = &found[0];
                assert_eq!(a["alert_type"], *alert_type, "{record}");
                assert_eq!(a["level"], *level, "{record}");
                assert_eq!(a["status"], "NEW", "{record}");
                assert_eq!(a["occurrences"], 1, "{record}");
                assert!(a["user_id"].as_i64().is_some(), "{record}");
            }
        }
    }
    // The breaching value is stored as the seed stores it: text.
    assert_eq!(device_alerts(&app, "TMP376").await[0]["value"], "37.6");
    assert_eq!(device_alerts(&app, "HR121").await[0]["value"], "121");
    app.stop().await;
}

async fn breaches_update_one_episode_and_escalate(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, with_token).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 1000;
    upload_ok(
        &app,
        vec![hr("WATCH0001", t, 125), hr("WATCH0001", t + 1, 130)],
    )
    .await;
    let a = device_alerts(&app, "WATCH0001").await;
    assert_eq!(a.len(), 1, "{a:?}");
    let id = a[0]["id"].as_i64().expect("id");
    assert_eq!(
        (
            &a[0]["level"],
            &a[0]["occurrences"],
            &a[0]["value"],
            &a[0]["last_value"]
        ),
        (&json!("minor"), &json!(2), &json!("125"), &json!("130"))
    );

    // Duplicates raise nothing, nor does a value rejected by validation (stored as null with
    // a warning).
    let again = upload_ok(
        &app,
        vec![
            hr("WATCH0001", t, 125),
            hr("WATCH0001", t + 1, 130),
            hr("WATCH0001", t + 2, 300),
        ],
    )
    .await;
    assert_eq!(
        (&again["duplicates"], &again["warnings"], &again["inserted"]),
        (&json!(2), &json!(1), &json!(1))
    );
    assert_eq!(device_alerts(&app, "WATCH0001").await[0]["occurrences"], 2);

    // A higher level escalates the same alert; a lower one does not lower it.
    upload_ok(&app, vec![hr("WATCH0001", t + 3, 150)]).await;
    upload_ok(&app, vec![hr("WATCH0001", t + 4, 125)]).await;
    let a = device_alerts(&app, "WATCH0001").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["id"], id);
    assert_eq!(
        (&a[0]["level"], &a[0]["occurrences"], &a[0]["last_value"]),
        (&json!("major"), &json!(4), &json!("125"))
    );
    // Samples of an unbound device are quarantined and raise nothing.
    let quarantined = upload_ok(&app, vec![hr("UNBOUND01", t, 200)]).await;
    assert_eq!(quarantined["unknown_device"], 1);
    assert!(device_alerts(&app, "UNBOUND01").await.is_empty());

    // One notification on open, one on escalation; none for plain updates.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_alert_outbox WHERE event = 'opened'")
            .await,
        1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_alert_outbox WHERE event = 'escalated'")
            .await,
        1
    );
    app.stop().await;
}

async fn two_instances_and_concurrent_uploads_keep_one_open_alert(backend: Backend) {
    let Some(first) = TestApp::spawn_with(backend, |c| {
        with_token(c);
        c.writer.linger_ms = 0;
    })
    .await
    else {
        return;
    };
    let second = first
        .another_instance(|c| {
            c.writer.linger_ms = 0;
        })
        .await;
    first.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 10_000;
    // 24 uploads at once, alternating instances, each of 5 breaching samples.
    let uploads = (0..24).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        let records = (0..5)
            .map(|j| hr("WATCH0001", t + i * 10 + j, if j == 4 { 150 } else { 125 }))
            .collect::<Vec<_>>();
        async move { app.upload(Value::Array(records), None).await }
    });
    for reply in futures::future::join_all(uploads).await {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["inserted"], 5);
    }
    assert_eq!(
        first
            .scalar("SELECT COUNT(*) FROM t_alert_info WHERE open_flag = 1")
            .await,
        1
    );
    let a = device_alerts(&first, "WATCH0001").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["occurrences"], 120);
    assert_eq!(a[0]["level"], "major");
    assert_eq!(
        a[0]["last_occur_at"].as_str().map(|s| s.is_empty()),
        Some(false)
    );
    second.stop().await;
    first.stop().await;
}

async fn lifecycle_transitions_filters_and_auth(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, with_token).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 1000;
    upload_ok(&app, vec![hr("WATCH0001", t, 125)]).await;
    let id = device_alerts(&app, "WATCH0001").await[0]["id"]
        .as_i64()
        .expect("id");

    // Authentication.
    let anonymous = app.get("/api/alerts").await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    assert_eq!(anonymous.body["error"], "unauthorized");
    let wrong = app
        .admin(app.client.get(app.url("/api/alerts")), "not-the-token")
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["error"], "unauthorized");

    let one = app
        .admin(app.client.get(app.url(&format!("/api/alerts/{id}"))), TOKEN)
        .await;
    assert_eq!((one.status.as_u16(), &one.body["id"]), (200, &json!(id)));
    let missing = action(&app, id + 1000, "ack").await;
    assert_eq!(
        (missing.status.as_u16(), &missing.body["error"]),
        (404, &json!("not_found"))
    );

    // NEW → ACKNOWLEDGED (repeatable); the episode stays open and keeps counting.
    let acked = action(&app, id, "ack").await;
    assert_eq!(acked.status, 200, "{}", acked.text);
    assert_eq!(acked.body["status"], "ACKNOWLEDGED");
    assert!(acked.body["acknowledged_at"].is_string());
    assert_eq!(action(&app, id, "ack").await.status, 200);
    upload_ok(&app, vec![hr("WATCH0001", t + 1, 126)]).await;
    let a = device_alerts(&app, "WATCH0001").await;
    assert_eq!(
        (a.len(), &a[0]["occurrences"], &a[0]["status"]),
        (1, &json!(2), &json!("ACKNOWLEDGED"))
    );

    // → RESOLVED (repeatable); acknowledging it now is refused.
    let resolved = action(&app, id, "resolve").await;
    assert_eq!(
        (resolved.status.as_u16(), &resolved.body["status"]),
        (200, &json!("RESOLVED"))
    );
    assert_eq!(action(&app, id, "resolve").await.status, 200);
    let refused = action(&app, id, "ack").await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.body["error"], "illegal_transition");
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("RESOLVED"))
    );

    // The next breach is a new episode.
    upload_ok(&app, vec![hr("WATCH0001", t + 2, 45)]).await;
    let a = device_alerts(&app, "WATCH0001").await;
    assert_eq!(a.len(), 2, "{a:?}");
    assert_ne!(a[1]["id"], json!(id));

    // Filters and paging.
    let count = |r: &Reply| r.body["total"].as_i64();
    assert_eq!(count(&alerts(&app, "?status=RESOLVED").await), Some(1));
    assert_eq!(
        count(&alerts(&app, "?status=NEW&level=minor").await),
        Some(1)
    );
    assert_eq!(count(&alerts(&app, "?level=critical").await), Some(0));
    assert_eq!(
        count(&alerts(&app, "?type=heart_rate_abnormal").await),
        Some(2)
    );
    assert_eq!(count(&alerts(&app, "?device=OTHER").await), Some(0));
    let from = chrono::DateTime::from_timestamp(t + 2, 0)
        .expect("time")
        .to_rfc3339();
    let since = alerts(&app, &format!("?from={}", urlencode(&from))).await;
    assert_eq!(count(&since), Some(1), "{}", since.text);
    let page = alerts(&app, "?page=2&page_size=1").await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!((count(&page), &page.body["page"]), (Some(2), &json!(2)));
    assert_eq!(page.body["items"][0]["id"], json!(id));
    assert_eq!(alerts(&app, "?page=0").await.status, 400);
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn admin_api_without_a_configured_token_is_disabled() {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let reply = alerts(&app, "").await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(reply.body["error"], "admin_disabled");
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("LJWX_ADMIN__TOKEN"))
    );
    app.stop().await;
}

async fn quiet_period_resolves_and_the_next_breach_opens_anew(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        with_token(c);
        c.alerts.resolve_after_secs = 60;
    })
    .await
    else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 10_000;
    upload_ok(
        &app,
        vec![hr("WATCH0001", t, 125), hr("WATCH0001", t + 30, 80)],
    )
    .await;
    let a = device_alerts(&app, "WATCH0001").await;
    assert_eq!(
        (a.len(), &a[0]["status"]),
        (1, &json!("NEW")),
        "not quiet long enough"
    );
    upload_ok(&app, vec![hr("WATCH0001", t + 60, 80)]).await;
    let a = device_alerts(&app, "WATCH0001").await;
    assert_eq!(a[0]["status"], "RESOLVED", "{a:?}");
    assert!(a[0]["resolved_at"].is_string());
    upload_ok(&app, vec![hr("WATCH0001", t + 61, 130)]).await;
    let a = device_alerts(&app, "WATCH0001").await;
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(
        (&a[1]["status"], &a[1]["value"]),
        (&json!("NEW"), &json!("130"))
    );
    app.stop().await;
}

async fn the_database_allows_one_open_alert_per_device_and_type(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let insert = |open: &str| {
        format!(
            "INSERT INTO t_alert_info (device_sn, alert_type, level, status, create_time, open_flag) \
             VALUES ('WATCH0001', 'heart_rate_abnormal', 'minor', 'NEW', CURRENT_TIMESTAMP, {open})"
        )
    };
    app.exec(&insert("1")).await;
    // A second open alert of the same device and type is refused by the unique key …
    let second = app.db.execute_unprepared(&insert("1")).await;
    assert!(second.is_err(), "a second open alert was accepted");
    // … while resolved alerts (and ljwx-boot's own rows) are not constrained.
    app.exec(&insert("NULL")).await;
    app.exec(&insert("NULL")).await;
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_alert_info").await, 3);
    app.stop().await;
}
