//! Bad input: a clear JSON error, and nothing valid lost with it.

use crate::backend_tests;
use crate::common::{Backend, TestApp, now};
use serde_json::{Value, json};

backend_tests!(
    malformed_json_is_400_with_the_parser_position,
    wrong_type_rejects_only_its_record,
    missing_and_invalid_required_fields_reject_the_record,
    out_of_range_values_are_stored_as_null_with_warnings,
    nul_characters_are_stored_as_null_and_fail_no_commit,
    no_valid_record_is_400_with_details,
    empty_or_missing_data_is_400,
    body_over_the_limit_is_413,
    chunked_body_over_the_limit_is_413,
    too_many_records_is_413,
    invalid_utf8_is_400,
    huge_strings_are_rejected_without_being_echoed,
    error_details_are_capped_at_ten,
    storage_errors_never_leak_internal_text,
);

async fn malformed_json_is_400_with_the_parser_position(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let reply = app
        .post_raw(
            "/upload_health_data_batch",
            r#"{"data": [{"deviceSn": "W1"#,
            Some("application/json"),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["error"], "malformed_json");
    let message = reply.body["message"].as_str().expect("message");
    assert!(message.contains("line 1 column"), "{message}");
    app.stop().await;
}

async fn wrong_type_rejects_only_its_record(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 10;
    let reply = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
                {"deviceSn": "WATCH0001", "heartRate": true, "timestamp": t + 1},
                {"deviceSn": "WATCH0001", "step": [1, 2], "timestamp": t + 2},
                "not an object",
                {"deviceSn": "WATCH0001", "heartRate": "71", "firmware": "2.1.0", "timestamp": t + 3},
            ]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["total_records"], 5);
    assert_eq!(reply.body["valid_records"], 2);
    assert_eq!(reply.body["errors"], 3);
    assert_eq!(reply.body["inserted"], 2);
    assert_eq!(
        reply.body["error_details"],
        json!([
            "index 1: heartRate: expected an integer, got a boolean",
            "index 2: step: expected an integer, got an array",
            "index 3: must be a JSON object",
        ])
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE heart_rate IN (70, 71)")
            .await,
        2
    );
    app.stop().await;
}

async fn missing_and_invalid_required_fields_reject_the_record(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now();
    let reply = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "timestamp": t},
                {"heartRate": 70, "timestamp": t},
                {"deviceSn": "WATCH0001"},
                {"deviceSn": "WAT", "timestamp": t},
                {"deviceSn": "WATCH 001", "timestamp": t},
                {"deviceSn": "WATCH0001", "timestamp": 0},
                {"deviceSn": "WATCH0001", "timestamp": 900000000},
                {"deviceSn": "WATCH0001", "timestamp": t + 3 * 86400},
            ]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["valid_records"], 1);
    assert_eq!(reply.body["errors"], 7);
    assert_eq!(
        reply.body["error_details"],
        json!([
            "index 1: deviceSn: required",
            "index 2: timestamp: required",
            "index 3: deviceSn: must be 5–64 characters, got 3",
            "index 4: deviceSn: must be printable ASCII without spaces, got \"WATCH 001\"",
            "index 5: timestamp: must be positive, got 0",
            "index 6: timestamp: 900000000 is before 2000-01-01",
            format!(
                "index 7: timestamp: {} is more than 1 day in the future",
                t + 3 * 86400
            ),
        ])
    );
    app.stop().await;
}

