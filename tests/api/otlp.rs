//! OTLP export: the real server process sends its spans to a real OTLP/HTTP receiver on
//! loopback, which decodes the protobuf; the upload's span tree must arrive continuing the
//! caller's trace, with its stages as children and their attributes.

use crate::common::{
    Backend, Loopback, TestDb, eventually_some, now, prepare_database, start_server_process,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use poem::web::Data;
use poem::{Body, EndpointExt, Route, handler, http::StatusCode, post};
use prost::Message;
use serde_json::json;
use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Received = Arc<Mutex<Vec<(Vec<String>, Span)>>>;

/// OTLP/HTTP traces endpoint: decodes each export and keeps (service names, span).
#[handler]
async fn receive(Data(received): Data<&Received>, body: Body) -> StatusCode {
    let Ok(bytes) = body.into_bytes().await else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(request) = ExportTraceServiceRequest::decode(bytes.as_ref()) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut received = received.lock().expect("lock");
    for resource_spans in request.resource_spans {
        let services: Vec<String> = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .filter(|kv| kv.key == "service.name")
            .filter_map(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(AnyValue::StringValue(s)) => Some(s.clone()),
                    _ => None,
                },
            )
            .collect();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push((services.clone(), span));
            }
        }
    }
    StatusCode::OK
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            AnyValue::DoubleValue(d) => d.to_string(),
            AnyValue::BoolValue(b) => b.to_string(),
            other => format!("{other:?}"),
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploads_span_tree_reaches_an_otlp_receiver() {
    let db = TestDb::create(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    prepare_database(&db.url, [("OTLPWATCH1".to_owned(), 1)]).await;

    // The receiver.
    let received: Received = Arc::default();
    let receiver = Loopback::serve(
        Route::new()
            .at("/v1/traces", post(receive))
            .data(received.clone()),
    );
    let collector = receiver.addr;

    // The server process, exporting to it.
    let (mut server, base, _) = start_server_process(
        &db.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
            ("OTEL_SERVICE_NAME", "ljwx-otlp-test".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ],
    )
    .await;
    let client = reqwest::Client::new();

    let caller_trace = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let reply = client
        .post(format!("{base}/upload_health_data_batch"))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .json(&json!({"batchId": "otlp-batch-1", "data": [
            {"deviceSn": "OTLPWATCH1", "heartRate": 70, "timestamp": now() - 100}
        ]}))
        .send()
        .await
        .expect("upload");
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(
        body["trace_id"], caller_trace,
        "the response names the caller's trace"
    );

    // Batched export: wait for the upload's span and its stages.
    let spans = eventually_some(
        "the spans are exported",
        Duration::from_secs(20),
        async || {
            let spans: Vec<(Vec<String>, Span)> = received.lock().expect("lock").clone();
            let names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
            [
                "/upload_health_data_batch",
                "parse",
                "validate",
                "resolve",
                "commit",
                "group_commit",
                "alerts",
            ]
            .iter()
            .all(|n| names.contains(n))
            .then_some(spans)
        },
    )
    .await;
    let by_name: HashMap<&str, &(Vec<String>, Span)> = spans
        .iter()
        .map(|entry| (entry.1.name.as_str(), entry))
        .collect();
    let (services, upload) = by_name["/upload_health_data_batch"];
    assert_eq!(services, &vec!["ljwx-otlp-test".to_owned()]);
    assert_eq!(hex(&upload.trace_id), caller_trace);
    assert_eq!(
        hex(&upload.parent_span_id),
        caller_span,
        "child of the caller's span"
    );
    assert_eq!(
        attribute(upload, "batch_id").as_deref(),
        Some("otlp-batch-1")
    );
    assert_eq!(attribute(upload, "records").as_deref(), Some("1"));
    assert_eq!(
        attribute(upload, "http.response.status_code").as_deref(),
        Some("200")
    );
    for stage in ["parse", "validate", "resolve", "commit"] {
        let (_, span) = by_name[stage];
        assert_eq!(hex(&span.trace_id), caller_trace, "{stage}");
        assert_eq!(
            span.parent_span_id, upload.span_id,
            "{stage} is a child of the upload"
        );
        assert!(
            span.end_time_unix_nano >= span.start_time_unix_nano,
            "{stage}"
        );
    }
    let (_, commit) = by_name["commit"];
    assert_eq!(attribute(commit, "group_rows").as_deref(), Some("1"));
    assert!(attribute(commit, "queue_wait_ms").is_some());
    let (_, resolve) = by_name["resolve"];
    assert_eq!(
        attribute(resolve, "misses").as_deref(),
        Some("1"),
        "first lookup misses L1"
    );
    // The transaction is shared by the uploads of a group: its span links to theirs, and
    // the alert rules run inside it.
    let (_, group) = by_name["group_commit"];
    assert!(
        group
            .links
            .iter()
            .any(|l| l.span_id == commit.span_id && l.trace_id == commit.trace_id),
        "group_commit links to the upload's commit span: {:?}",
        group.links
    );
    assert_eq!(attribute(group, "rows").as_deref(), Some("1"));
    let (_, alerts) = by_name["alerts"];
    assert_eq!(alerts.parent_span_id, group.span_id);

    // SIGTERM: the server drains and exits 0 (flushing its exporter).
    let pid = server.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = eventually_some("the server stops", Duration::from_secs(30), async || {
        server.try_wait().expect("wait")
    })
    .await;
    assert!(status.success(), "{status:?}");
    receiver.stop().await;
}
