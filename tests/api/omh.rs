//! Open mHealth data points (DESIGN §12), checked against the published Open mHealth schemas
//! (`tests/api/schemas/omh`, with the IEEE 1752.1 schemas they refer to): the envelope against
//! `data-point-1.0`, each body against its own schema.

use crate::common::schemas::omh_errors;
use crate::common::{Backend, now};
use crate::samples::{READER, spawn};
use serde_json::json;

crate::backend_tests!(each_schema_gives_valid_data_points_of_the_samples_holding_it);

async fn each_schema_gives_valid_data_points_of_the_samples_holding_it(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.bind("OMHW00001", 800, 8, 80).await;
    let t = now() - 5_000;
    let reply = app
        .upload(
            json!([
                {"deviceSn": "OMHW00001", "heartRate": 66, "bloodOxygen": 96, "temperature": 36.7,
                 "pressureHigh": 118, "pressureLow": 77, "step": 2500, "timestamp": t},
                {"deviceSn": "OMHW00001", "heartRate": 70, "step": 2600, "timestamp": t + 60},
                {"deviceSn": "OMHW00001", "heartRate": 71, "timestamp": t + 120},
            ]),
            None,
        )
        .await;
    assert_eq!(reply.body["inserted"], 3, "{}", reply.text);
    for (schema, version, expected) in [
        ("heart-rate", "2.0", 3),
        ("oxygen-saturation", "2.0", 1),
        ("body-temperature", "4.0", 1),
        ("blood-pressure", "4.0", 1),
        ("step-count", "3.0", 2),
    ] {
        let reply = app
            .admin_get(&format!("/api/users/800/omh?schema={schema}"), READER)
            .await;
        assert_eq!(reply.status, 200, "{schema}: {}", reply.text);
        let points = reply.body.as_array().expect("data points");
        assert_eq!(points.len(), expected, "{schema}: {}", reply.text);
        for point in points {
            let errors = omh_errors(&format!("{schema}-{version}"), point);
            assert!(errors.is_empty(), "{schema}: {errors:?}\n{point}");
            let id = &point["header"]["schema_id"];
            assert_eq!(
                id,
                &json!({"namespace": "omh", "name": schema, "version": version})
            );
            assert_eq!(point["header"]["user_id"], "800");
        }
    }
    let heart = app
        .admin_get("/api/users/800/omh?schema=heart-rate&limit=2", READER)
        .await;
    assert_eq!(
        heart.body[0]["body"]["heart_rate"],
        json!({"value": 66, "unit": "beats/min"})
    );
    let next = heart.headers["link"].to_str().expect("link");
    let next = next
        .trim_start_matches('<')
        .split('>')
        .next()
        .expect("next url");
    let rest = app.admin_get(next, READER).await;
    assert_eq!(rest.body.as_array().map(Vec::len), Some(1), "{}", rest.text);
    assert_eq!(rest.body[0]["body"]["heart_rate"]["value"], 71);
    let temperature = app
        .admin_get("/api/users/800/omh?schema=body-temperature", READER)
        .await;
    assert_eq!(temperature.body[0]["body"]["measurement_location"], "wrist");
    let bad = app
        .admin_get("/api/users/800/omh?schema=sleep-duration", READER)
        .await;
    assert_eq!(bad.status, 400);
    app.stop().await;
}