async fn out_of_range_values_are_stored_as_null_with_warnings(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let reply = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "timestamp": now(), "heartRate": 300, "bloodOxygen": 0,
                    "temperature": 50.0, "pressureHigh": 120, "pressureLow": 125, "latitude": 91,
                    "step": -1, "stress": 100}]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["inserted"], 1);
    assert_eq!(reply.body["errors"], 0);
    assert_eq!(reply.body["warnings"], 5);
    assert_eq!(
        reply.body["error_details"],
        json!([
            "index 0: heartRate: 300 is outside 20–250; stored as null",
            "index 0: temperature: 50 °C is outside 30–45; stored as null",
            "index 0: pressureLow: 125 is not below pressureHigh 120; stored as null",
            "index 0: step: -1 is negative or too large; stored as null",
            "index 0: latitude: 91 is outside ±90; stored as null",
        ])
    );
    let kept = app
        .scalar(
            "SELECT COUNT(*) FROM t_user_health_data WHERE heart_rate IS NULL AND blood_oxygen IS NULL \
             AND temperature IS NULL AND pressure_low IS NULL AND latitude IS NULL AND step IS NULL \
             AND pressure_high = 120 AND stress = 100",
        )
        .await;
    assert_eq!(kept, 1);
    app.stop().await;
}

/// PostgreSQL stores no NUL character in text. A NUL that reached the commit would fail the
/// whole group, uploads of other devices with it; it is a field warning instead, everywhere.
async fn nul_characters_are_stored_as_null_and_fail_no_commit(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.writer.linger_ms = 200).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    app.bind("WATCH0002", 2, 1, 1).await;
    let t = now() - 1000;
    let (bad, good) = tokio::join!(
        app.upload(
            json!([{"deviceSn": "WATCH0001", "timestamp": t, "heartRate": 70,
                    "sleep": "deep\u{0}light", "uploadMethod": "wi\u{0}fi"}]),
            None,
        ),
        app.upload(
            json!([{"deviceSn": "WATCH0002", "timestamp": t, "heartRate": 71}]),
            None
        ),
    );
    assert_eq!(good.status, 200, "{}", good.text);
    assert_eq!(good.body["inserted"], 1);
    assert_eq!(bad.status, 200, "{}", bad.text);
    assert_eq!(bad.body["inserted"], 1);
    assert_eq!(
        bad.body["error_details"],
        json!([
            "index 0: sleep: contains a NUL character; stored as null",
            "index 0: uploadMethod: contains a NUL character; stored as null",
        ])
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = 'WATCH0001' \
             AND sleep IS NULL AND upload_method IS NULL AND heart_rate = 70"
        )
        .await,
        1
    );
    app.stop().await;
}

async fn no_valid_record_is_400_with_details(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let reply = app
        .upload(
            json!([{"deviceSn": "x", "timestamp": now()}, {"timestamp": now()}]),
            Some("bad-batch"),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["error"], "no_valid_records");
    assert_eq!(
        reply.body["details"],
        json!([
            "index 0: deviceSn: must be 5–64 characters, got 1",
            "index 1: deviceSn: required"
        ])
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 0);
    app.stop().await;
}

async fn empty_or_missing_data_is_400(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let empty = app.upload(json!([]), None).await;
    assert_eq!(empty.status, 400);
    assert_eq!(empty.body["error"], "empty_batch");
    let missing = app
        .post_json("/upload_health_data_batch", &json!({"batchId": "x"}))
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body["error"], "invalid_request");
    let not_array = app
        .post_json(
            "/upload_health_data_batch",
            &json!({"data": {"deviceSn": "WATCH0001"}}),
        )
        .await;
    assert_eq!(not_array.status, 400);
    assert_eq!(not_array.body["error"], "invalid_request");
    let bad_id = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "timestamp": now()}]),
            Some(&"x".repeat(65)),
        )
        .await;
    assert_eq!(bad_id.status, 400);
    assert_eq!(bad_id.body["error"], "invalid_request");
    app.stop().await;
}

/// `count` records of about 100 bytes each.
fn big_batch(count: usize) -> Value {
    let t = now() - 1_000_000;
    let records: Vec<Value> = (0..count)
        .map(|i| json!({"deviceSn": "WATCH0001", "heartRate": 70, "bloodOxygen": 98, "timestamp": t + i as i64}))
        .collect();
    json!({ "data": records })
}

