//! The binding API (DESIGN §12): read, bind (with the quarantine replayed), unbind; every
//! instance maps the device anew within about a second, and `devices import` goes through the
//! same code.

use crate::common::{Backend, TestApp, eventually, now, records};
use crate::samples::{ADMIN, READER, spawn};
use ljwx_bigscreen::config::Secret;
use ljwx_bigscreen::store::DeviceImport;
use serde_json::json;
use std::time::Duration;

crate::backend_tests!(
    a_watch_is_bound_read_and_unbound_with_its_quarantine_replayed,
    every_instance_maps_a_rebound_watch_anew,
);

async fn a_watch_is_bound_read_and_unbound_with_its_quarantine_replayed(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let t = now() - 3_000;
    let unbound = app
        .admin_get("/api/devices/BIND00001/binding", READER)
        .await;
    assert_eq!(unbound.status, 404, "{}", unbound.text);
    // Samples of the watch before it is bound wait in quarantine.
    let early = app.upload(records("BIND00001", t, 6), None).await;
    assert_eq!(early.body["unknown_device"], 6, "{}", early.text);

    let bound = app
        .admin(
            app.client
                .put(app.url("/api/devices/BIND00001/binding"))
                .json(
                    &json!({"userId": 501, "customerId": 5, "orgId": 50, "replayQuarantine": true}),
                ),
            ADMIN,
        )
        .await;
    assert_eq!(bound.status, 200, "{}", bound.text);
    assert_eq!(bound.body["replayed"], 6);
    assert_eq!(bound.body["userId"], 501);
    let read = app
        .admin_get("/api/devices/BIND00001/binding", READER)
        .await;
    assert_eq!(
        read.body,
        json!({"deviceSn": "BIND00001", "userId": 501, "customerId": 5, "orgId": 50})
    );
    // Written as ljwx-boot keeps users: the watch on sys_user, the organisation in sys_user_org.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sys_user WHERE id = 501 AND device_sn = 'BIND00001' AND customer_id = 5")
            .await,
        1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sys_user_org WHERE user_id = 501 AND org_id = 50 AND is_deleted = 0")
            .await,
        1
    );
    // The replayed samples are the wearer's now, and the next upload maps at once.
    let next = app.upload(records("BIND00001", t + 100, 2), None).await;
    assert_eq!(next.body["inserted"], 2, "{}", next.text);
    let samples = app.admin_get("/api/users/501/samples", READER).await;
    assert_eq!(samples.body["items"].as_array().map(Vec::len), Some(8));

    let gone = app
        .admin(
            app.client.delete(app.url("/api/devices/BIND00001/binding")),
            ADMIN,
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert_eq!(
        app.admin_get("/api/devices/BIND00001/binding", READER)
            .await
            .status,
        404
    );
    let after = app.upload(records("BIND00001", t + 200, 1), None).await;
    assert_eq!(after.body["unknown_device"], 1, "{}", after.text);
    let again = app
        .admin(
            app.client.delete(app.url("/api/devices/BIND00001/binding")),
            ADMIN,
        )
        .await;
    assert_eq!(again.status, 404);
    let bad = app
        .admin(
            app.client
                .put(app.url("/api/devices/BIND00001/binding"))
                .json(&json!({"customerId": 5})),
            ADMIN,
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    app.stop().await;
}

/// The user id stored for the last sample of `device`.
async fn stored_user(app: &TestApp, device: &str) -> i64 {
    app.scalar(&format!(
        "SELECT user_id FROM t_user_health_data WHERE device_sn = '{device}' \
         ORDER BY timestamp DESC LIMIT 1"
    ))
    .await
}

async fn every_instance_maps_a_rebound_watch_anew(backend: Backend) {
    let Some(a) = TestApp::spawn_with(backend, |c| {
        c.admin.token = Some(Secret::new(ADMIN));
        // Cached mappings would otherwise last five minutes.
        c.devices.cache_ttl_secs = 3_600;
    })
    .await
    else {
        return;
    };
    let b = a
        .another_instance(|c| {
            c.admin.token = Some(Secret::new(ADMIN));
            c.devices.cache_ttl_secs = 3_600;
        })
        .await;
    a.bind("MOVE00001", 601, 6, 60).await;
    let t = now() - 5_000;
    // Instance b caches the watch as user 601's.
    b.upload(records("MOVE00001", t, 1), None).await;
    assert_eq!(stored_user(&b, "MOVE00001").await, 601);

    let moved = a
        .admin(
            a.client
                .put(a.url("/api/devices/MOVE00001/binding"))
                .json(&json!({"userId": 602})),
            ADMIN,
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let mut next = t + 1;
    eventually(
        "instance b maps the watch to user 602",
        Duration::from_secs(10),
        async || {
            next += 1;
            b.upload(records("MOVE00001", next, 1), None).await;
            stored_user(&b, "MOVE00001").await == 602
        },
    )
    .await;

    // `devices import` writes through the same code: b follows it as well.
    a.store
        .bind_devices(&[DeviceImport {
            device_sn: "MOVE00001".to_owned(),
            user_id: 603,
            customer_id: None,
            org_id: None,
        }])
        .await
        .expect("import");
    eventually(
        "instance b maps the imported binding",
        Duration::from_secs(10),
        async || {
            next += 1;
            b.upload(records("MOVE00001", next, 1), None).await;
            stored_user(&b, "MOVE00001").await == 603
        },
    )
    .await;

    // Unbound on a: b quarantines its next samples.
    let gone = a
        .admin(
            a.client.delete(a.url("/api/devices/MOVE00001/binding")),
            ADMIN,
        )
        .await;
    assert_eq!(gone.status, 204);
    eventually(
        "instance b quarantines the unbound watch",
        Duration::from_secs(10),
        async || {
            next += 1;
            let reply = b.upload(records("MOVE00001", next, 1), None).await;
            reply.body["unknown_device"] == 1
        },
    )
    .await;
    b.stop().await;
    a.stop().await;
}
