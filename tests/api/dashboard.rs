//! The dashboard through the server: every page rendered from real uploads, the live feed,
//! and the quarantine replay. Login, sessions and CSRF are in `login.rs`.

use crate::backend_tests;
use crate::common::{Backend, TestApp, eventually_some, location, now};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

backend_tests!(
    pages_render_uploaded_data,
    replay_moves_quarantined_samples_once_bound,
    live_stream_pushes_new_data,
    quarantine_list_pages_by_serial,
);

/// The quarantine list pages by serial number: each page after the last serial shown, a
/// link to the next one only while more follow.
async fn quarantine_list_pages_by_serial(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.dashboard.page_size = 2).await else {
        return;
    };
    let t = now() - 6_000;
    for (n, device) in ["STRAYC", "STRAYA", "STRAYB"].iter().enumerate() {
        let reply = app
            .upload(
                json!([{"deviceSn": device, "heartRate": 70, "timestamp": t + n as i64}]),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let supervisor = app.login().await;
    let rows = |page: &str| -> Vec<String> {
        page.split("<tr id=\"unknown-")
            .skip(1)
            .filter_map(|r| r.split('"').next().map(str::to_owned))
            .collect()
    };
    let first = supervisor.get("/devices").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(rows(&first.text), ["STRAYA", "STRAYB"]);
    let next = first
        .text
        .split("href=\"")
        .filter_map(|h| h.split('"').next())
        .find(|h| h.contains("unknown_after="))
        .expect("a link to the next page")
        .replace("&#38;", "&");
    assert!(next.ends_with("unknown_after=STRAYB"), "{next}");
    let second = supervisor.get(&next).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(rows(&second.text), ["STRAYC"]);
    assert!(
        !second.text.contains("unknown_after=STRAYC"),
        "no next page after the last: {}",
        second.text
    );
    assert!(second.text.contains("← first</a>"), "{}", second.text);
    app.stop().await;
}

async fn pages_render_uploaded_data(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("DASH0003", 3, 1, 1).await;
    app.exec("UPDATE sys_user SET user_name = 'Zhang Wei' WHERE id = 3")
        .await;
    app.bind("DASH0004", 4, 1, 1).await;
    let t = now() - 600;
    let records: Vec<Value> = (0..25)
        .map(|i| json!({"deviceSn": "DASH0003", "heartRate": 70, "timestamp": t + i}))
        .chain([
            json!({"deviceSn": "DASH0004", "bloodOxygen": 84, "timestamp": t}),
            json!({"deviceSn": "NOBODY01", "heartRate": 70, "timestamp": t}),
            json!({"deviceSn": "NOBODY01", "heartRate": 71, "timestamp": t + 1}),
        ])
        .collect();
    let upload = app
        .upload(Value::Array(records), Some("dash-batch-1"))
        .await;
    assert_eq!(upload.status, 200, "{}", upload.text);
    let trace_id = upload.headers["traceparent"]
        .to_str()
        .expect("traceparent")
        .split('-')
        .nth(1)
        .expect("trace id")
        .to_owned();
    app.fold_counts().await;
    let supervisor = app.login().await;

    let live = supervisor.get("/live.json").await;
    assert_eq!(live.status, 200, "{}", live.text);
    assert_eq!(live.body["today"]["records"], 26, "{}", live.text);
    assert_eq!(live.body["today"]["devices"], 2);
    assert_eq!(live.body["open_alerts"]["critical"], 1);
    assert_eq!(live.body["health"]["database"], "up");
    assert_eq!(
        live.body["throughput"]["t"].as_array().map(Vec::len),
        Some(180)
    );
    // The chart shows complete seconds (shared through Redis within a second): poll.
    // 5-second points of per-second averages: their sum × 5 is the count.
    let (records, requests) = eventually_some(
        "the throughput chart shows the 26 records",
        Duration::from_secs(15),
        async || {
            let live = supervisor.get("/live.json").await;
            let per_second = |series: &str| -> f64 {
                live.body["throughput"][series]
                    .as_array()
                    .expect("series")
                    .iter()
                    .filter_map(Value::as_f64)
                    .sum::<f64>()
                    * 5.0
            };
            let records = per_second("records");
            ((records - 26.0).abs() < 1e-6).then(|| (records, per_second("requests")))
        },
    )
    .await;
    assert!((records - 26.0).abs() < 1e-6);
    assert!((requests - 1.0).abs() < 1e-6, "{requests} requests/s");

    let overview = supervisor.get("/").await;
    assert_eq!(overview.status, 200);
    assert!(
        overview.text.contains(r#"id="kpi-today-records">26<"#),
        "{}",
        overview.text
    );
    assert!(
        overview.text.contains("DASH0004"),
        "latest alerts list the device"
    );
    assert!(overview.text.contains("blood_oxygen_low"));
    assert!(
        overview.text.contains(&format!("/traces/{trace_id}")),
        "slowest batches link"
    );
    assert!(overview.text.contains("All systems normal"));
    // No framing by other sites, no inline scripts, nothing cached.
    assert_eq!(overview.headers["x-frame-options"], "DENY");
    let csp = overview.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"));
    assert_eq!(overview.headers["cache-control"], "no-store");

    let alerts = supervisor.get("/alerts").await;
    assert!(alerts.text.contains("DASH0004") && alerts.text.contains("Acknowledge"));
    let critical_only = supervisor.get("/alerts?status=all&level=minor").await;
    assert!(
        critical_only.text.contains("No alerts match."),
        "{}",
        critical_only.text
    );

    let devices = supervisor.get("/devices").await;
    assert_eq!(devices.status, 200, "{}", devices.text);
    let row = devices
        .text
        .split("<tr>")
        .find(|r| r.contains("DASH0003"))
        .expect("bound device row");
    assert!(
        row.contains("Zhang Wei (#3)") && row.contains(">25<"),
        "{row}"
    );
    let unknown = devices
        .text
        .split("<tr id=\"unknown-NOBODY01\">")
        .nth(1)
        .expect("unknown device row");
    assert!(
        unknown.contains(">2<") && unknown.contains("bind it first"),
        "{unknown}"
    );

    let traces = supervisor.get("/traces").await;
    assert!(traces.text.contains("dash-batch-1") && traces.text.contains("commit"));
    let waterfall = supervisor.get(&format!("/traces/{trace_id}")).await;
    assert_eq!(waterfall.status, 200);
    for stage in ["parse", "validate", "commit"] {
        assert!(
            waterfall.text.contains(stage),
            "{stage}: {}",
            waterfall.text
        );
    }
    assert_eq!(
        supervisor
            .get("/traces/00000000000000000000000000000000")
            .await
            .status,
        404
    );
    let system = supervisor.get("/system").await;
    assert_eq!(system.status, 200);
    assert!(system.text.contains("system-data"));
    app.stop().await;
}

async fn replay_moves_quarantined_samples_once_bound(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("LATE0002", 6, 1, 1).await;
    let t = now() - 3600;
    let records: Vec<Value> = (0..5)
        .map(|i| json!({"deviceSn": "LATE0001", "heartRate": 60 + i, "timestamp": t + i}))
        .collect();
    assert_eq!(app.upload(Value::Array(records), None).await.status, 200);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_unknown_device_data")
            .await,
        5
    );
    let supervisor = app.login().await;
    // Not bound yet: no replay, and a replay post says so and moves nothing.
    let early = supervisor
        .post("/devices/LATE0001/replay", &[("csrf", &supervisor.csrf)])
        .await;
    assert_eq!(location(&early), "/devices?unbound=LATE0001");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_unknown_device_data")
            .await,
        5
    );

    // Bound (one of the samples was meanwhile stored another way: a duplicate).
    app.bind("LATE0001", 5, 7, 8).await;
    // As when the unknown-device cache entry expires.
    app.devices.invalidate(&["LATE0001".to_owned()]).await;
    app.upload(
        json!([{"deviceSn": "LATE0001", "heartRate": 60, "timestamp": t}]),
        None,
    )
    .await;
    let page = supervisor.get("/devices").await;
    assert!(
        page.text.contains("/devices/LATE0001/replay"),
        "{}",
        page.text
    );
    let refused = supervisor.post("/devices/LATE0001/replay", &[]).await;
    assert_eq!(refused.status, 403);
    let done = supervisor
        .post("/devices/LATE0001/replay", &[("csrf", &supervisor.csrf)])
        .await;
    assert_eq!(
        location(&done),
        "/devices?replayed=LATE0001&stored=4&duplicates=1"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_unknown_device_data")
            .await,
        0
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM t_user_health_data \
             WHERE device_sn = 'LATE0001' AND user_id = 5 AND customer_id = 7 AND org_id = 8"
        )
        .await,
        5
    );
    app.fold_counts().await;
    let stats = app.get("/api/stats").await;
    assert_eq!(
        stats.body["today_records"], 5,
        "replayed samples count as stored today"
    );
    let flash = supervisor.get(&location(&done)).await;
    assert!(
        flash
            .text
            .contains("LATE0001: 4 quarantined samples stored, 1 were stored already.")
    );
    assert!(flash.text.contains("The quarantine is empty."));
    app.stop().await;
}

