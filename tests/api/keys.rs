//! Device keys (DESIGN §10): `devices.auth` off, optional and required; device and gateway
//! keys and the records they cover; rotation; revocation across instances; the admin API and
//! the command line.

use crate::backend_tests;
use crate::common::{Backend, Reply, TestApp, eventually, now};
use ljwx_bigscreen::config::{Config, DeviceAuth, Secret};
use serde_json::{Value, json};
use std::time::Duration;

backend_tests!(
    required_refuses_uploads_without_a_valid_key,
    optional_takes_uploads_without_a_key_but_not_with_a_wrong_one,
    off_looks_at_no_key,
    a_device_key_covers_its_own_records_only,
    a_gateway_key_covers_the_devices_of_its_customer,
    two_keys_at_once_for_rotation_and_no_third,
    a_revoke_reaches_every_instance_within_seconds,
);

const TOKEN: &str = "keys-admin-token";

fn with_auth(auth: DeviceAuth) -> impl FnOnce(&mut Config) {
    move |c| {
        c.devices.auth = auth;
        c.admin.token = Some(Secret::new(TOKEN));
    }
}

/// Issues a key to device `sn` through the admin API.
async fn issue(app: &TestApp, sn: &str) -> (String, i64) {
    let reply = app
        .admin(
            app.client.post(app.url(&format!("/api/devices/{sn}/keys"))),
            TOKEN,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["device_sn"], sn);
    let key = reply.body["key"].as_str().expect("key").to_owned();
    (key, reply.body["id"].as_i64().expect("id"))
}

/// `POST /upload_health_data_batch` of `records`, with `key` as bearer when given.
async fn upload(app: &TestApp, records: Value, key: Option<&str>) -> Reply {
    let mut req = app
        .client
        .post(app.url("/upload_health_data_batch"))
        .json(&json!({ "data": records }));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    crate::common::read(req.send().await.expect("upload")).await
}

fn sample(device: &str, at: i64) -> Value {
    json!({"deviceSn": device, "heartRate": 70, "timestamp": at})
}

fn assert_unauthorized(reply: &Reply, challenge: &str) {
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.body["error"], "unauthorized", "{}", reply.text);
    let header = reply.headers["www-authenticate"].to_str().expect("ascii");
    assert!(header.starts_with("Bearer"), "{header}");
    assert!(header.contains(challenge), "{header}");
}

async fn required_refuses_uploads_without_a_valid_key(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, with_auth(DeviceAuth::Required)).await else {
        return;
    };
    app.bind("KEYWATCH01", 1, 10, 100).await;
    let t = now() - 100;
    let (key, _) = issue(&app, "KEYWATCH01").await;
    assert!(key.starts_with("ljwx_") && key.len() == 69, "{key}");
    assert_unauthorized(
        &upload(&app, json!([sample("KEYWATCH01", t)]), None).await,
        "realm",
    );
    let unknown = format!("ljwx_{}", "0".repeat(64));
    for wrong in [unknown.as_str(), "not-even-a-key"] {
        assert_unauthorized(
            &upload(&app, json!([sample("KEYWATCH01", t)]), Some(wrong)).await,
            "invalid_token",
        );
    }
    let basic = crate::common::read(
        app.client
            .post(app.url("/upload_health_data"))
            .header("authorization", format!("Basic {key}"))
            .json(&sample("KEYWATCH01", t))
            .send()
            .await
            .expect("upload"),
    )
    .await;
    assert_unauthorized(&basic, "invalid_token");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        0,
        "nothing of a refused upload is stored"
    );
    let stored = upload(&app, json!([sample("KEYWATCH01", t)]), Some(&key)).await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(stored.body["inserted"], 1);
    // Only the hash is kept.
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM t_device_key WHERE key_hash = '{key}' OR key_hash LIKE '%{}%'",
            &key[5..]
        ))
        .await,
        0
    );
    app.stop().await;
}

async fn optional_takes_uploads_without_a_key_but_not_with_a_wrong_one(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, with_auth(DeviceAuth::Optional)).await else {
        return;
    };
    app.bind("KEYWATCH01", 1, 10, 100).await;
    let t = now() - 200;
    let (key, _) = issue(&app, "KEYWATCH01").await;
    let plain = upload(&app, json!([sample("KEYWATCH01", t)]), None).await;
    assert_eq!(plain.status, 200, "{}", plain.text);
    assert_unauthorized(
        &upload(
            &app,
            json!([sample("KEYWATCH01", t + 1)]),
            Some("ljwx_wrong"),
        )
        .await,
        "invalid_token",
    );
    let keyed = upload(&app, json!([sample("KEYWATCH01", t + 2)]), Some(&key)).await;
    assert_eq!(keyed.body["inserted"], 1, "{}", keyed.text);
    // With a key, it covers only its device.
    let other = upload(&app, json!([sample("OTHERWATCH", t + 3)]), Some(&key)).await;
    assert_eq!(other.status, 400, "{}", other.text);
    app.stop().await;
}

