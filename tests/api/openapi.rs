//! The OpenAPI document integrators read: served, complete, and equal to the committed file.

use crate::common::{Backend, TestApp};
use serde_json::Value;

#[tokio::test]
async fn served_document_equals_the_committed_file() {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let served = app.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed"),
    )
    .expect("committed document is JSON");
    assert!(
        served.body == committed,
        "openapi/openapi.json is stale: run `cargo run -- export-openapi`"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_endpoint_and_answer_is_documented() {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let doc = app.get("/openapi.json").await.body;
    for (path, method, codes) in [
        (
            "/upload_health_data_batch",
            "post",
            &["200", "400", "401", "408", "413", "429", "500", "503"][..],
        ),
        (
            "/upload_health_data",
            "post",
            &["200", "400", "401", "408", "413", "429", "500", "503"][..],
        ),
        ("/api/health", "get", &["200", "503"][..]),
        ("/api/stats", "get", &["200", "500", "503"][..]),
        ("/api/monitor", "get", &["200", "400", "401", "503"][..]),
        ("/api/traces", "get", &["200", "400", "401", "503"][..]),
        ("/api/traces/{trace_id}", "get", &["200", "401", "404"][..]),
        (
            "/api/alerts",
            "get",
            &["200", "400", "401", "403", "500", "503"][..],
        ),
        (
            "/api/alerts/{id}",
            "get",
            &["200", "400", "401", "403", "404"][..],
        ),
        (
            "/api/alerts/{id}/ack",
            "post",
            &["200", "400", "401", "403", "404", "409"][..],
        ),
        (
            "/api/alerts/{id}/resolve",
            "post",
            &["200", "400", "401", "403", "404", "409"][..],
        ),
        (
            "/api/devices/{sn}/keys",
            "post",
            &["201", "400", "401", "403", "409", "503"][..],
        ),
        (
            "/api/devices/{sn}/keys",
            "get",
            &["200", "400", "401", "403"][..],
        ),
        (
            "/api/devices/{sn}/keys/{id}",
            "delete",
            &["200", "400", "401", "403", "404"][..],
        ),
        (
            "/api/customers/{customer_id}/keys",
            "post",
            &["201", "400", "401", "403", "409"][..],
        ),
    ] {
        let op = &doc["paths"][path][method];
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{path} summary"
        );
        for code in codes {
            assert!(
                op["responses"][code]["description"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{method} {path} documents {code}"
            );
        }
    }
    // Fields carry their units and ranges.
    let heart_rate = &doc["components"]["schemas"]["HealthData"]["properties"]["heartRate"];
    assert_eq!(heart_rate["minimum"], 20.0);
    assert_eq!(heart_rate["maximum"], 250.0);
    assert!(
        heart_rate["description"]
            .as_str()
            .is_some_and(|d| d.contains("beats per minute"))
    );
    let swagger = app.client.get(app.url("/docs")).send().await.expect("docs");
    assert_eq!(swagger.status(), 200);
    assert!(swagger.text().await.expect("html").contains("swagger"));
    app.stop().await;
}
