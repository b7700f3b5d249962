//! `ljwx-stress run --mode backlog` against the real server (SQLite) whose writer queue is
//! too small for the storm: some uploads are refused with 503 and `Retry-After`, each is sent
//! again until stored, and every user's backlog ends up stored once.

use ljwx_bigscreen::App;
use ljwx_bigscreen::app::{Stop, listen};
use ljwx_bigscreen::config::{Config, Secret};
use ljwx_bigscreen::store::DeviceImport;
use serde_json::Value;

const USERS: u64 = 40;
const BATCHES: u64 = 5;
const BATCH: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_stored_whole_though_part_of_it_is_refused_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/backlog.db?mode=rwc", dir.path().display());
    let mut config = Config::default();
    config.database.url = Secret::new(url.clone());
    // A password of its own: without one the server would write a generated one to ./data.
    config.admin.password = Some(Secret::new("backlog-test-password"));
    // Room for two uploads at a time, and no waiting for it: the storm is refused in part.
    config.writer.max_inflight = 2;
    config.writer.queue_wait_ms = 0;
    let app = App::build(config).await.expect("app");
    let devices: Vec<DeviceImport> = (1..=USERS as i64)
        .map(|n| DeviceImport {
            device_sn: format!("TEST_{n:04}"),
            user_id: n,
            customer_id: Some(1),
            org_id: Some(1),
        })
        .collect();
    app.store().bind_devices(&devices).await.expect("bind");
    let listener = listen(([127, 0, 0, 1], 0).into()).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
        Stop::Now
    }));

    let report_path = dir.path().join("report.json");
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_ljwx-stress"))
        .args([
            "run",
            "--mode",
            "backlog",
            "--url",
            &format!("http://{addr}"),
        ])
        .args([
            "--users",
            &USERS.to_string(),
            "--batches",
            &BATCHES.to_string(),
        ])
        .args([
            "--batch-size",
            &BATCH.to_string(),
            "--devices",
            &USERS.to_string(),
        ])
        .args(["--duration", "120", "--timeout", "30", "--verify-db", &url])
        .arg("--json")
        .arg(&report_path)
        .output()
        .await
        .expect("ljwx-stress runs");
    assert!(
        run.status.success(),
        "ljwx-stress: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report_path).expect("report")).expect("JSON");
    assert_eq!(report["config"]["users_drained"], USERS, "{report:#}");
    assert!(report["config"]["drained_s"].is_f64(), "{report:#}");
    assert_eq!(report["records"]["inserted"], USERS * BATCHES * BATCH);
    assert_eq!(report["verify"]["stored"], USERS * BATCHES * BATCH);
    assert_eq!(report["verify"]["lost_inserted"], 0);
    let refused = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["kind"] == "HTTP_503")
        .map_or(0, |e| e["count"].as_u64().unwrap_or(0));
    assert!(refused > 0, "the storm was never refused: {report:#}");
    assert_eq!(report["retry_after"]["http_503"]["without"], 0);

    let _ = stop.send(());
    server.await.expect("server task").expect("server ran");
}
