//! Private data behind login (DESIGN §10): traces and the monitor need the admin token or a
//! dashboard session; the open endpoints carry aggregates only.

use crate::common::{Backend, TestApp, now};
use ljwx_bigscreen::config::Secret;
use serde_json::json;

const TOKEN: &str = "privacy-admin-token";

/// The observability endpoints that show upload detail or the host.
const PRIVATE: [&str; 5] = [
    "/api/traces",
    "/api/traces/slowest",
    "/api/traces/stages",
    "/api/traces/ffffffffffffffffffffffffffffffff",
    "/api/monitor",
];

#[tokio::test]
async fn traces_and_the_monitor_need_the_admin_token_or_a_session() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.admin.token = Some(Secret::new(TOKEN));
    })
    .await
    .expect("sqlite always runs");
    let supervisor = app.login().await;
    for path in PRIVATE {
        let anonymous = app.get(path).await;
        assert_eq!(anonymous.status, 401, "{path}: {}", anonymous.text);
        assert_eq!(anonymous.body["error"], "unauthorized");
        let wrong = app.admin_get(path, "not-the-token").await;
        assert_eq!(wrong.status, 401, "{path}");
        let forged = app
            .client
            .get(app.url(path))
            .header("cookie", "ljwx_session=forged")
            .send()
            .await
            .expect("request");
        assert_eq!(forged.status(), 401, "{path}");
        let expected = if path.ends_with("ffff") { 404 } else { 200 };
        assert_eq!(app.admin_get(path, TOKEN).await.status, expected, "{path}");
        assert_eq!(supervisor.get(path).await.status, expected, "{path}");
    }
    // A logged-out session opens nothing.
    let cookie = supervisor.get("/api/monitor").await;
    assert_eq!(cookie.status, 200);
    let logout = supervisor
        .post("/logout", &[("csrf", supervisor.csrf.as_str())])
        .await;
    assert_eq!(logout.status, 303);
    assert_eq!(supervisor.get("/api/monitor").await.status, 401);
    app.stop().await;
}

#[tokio::test]
async fn observability_public_opens_them() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.observability.public = true;
    })
    .await
    .expect("sqlite always runs");
    for path in ["/api/traces", "/api/monitor", "/api/traces/stages"] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_open_endpoints_carry_aggregates_only() {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    app.exec(
        "INSERT INTO sys_user (id, user_name, device_sn, customer_id, is_deleted) \
         VALUES (4711, 'Wang Xiaoming', 'PRIVWATCH7', 31, 0)",
    )
    .await;
    let t = now() - 30;
    let reply = app
        .upload(
            json!([
                {"deviceSn": "PRIVWATCH7", "heartRate": 187, "bloodOxygen": 83,
                 "temperature": 38.9, "timestamp": t},
                {"deviceSn": "PRIVUNKNWN", "heartRate": 173, "timestamp": t},
            ]),
            Some("privbatch-0042"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["inserted"], 1, "{}", reply.text);
    app.fold_counts().await;
    let trace_id = reply.body["trace_id"].as_str().expect("trace id");
    let words = [
        "PRIVWATCH7",
        "PRIVUNKNWN",
        "Wang Xiaoming",
        "4711",
        "privbatch-0042",
        trace_id,
    ];
    for path in ["/api/health", "/api/stats"] {
        let open = app.get(path).await;
        assert_eq!(open.status, 200, "{path}: {}", open.text);
        for word in words {
            assert!(
                !open.text.contains(word),
                "{path} shows {word}: {}",
                open.text
            );
        }
        // No number of the answer is one of the values uploaded.
        let mut numbers = Vec::new();
        numbers_of(&open.body, &mut numbers);
        for value in [187.0, 173.0, 38.9] {
            assert!(
                !numbers.contains(&value),
                "{path} shows {value}: {}",
                open.text
            );
        }
    }
    // Metrics: numbers are aggregates by construction; names and labels must not identify.
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for line in metrics.text.lines().filter(|l| !l.starts_with('#')) {
        let series = line.rsplit_once(' ').map_or(line, |(series, _)| series);
        for word in words {
            assert!(!series.contains(word), "/metrics shows {word}: {line}");
        }
    }
    // The aggregates are there.
    let stats = app.get("/api/stats").await;
    assert_eq!(stats.body["today_records"], 1, "{}", stats.text);
    app.stop().await;
}

/// Every number in `value`.
fn numbers_of(value: &serde_json::Value, out: &mut Vec<f64>) {
    match value {
        serde_json::Value::Number(n) => out.extend(n.as_f64()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| numbers_of(v, out)),
        serde_json::Value::Object(fields) => fields.values().for_each(|v| numbers_of(v, out)),
        _ => {}
    }
}