async fn live_stream_pushes_new_data(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.dashboard.refresh_ms = 200).await else {
        return;
    };
    app.bind("DASH0005", 9, 1, 1).await;
    let supervisor = app.login().await;
    let mut stream = supervisor
        .client
        .get(app.url("/live"))
        .send()
        .await
        .expect("live");
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/event-stream"))
    );
    let t = now() - 30;
    let mut uploaded = false;
    let mut buffer = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = 'read: loop {
        assert!(
            Instant::now() < deadline,
            "no update with the upload arrived: {buffer}"
        );
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event within 10 s")
            .expect("stream")
            .expect("stream open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        // Events end with a blank line; look at the complete ones.
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let live: Value = serde_json::from_str(data).expect("event is JSON");
            if !uploaded {
                assert_eq!(live["today"]["records"], 0);
                let records: Vec<Value> = (0..7)
                    .map(|i| json!({"deviceSn": "DASH0005", "heartRate": 80, "timestamp": t + i}))
                    .collect();
                assert_eq!(app.upload(Value::Array(records), None).await.status, 200);
                uploaded = true;
            } else if live["today"]["records"] == 7 {
                break 'read live;
            }
        }
    };
    assert_eq!(seen["today"]["devices"], 1);
    drop(stream);
    app.stop().await;
}