async fn off_looks_at_no_key(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, with_auth(DeviceAuth::Off)).await else {
        return;
    };
    app.bind("KEYWATCH01", 1, 10, 100).await;
    let reply = upload(
        &app,
        json!([sample("KEYWATCH01", now() - 10)]),
        Some("whatever-firmware-sends"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    app.stop().await;
}

async fn a_device_key_covers_its_own_records_only(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, with_auth(DeviceAuth::Required)).await else {
        return;
    };
    app.bind("KEYWATCH01", 1, 10, 100).await;
    app.bind("KEYWATCH02", 2, 10, 100).await;
    let t = now() - 300;
    let (key, _) = issue(&app, "KEYWATCH01").await;
    let reply = upload(
        &app,
        json!([
            sample("KEYWATCH01", t),
            sample("KEYWATCH02", t),
            {"deviceSn": "KEYWATCH01", "heartRate": 999, "timestamp": t + 1},
            sample("UNBOUND001", t),
        ]),
        Some(&key),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["errors"], 2, "{}", reply.text);
    assert_eq!(reply.body["inserted"], 2, "{}", reply.text);
    assert_eq!(
        reply.body["error_details"],
        json!([
            "index 1: deviceSn: not allowed for this key",
            "index 3: deviceSn: not allowed for this key",
            "index 2: heartRate: 999 is outside 20–250; stored as null",
        ])
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = 'KEYWATCH02'")
            .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_unknown_device_data")
            .await,
        0,
        "another device's samples are not quarantined either"
    );
    app.stop().await;
}

async fn a_gateway_key_covers_the_devices_of_its_customer(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, with_auth(DeviceAuth::Required)).await else {
        return;
    };
    app.bind("GATEWAY001", 1, 10, 100).await;
    app.bind("GATEWAY002", 2, 10, 101).await;
    app.bind("ELSEWHERE1", 3, 11, 100).await;
    let t = now() - 400;
    let issued = app
        .admin(app.client.post(app.url("/api/customers/10/keys")), TOKEN)
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    assert_eq!(issued.body["customer_id"], 10);
    assert!(issued.body.get("device_sn").is_none(), "{}", issued.text);
    let key = issued.body["key"].as_str().expect("key");
    let reply = upload(
        &app,
        json!([
            sample("GATEWAY001", t),
            sample("ELSEWHERE1", t),
            sample("GATEWAY002", t),
            sample("NOBODYS001", t),
        ]),
        Some(key),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["inserted"], 2, "{}", reply.text);
    assert_eq!(
        reply.body["error_details"],
        json!([
            "index 1: deviceSn: not allowed for this key",
            "index 3: deviceSn: not allowed for this key",
        ])
    );
    let listed = app
        .admin(app.client.get(app.url("/api/customers/10/keys")), TOKEN)
        .await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );
    assert!(
        listed.body[0].get("key").is_none(),
        "never listed: {}",
        listed.text
    );
    app.stop().await;
}

