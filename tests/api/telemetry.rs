//! Observability through the server: `/metrics` in the Prometheus text format (parsed with a
//! real parser) and the system monitor at `/api/monitor`.

use crate::common::{Backend, TestApp, eventually, eventually_some, now};
use prometheus_parse::{Scrape, Value as Metric};
use serde_json::{Value, json};
use std::time::Duration;

/// Sum of the samples of `name` whose labels include every pair of `labels`.
fn total(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
            Metric::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Metric::Summary(_) => 0.0,
        })
        .sum()
}

async fn scrape(app: &TestApp) -> Scrape {
    let reply = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(reply.status(), 200);
    let content_type = reply
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = reply.text().await.expect("body");
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format")
}

/// The admin token of the tests that read traces and the monitor.
const TOKEN: &str = "telemetry-admin-token";

#[tokio::test]
async fn metrics_count_requests_records_commits_and_cache_levels() {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    app.bind("METRIC0001", 1, 1, 1).await;
    // The recorder is process-wide and other tests run beside this one: compare before and
    // after instead of expecting absolute values.
    let before = scrape(&app).await;
    let t = now() - 1000;
    let records: Vec<Value> = (0..5)
        .map(|i| json!({"deviceSn": "METRIC0001", "heartRate": 70, "timestamp": t + i}))
        .chain([json!({"deviceSn": "x", "timestamp": t})])
        .collect();
    let reply = app.upload(Value::Array(records.clone()), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let again = app.upload(Value::Array(records), None).await;
    assert_eq!(again.body["duplicates"], 5);
    let after = scrape(&app).await;

    let grew = |name: &str, labels: &[(&str, &str)]| {
        total(&after, name, labels) - total(&before, name, labels)
    };
    assert!(grew("ljwx_records_total", &[("outcome", "inserted")]) >= 5.0);
    assert!(grew("ljwx_records_total", &[("outcome", "duplicate")]) >= 5.0);
    assert!(grew("ljwx_records_total", &[("outcome", "rejected")]) >= 2.0);
    assert!(
        grew(
            "ljwx_http_requests_total",
            &[
                ("route", "/upload_health_data_batch"),
                ("method", "POST"),
                ("status", "200")
            ]
        ) >= 2.0
    );
    assert!(grew("ljwx_commits_total", &[("result", "ok")]) >= 2.0);
    assert!(grew("ljwx_device_lookups_total", &[]) >= 1.0);
    // Histograms are real Prometheus histograms with buckets.
    for histogram in [
        "ljwx_http_request_duration_seconds",
        "ljwx_commit_duration_seconds",
        "ljwx_commit_rows",
        "ljwx_batch_records",
        "ljwx_writer_queue_wait_seconds",
    ] {
        assert!(
            after.samples.iter().any(|s| s.metric == histogram
                && matches!(&s.value, Metric::Histogram(b) if !b.is_empty())),
            "{histogram} is a histogram"
        );
    }
    for gauge in ["ljwx_writer_queue_rows", "ljwx_db_pool_connections"] {
        assert!(after.samples.iter().any(|s| s.metric == gauge), "{gauge}");
    }
    // Bounded labels: no device id anywhere.
    assert!(
        after
            .samples
            .iter()
            .all(|s| s.labels.values().all(|v| !v.contains("METRIC0001"))),
        "a device id leaked into a label"
    );
    // Unknown paths share one label.
    app.get("/no/such/path/12345").await;
    let later = scrape(&app).await;
    assert!(
        later
            .samples
            .iter()
            .all(|s| s.labels.get("route").is_none_or(|r| !r.contains("12345")))
    );
    app.stop().await;
}

#[tokio::test]
async fn monitor_samples_the_host_and_reports_threshold_events() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.admin.token = Some(ljwx_bigscreen::config::Secret::new(TOKEN));
        c.monitor.interval_ms = 100;
        c.monitor.history = 3;
        // Memory in use is always above 0 %: an event must be reported.
        c.monitor.memory_threshold_percent = 0.0;
    })
    .await
    .expect("sqlite always runs");
    let within = Duration::from_secs(15);
    let report = eventually_some("three samples", within, async || {
        let reply = app.admin_get("/api/monitor", TOKEN).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body["points"]
            .as_array()
            .is_some_and(|p| p.len() == 3)
            .then_some(reply.body)
    })
    .await;
    assert_eq!(report["interval_secs"], 0.1);
    let point = &report["points"][2];
    let memory = point["memory_percent"].as_f64().expect("memory percent");
    assert!(memory > 0.0 && memory <= 100.0, "{point}");
    assert!(
        point["process_memory_bytes"]
            .as_u64()
            .is_some_and(|b| b > 1_000_000),
        "{point}"
    );
    let disk = point["disk_percent"].as_f64().expect("disk percent");
    assert!((0.0..=100.0).contains(&disk), "{point}");
    let events = report["events"].as_array().expect("events");
    assert!(
        events
            .iter()
            .any(|e| e["resource"] == "memory" && e["state"] == "exceeded"),
        "{events:?}"
    );
    // Once three newer samples replaced those, still only the last three are kept.
    let at = |point: &Value| {
        point["at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .expect("sample time")
    };
    let newest = at(&report["points"][2]);
    eventually("three newer samples", within, async || {
        let reply = app.admin_get("/api/monitor", TOKEN).await;
        let points = reply.body["points"].as_array().cloned().unwrap_or_default();
        assert_eq!(points.len(), 3, "{}", reply.text);
        points.iter().all(|p| at(p) > newest)
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_upload_continues_the_callers_trace_and_its_stages_are_kept() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.admin.token = Some(ljwx_bigscreen::config::Secret::new(TOKEN));
    })
    .await
    .expect("sqlite always runs");
    app.bind("TRACE0001", 1, 1, 1).await;
    let t = now() - 1000;
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = app
        .client
        .post(app.url("/upload_health_data_batch"))
        .header("traceparent", caller)
        .json(&json!({"batchId": "trace-batch-1", "data": [
            {"deviceSn": "TRACE0001", "heartRate": 70, "timestamp": t}
        ]}))
        .send()
        .await
        .expect("upload");
    assert_eq!(reply.status(), 200);
    let answered = reply
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .expect("traceparent answered")
        .to_owned();
    let body: Value = reply.json().await.expect("json");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    assert_eq!(body["trace_id"], trace_id);
    assert!(
        answered.starts_with(&format!("00-{trace_id}-")),
        "{answered}"
    );
    assert!(
        !answered.contains("00f067aa0ba902b7"),
        "the service's own span id"
    );
    // The batch log keeps the trace id.
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM t_ingest_batch WHERE trace_id = '{trace_id}'"
        ))
        .await,
        1
    );

    let trace = app
        .admin_get(&format!("/api/traces/{trace_id}"), TOKEN)
        .await;
    assert_eq!(trace.status, 200, "{}", trace.text);
    assert_eq!(trace.body["batch_id"], "trace-batch-1");
    assert_eq!(trace.body["status"], 200);
    let stages: Vec<&str> = trace.body["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        stages,
        vec![
            "admission",
            "read",
            "slot",
            "parse",
            "validate",
            "resolve",
            "queue_wait",
            "commit"
        ]
    );
    let total = trace.body["total_ms"].as_f64().expect("total");
    for stage in trace.body["stages"].as_array().expect("stages") {
        let start = stage["start_ms"].as_f64().expect("start");
        let took = stage["duration_ms"].as_f64().expect("duration");
        assert!(
            start >= 0.0 && took >= 0.0 && start + took <= total + 0.01,
            "{stage} in {total}"
        );
    }

    // A request without a traceparent starts a trace of its own.
    let plain = app
        .upload(
            json!([{"deviceSn": "TRACE0001", "heartRate": 71, "timestamp": t + 1}]),
            None,
        )
        .await;
    let own = plain.body["trace_id"]
        .as_str()
        .expect("trace id")
        .to_owned();
    assert_eq!(own.len(), 32);
    assert_ne!(own, trace_id);
    assert!(
        plain.headers["traceparent"]
            .to_str()
            .is_ok_and(|v| v.contains(&own))
    );

    let recent = app.admin_get("/api/traces?limit=2", TOKEN).await;
    assert_eq!(recent.body[0]["trace_id"], own.as_str(), "newest first");
    let slowest = app.admin_get("/api/traces/slowest?limit=1", TOKEN).await;
    assert_eq!(slowest.body.as_array().map(Vec::len), Some(1));
    let stages = app
        .admin_get("/api/traces/stages?window_minutes=1", TOKEN)
        .await;
    let total = stages.body["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stage"] == "total"))
        .cloned()
        .expect("total stage");
    assert!(total["count"].as_u64().is_some_and(|n| n >= 2), "{total}");
    assert!(total["p99_ms"].as_f64() >= total["p50_ms"].as_f64());
    assert_eq!(
        app.admin_get("/api/traces/ffffffffffffffffffffffffffffffff", TOKEN)
            .await
            .status,
        404
    );
    app.stop().await;
}
