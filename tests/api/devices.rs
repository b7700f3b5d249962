//! Device bindings: the CLI import, bindings written by ljwx-boot, and the seed's mapping
//! rules.

use crate::backend_tests;
use crate::common::{Backend, TestApp, TestDb, eventually, now};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

backend_tests!(
    devices_import_cli_binds_devices,
    devices_import_rejects_a_bad_file_and_binds_nothing,
    unknown_answer_is_cached_then_expires_so_a_new_binding_is_picked_up,
    newest_user_wins_for_a_device_bound_twice,
    deleted_users_and_memberships_do_not_bind,
);

fn cli(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ljwx-bigscreen"))
        .args(["--config", "/nonexistent/bigscreen.toml"])
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ljwx-bigscreen")
}

async fn devices_import_cli_binds_devices(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bindings.csv");
    std::fs::write(
        &file,
        "device_sn,user_id,customer_id,org_id\nCSVWATCH1,101,11,111\nCSVWATCH2,102,,\n",
    )
    .expect("write csv");
    let out = cli(
        &app.database_url,
        &["devices", "import", file.to_str().expect("utf8 path")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Bound 2 devices."));

    let t = now() - 20;
    let reply = app
        .upload(
            json!([
                {"deviceSn": "CSVWATCH1", "heartRate": 70, "timestamp": t},
                {"deviceSn": "CSVWATCH2", "heartRate": 70, "timestamp": t},
            ]),
            None,
        )
        .await;
    assert_eq!(reply.body["inserted"], 2, "{}", reply.text);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = 'CSVWATCH1' AND user_id = 101 AND customer_id = 11 AND org_id = 111").await,
        1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = 'CSVWATCH2' AND user_id = 102 AND customer_id IS NULL AND org_id IS NULL").await,
        1
    );

    // Moving a watch to another user unbinds it from the first.
    std::fs::write(&file, "CSVWATCH1,103,11,112\n").expect("write csv");
    let out = cli(
        &app.database_url,
        &["devices", "import", file.to_str().expect("utf8 path")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sys_user WHERE device_sn = 'CSVWATCH1'")
            .await,
        1
    );
    assert_eq!(
        app.scalar("SELECT id FROM sys_user WHERE device_sn = 'CSVWATCH1'")
            .await,
        103
    );
    app.stop().await;
}

async fn devices_import_rejects_a_bad_file_and_binds_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bindings.csv");
    std::fs::write(&file, "GOODWATCH1,1,1,1\nBAD,2,1,1\n").expect("write csv");
    let out = cli(
        &app.database_url,
        &["devices", "import", file.to_str().expect("utf8 path")],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM sys_user").await, 0);
    app.stop().await;
}

async fn unknown_answer_is_cached_then_expires_so_a_new_binding_is_picked_up(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let app = TestApp::start(db, |c| c.devices.unknown_ttl_secs = 1).await;
    let t = now() - 3600;
    let first = app
        .upload(
            json!([{"deviceSn": "BOOTWATCH1", "heartRate": 70, "timestamp": t}]),
            None,
        )
        .await;
    assert_eq!(first.body["unknown_device"], 1, "{}", first.text);

    // ljwx-boot binds the watch by writing its tables directly.
    app.exec("INSERT INTO sys_user (id, device_sn, customer_id, is_deleted) VALUES (500, 'BOOTWATCH1', 5, 0)")
        .await;
    let mut i = 0;
    eventually(
        "the binding is picked up within 20 s",
        Duration::from_secs(20),
        async || {
            i += 1;
            let reply = app
                .upload(
                    json!([{"deviceSn": "BOOTWATCH1", "heartRate": 70, "timestamp": t + i}]),
                    None,
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            if reply.body["inserted"] == 1 {
                return true;
            }
            assert_eq!(reply.body["unknown_device"], 1);
            false
        },
    )
    .await;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = 'BOOTWATCH1' AND user_id = 500").await,
        1
    );
    app.stop().await;

    // With a long lifetime the unknown answer is served from the cache.
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let app = TestApp::start(db, |c| c.devices.unknown_ttl_secs = 3600).await;
    app.upload(
        json!([{"deviceSn": "BOOTWATCH2", "heartRate": 70, "timestamp": t}]),
        None,
    )
    .await;
    app.exec("INSERT INTO sys_user (id, device_sn, customer_id, is_deleted) VALUES (501, 'BOOTWATCH2', 5, 0)")
        .await;
    let cached = app
        .upload(
            json!([{"deviceSn": "BOOTWATCH2", "heartRate": 70, "timestamp": t + 1}]),
            None,
        )
        .await;
    assert_eq!(cached.body["unknown_device"], 1, "{}", cached.text);
    app.stop().await;
}

async fn newest_user_wins_for_a_device_bound_twice(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.exec("INSERT INTO sys_user (id, device_sn, customer_id, is_deleted) VALUES (10, 'TWICEWATCH', 1, 0)")
        .await;
    app.exec("INSERT INTO sys_user (id, device_sn, customer_id, is_deleted) VALUES (11, 'TWICEWATCH', 2, 0)")
        .await;
    let reply = app
        .upload(
            json!([{"deviceSn": "TWICEWATCH", "heartRate": 70, "timestamp": now()}]),
            None,
        )
        .await;
    assert_eq!(reply.body["inserted"], 1, "{}", reply.text);
    assert_eq!(
        app.scalar("SELECT user_id FROM t_user_health_data").await,
        11
    );
    app.stop().await;
}

async fn deleted_users_and_memberships_do_not_bind(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.exec("INSERT INTO sys_user (id, device_sn, customer_id, is_deleted) VALUES (20, 'GONEWATCH1', 1, 1)")
        .await;
    app.exec("INSERT INTO sys_user (id, device_sn, customer_id, is_deleted) VALUES (21, 'LIVEWATCH1', 1, 0)")
        .await;
    app.exec("INSERT INTO sys_user_org (user_id, org_id, is_deleted) VALUES (21, 7, 1)")
        .await;
    let t = now();
    let reply = app
        .upload(
            json!([
                {"deviceSn": "GONEWATCH1", "heartRate": 70, "timestamp": t},
                {"deviceSn": "LIVEWATCH1", "heartRate": 70, "timestamp": t},
            ]),
            None,
        )
        .await;
    assert_eq!(reply.body["unknown_device"], 1, "{}", reply.text);
    assert_eq!(reply.body["inserted"], 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data WHERE user_id = 21 AND org_id IS NULL")
            .await,
        1
    );
    app.stop().await;
}