async fn two_keys_at_once_for_rotation_and_no_third(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, with_auth(DeviceAuth::Required)).await else {
        return;
    };
    app.bind("KEYWATCH01", 1, 10, 100).await;
    let t = now() - 500;
    let (old, old_id) = issue(&app, "KEYWATCH01").await;
    let (new, _) = issue(&app, "KEYWATCH01").await;
    let third = app
        .admin(
            app.client.post(app.url("/api/devices/KEYWATCH01/keys")),
            TOKEN,
        )
        .await;
    assert_eq!(third.status, 409, "{}", third.text);
    assert_eq!(third.body["error"], "too_many_keys");
    for (i, key) in [&old, &new].into_iter().enumerate() {
        let reply = upload(
            &app,
            json!([sample("KEYWATCH01", t + i as i64)]),
            Some(key.as_str()),
        )
        .await;
        assert_eq!(
            reply.status, 200,
            "both keys work during the rotation: {}",
            reply.text
        );
    }
    let revoked = app
        .admin(
            app.client
                .delete(app.url(&format!("/api/devices/KEYWATCH01/keys/{old_id}"))),
            TOKEN,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert!(revoked.body["revoked_at"].is_string(), "{}", revoked.text);
    // This instance refuses it at once.
    assert_unauthorized(
        &upload(&app, json!([sample("KEYWATCH01", t + 5)]), Some(&old)).await,
        "invalid_token",
    );
    let again = app
        .admin(
            app.client
                .delete(app.url(&format!("/api/devices/KEYWATCH01/keys/{old_id}"))),
            TOKEN,
        )
        .await;
    assert_eq!(again.status, 404, "{}", again.text);
    // Room for the next rotation.
    issue(&app, "KEYWATCH01").await;
    let listed = app
        .admin(
            app.client.get(app.url("/api/devices/KEYWATCH01/keys")),
            TOKEN,
        )
        .await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(3),
        "{}",
        listed.text
    );
    // The admin API itself needs the admin token.
    let anonymous = app
        .client
        .post(app.url("/api/devices/KEYWATCH01/keys"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    let bad_sn = app
        .admin(app.client.post(app.url("/api/devices/x/keys")), TOKEN)
        .await;
    assert_eq!(bad_sn.status, 400, "{}", bad_sn.text);
    app.stop().await;
}

/// A key checked (and cached) on a second instance is refused there within 5 s of its
/// revocation on the first (DESIGN §10); with Redis the second instance also read it from
/// Redis's copy, which a revocation must not leave usable either.
async fn a_revoke_reaches_every_instance_within_seconds(backend: Backend) {
    let Some(first) = TestApp::spawn_with(backend, with_auth(DeviceAuth::Required)).await else {
        return;
    };
    let second = first
        .another_instance(with_auth(DeviceAuth::Required))
        .await;
    first.bind("KEYWATCH01", 1, 10, 100).await;
    let t = now() - 600;
    let (key, id) = issue(&first, "KEYWATCH01").await;
    for (i, app) in [&first, &second].into_iter().enumerate() {
        let reply = upload(app, json!([sample("KEYWATCH01", t + i as i64)]), Some(&key)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let revoked = first
        .admin(
            first
                .client
                .delete(first.url(&format!("/api/devices/KEYWATCH01/keys/{id}"))),
            TOKEN,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let mut at = t + 10;
    eventually(
        "the second instance refuses the revoked key",
        Duration::from_secs(5),
        async || {
            at += 1;
            upload(&second, json!([sample("KEYWATCH01", at)]), Some(&key))
                .await
                .status
                == 401
        },
    )
    .await;
    second.stop().await;
    first.stop().await;
}

/// `ljwx-bigscreen devices key issue|list|revoke`: the key is printed once, alone, on
/// standard output, and works at once on a running server.
#[tokio::test]
async fn the_command_line_issues_lists_and_revokes_keys() {
    let app = TestApp::spawn_with(Backend::Sqlite, with_auth(DeviceAuth::Required))
        .await
        .expect("sqlite always runs");
    app.bind("CLIWATCH01", 1, 10, 100).await;
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ljwx-bigscreen"))
            .args(["--config", "/nonexistent/bigscreen.toml", "devices", "key"])
            .args(args)
            .env("DATABASE_URL", &app.database_url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run the command");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = cli(&["issue", "CLIWATCH01"]);
    assert!(ok, "{stderr}");
    let key = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "the key alone: {stdout}");
    assert!(key.starts_with("ljwx_"), "{stdout}");
    assert!(!stderr.contains(key), "shown once: {stderr}");
    let reply = upload(&app, json!([sample("CLIWATCH01", now() - 5)]), Some(key)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let (ok, listed, _) = cli(&["list", "CLIWATCH01"]);
    assert!(ok);
    assert!(
        listed.contains("valid") && !listed.contains(key),
        "{listed}"
    );
    let (ok, _, _) = cli(&["issue", "--customer", "10"]);
    assert!(ok);
    let (ok, _, stderr) = cli(&["revoke", "CLIWATCH01"]);
    assert!(!ok, "an id or --all is required: {stderr}");
    let (ok, revoked, stderr) = cli(&["revoke", "CLIWATCH01", "--all"]);
    assert!(ok, "{stderr}");
    assert!(revoked.contains("Revoked key"), "{revoked}");
    eventually(
        "the server refuses the key revoked from the command line",
        Duration::from_secs(5),
        async || {
            upload(&app, json!([sample("CLIWATCH01", now() - 1)]), Some(key))
                .await
                .status
                == 401
        },
    )
    .await;
    let (ok, _, stderr) = cli(&["revoke", "CLIWATCH01", "--all"]);
    assert!(!ok, "nothing left to revoke: {stderr}");
    app.stop().await;
}