async fn body_over_the_limit_is_413(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // Default limit 10 MiB; this body is about 11 MiB and declares its length.
    let body = serde_json::to_vec(&big_batch(9_000)).expect("json");
    let mut padded = body.clone();
    padded.truncate(body.len() - 2);
    padded.extend_from_slice(b", \"pad\": \"");
    padded.extend(std::iter::repeat_n(b'x', 11 * 1024 * 1024 - padded.len()));
    padded.extend_from_slice(b"\"}");
    let reply = app
        .post_raw(
            "/upload_health_data_batch",
            padded,
            Some("application/json"),
        )
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body["error"], "body_too_large");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        0
    );
    app.stop().await;
}

async fn chunked_body_over_the_limit_is_413(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.ingest.max_body_bytes = 4096).await else {
        return;
    };
    let body = serde_json::to_vec(&big_batch(100)).expect("json");
    assert!(body.len() > 4096);
    // A stream has no Content-Length: the limit must hold while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let reply = app
        .post_raw(
            "/upload_health_data_batch",
            stream,
            Some("application/json"),
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.body["error"], "body_too_large");
    app.stop().await;
}

async fn too_many_records_is_413(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.ingest.max_records = 5).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let reply = app
        .post_json("/upload_health_data_batch", &big_batch(6))
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body["error"], "too_many_records");
    let ok = app
        .post_json("/upload_health_data_batch", &big_batch(5))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["inserted"], 5);
    app.stop().await;
}

async fn invalid_utf8_is_400(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mut body = br#"{"data": [{"deviceSn": "WATCH"#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(format!(r#"01", "timestamp": {}}}]}}"#, now()).as_bytes());
    let reply = app
        .post_raw("/upload_health_data_batch", body, Some("application/json"))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["error"], "malformed_json");
    app.stop().await;
}

async fn huge_strings_are_rejected_without_being_echoed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let huge = "Z".repeat(200_000);
    let reply = app
        .upload(
            json!([
                {"deviceSn": huge, "timestamp": now()},
                {"deviceSn": "WATCH0001", "timestamp": now(), "sleep": "s".repeat(5000), "uploadMethod": "m".repeat(30)},
            ]),
            None,
        )
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.text[..reply.text.len().min(300)]
    );
    assert!(
        reply.text.len() < 2000,
        "response echoes input: {} bytes",
        reply.text.len()
    );
    assert_eq!(
        reply.body["error_details"],
        json!([
            "index 0: deviceSn: must be 5–64 characters, got 200000",
            "index 1: sleep: 5000 bytes is longer than 4096; stored as null",
            "index 1: uploadMethod: \"mmmmmmmmmmmmmmmmmmmmmmmm…\" is longer than 20 characters; stored as null",
        ])
    );
    app.stop().await;
}

async fn error_details_are_capped_at_ten(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let mut records: Vec<Value> = (0..15).map(|_| json!({"deviceSn": "bad"})).collect();
    records.push(json!({"deviceSn": "WATCH0001", "timestamp": now()}));
    let reply = app.upload(Value::Array(records), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["errors"], 15);
    assert_eq!(
        reply.body["error_details"].as_array().map(Vec::len),
        Some(10)
    );
    app.stop().await;
}

async fn storage_errors_never_leak_internal_text(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    // Break storage under the running server, as a botched manual change would.
    app.exec("DROP TABLE t_device_daily_pending").await;
    let reply = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": now()}]),
            None,
        )
        .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body["error"], "internal");
    let lower = reply.text.to_lowercase();
    for leak in [
        "t_device_daily",
        "sql",
        "table",
        "error returned",
        "no such",
        "doesn't exist",
        "does not exist",
    ] {
        assert!(
            !lower.contains(leak),
            "response leaks {leak:?}: {}",
            reply.text
        );
    }
    // Nothing of the failed batch was committed.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        0
    );

    let not_found = app.get("/no/such/path").await;
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.body["error"], "not_found");
    let wrong_method = app.get("/upload_health_data_batch").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.body["error"], "method_not_allowed");
    app.stop().await;
}
