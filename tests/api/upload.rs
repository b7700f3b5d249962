//! The upload contract: what is answered and what is stored.

use crate::backend_tests;
use crate::common::{Backend, TestApp, now};
use entity::t_user_health_data;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

backend_tests!(
    batch_is_stored_with_wearer_and_answered_after_commit,
    single_record_endpoint_is_a_batch_of_one,
    resent_samples_are_duplicates_not_rows,
    repeated_sample_within_one_batch_is_stored_once,
    unknown_devices_are_quarantined_and_counted,
    millisecond_timestamps_are_read_as_milliseconds,
    body_without_content_type_is_accepted,
);

async fn batch_is_stored_with_wearer_and_answered_after_commit(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 7, 70, 700).await;
    let t = now() - 60;
    let reply = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "heartRate": 72, "bloodOxygen": 98, "temperature": 36.55,
                 "pressureHigh": 120, "pressureLow": 80, "stress": 35, "step": 8000, "distance": 5200,
                 "calorie": 2100, "latitude": 22.5431234, "longitude": 114.0579876,
                 "sleep": "{\"deep\":120}", "timestamp": t, "uploadMethod": "bluetooth"},
                {"deviceSn": "WATCH0001", "heartRate": 75, "timestamp": t + 1},
            ]),
            Some("first-batch"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let b = &reply.body;
    assert_eq!(b["status"], "accepted");
    assert_eq!(b["batch_id"], "first-batch");
    assert_eq!(b["total_records"], 2);
    assert_eq!(b["valid_records"], 2);
    assert_eq!(b["errors"], 0);
    assert_eq!(b["inserted"], 2);
    assert_eq!(b["duplicates"], 0);
    assert_eq!(b["unknown_device"], 0);
    assert_eq!(b["error_details"], json!([]));
    assert!(b["processing_time_ms"].as_f64().is_some());
    assert_eq!(reply.headers["idempotent-replayed"], "false");

    // The response came after the commit: the rows are visible to another connection now.
    let rows = t_user_health_data::Entity::find()
        .order_by_asc(t_user_health_data::Column::Timestamp)
        .all(&app.db)
        .await
        .expect("read rows");
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!(
        (r.user_id, r.customer_id, r.org_id),
        (7, Some(70), Some(700))
    );
    assert_eq!(r.device_sn, "WATCH0001");
    assert_eq!(r.heart_rate, Some(72));
    assert_eq!(r.blood_oxygen, Some(98));
    assert_eq!(
        r.temperature.map(|d| d.to_string()),
        Some("36.6".to_owned())
    );
    assert_eq!((r.pressure_high, r.pressure_low), (Some(120), Some(80)));
    assert_eq!(
        (r.stress, r.step, r.distance, r.calorie),
        (Some(35), Some(8000), Some(5200), Some(2100))
    );
    assert_eq!(
        r.latitude.map(|d| d.to_string()),
        Some("22.5431234".to_owned())
    );
    assert_eq!(
        r.longitude.map(|d| d.to_string()),
        Some("114.0579876".to_owned())
    );
    assert_eq!(r.sleep.as_deref(), Some("{\"deep\":120}"));
    assert_eq!(r.timestamp.timestamp(), t);
    assert_eq!(r.upload_method.as_deref(), Some("bluetooth"));
    assert_eq!(r.batch_id.as_deref(), Some("first-batch"));
    assert_eq!(
        rows[1].upload_method.as_deref(),
        Some("api"),
        "default upload method"
    );
    assert_eq!(rows[1].temperature, None);
    app.stop().await;
}

async fn single_record_endpoint_is_a_batch_of_one(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let reply = app
        .post_json(
            "/upload_health_data",
            &json!({"deviceSn": "WATCH0001", "heartRate": 80, "timestamp": now()}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["total_records"], 1);
    assert_eq!(reply.body["inserted"], 1);
    let id = reply.body["batch_id"].as_str().expect("generated id");
    assert!(id.starts_with("batch_"), "{id}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        1
    );

    let bad = app
        .post_json("/upload_health_data", &json!({"deviceSn": "WATCH0001"}))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"], "no_valid_records");
    assert_eq!(bad.body["details"], json!(["index 0: timestamp: required"]));
    app.stop().await;
}

async fn resent_samples_are_duplicates_not_rows(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 100;
    let records = json!([
        {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
        {"deviceSn": "WATCH0001", "heartRate": 71, "timestamp": t + 1},
    ]);
    let first = app.upload(records.clone(), None).await;
    assert_eq!(first.body["inserted"], 2);
    let again = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
                {"deviceSn": "WATCH0001", "heartRate": 71, "timestamp": t + 1},
                {"deviceSn": "WATCH0001", "heartRate": 72, "timestamp": t + 2},
            ]),
            None,
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["inserted"], 1);
    assert_eq!(again.body["duplicates"], 2);
    assert_eq!(again.body["valid_records"], 3);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        3
    );
    app.stop().await;
}

async fn repeated_sample_within_one_batch_is_stored_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 5;
    let reply = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
            ]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["inserted"], 1);
    assert_eq!(reply.body["duplicates"], 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        1
    );
    app.stop().await;
}

async fn unknown_devices_are_quarantined_and_counted(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 10;
    let reply = app
        .upload(
            json!([
                {"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t},
                {"deviceSn": "STRANGER1", "heartRate": 90, "timestamp": t},
                {"deviceSn": "STRANGER1", "heartRate": 91, "timestamp": t + 1},
            ]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["inserted"], 1);
    assert_eq!(reply.body["unknown_device"], 2);
    assert_eq!(reply.body["valid_records"], 3);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_unknown_device_data WHERE device_sn = 'STRANGER1' AND heart_rate IN (90, 91)")
            .await,
        2
    );
    // A re-sent unknown sample is counted again but kept once.
    app.upload(
        json!([{"deviceSn": "STRANGER1", "heartRate": 90, "timestamp": t}]),
        None,
    )
    .await;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_unknown_device_data")
            .await,
        2
    );
    app.stop().await;
}

async fn millisecond_timestamps_are_read_as_milliseconds(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 30;
    let reply = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t * 1000 + 999}]),
            None,
        )
        .await;
    assert_eq!(reply.body["inserted"], 1, "{}", reply.text);
    // The same sample in seconds is the same (device, timestamp): a duplicate.
    let again = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t}]),
            None,
        )
        .await;
    assert_eq!(again.body["duplicates"], 1, "{}", again.text);
    app.stop().await;
}

async fn body_without_content_type_is_accepted(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let body = format!(
        r#"{{"data":[{{"deviceSn":"WATCH0001","heartRate":70,"timestamp":{}}}]}}"#,
        now()
    );
    let reply = app
        .post_raw("/upload_health_data_batch", body.clone(), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = app
        .post_raw("/upload_health_data_batch", body, Some("text/plain"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["duplicates"], 1);
    app.stop().await;
}
