//! The service binary as a process of its own.

use ljwx_bigscreen::config::{Config, Secret};
use ljwx_bigscreen::store::DeviceImport;
use serde_json::Value;

/// Readies the database at `database_url` for server processes, as `migrate` and `devices
/// import` do: the schema, and each `(serial, user id)` of `devices` bound to its user in
/// customer 1, organisation 1.
pub async fn prepare_database(
    database_url: &str,
    devices: impl IntoIterator<Item = (String, i64)>,
) {
    let mut config = Config::default();
    config.database.url = Secret::new(database_url.to_owned());
    let store = ljwx_bigscreen::app::open_storage(&config)
        .await
        .expect("migrate");
    let devices: Vec<DeviceImport> = devices
        .into_iter()
        .map(|(device_sn, user_id)| DeviceImport {
            device_sn,
            user_id,
            customer_id: Some(1),
            org_id: Some(1),
        })
        .collect();
    store.bind_devices(&devices).await.expect("bind");
    store.connection().clone().close().await.expect("close");
}

/// The service binary started as a process of its own on `database_url` with `env` set, on a
/// port it picks itself (`127.0.0.1:0`: no port is chosen here and handed over). Returns it,
/// its base URL once it listens, and what it logged until then (JSON lines).
pub async fn start_server_process(
    database_url: &str,
    env: &[(&str, String)],
) -> (std::process::Child, String, String) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ljwx-bigscreen"));
    command
        .args(["--config", "/nonexistent/bigscreen.toml", "serve"])
        .env("DATABASE_URL", database_url)
        .env("LJWX_LISTEN", "127.0.0.1:0")
        .env("LJWX_LOG__FORMAT", "json")
        .env("RUST_LOG", "warn,ljwx_bigscreen=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut server = command.spawn().expect("start server");
    let stderr = server.stderr.take().expect("stderr");
    // The log up to "Listening.", then the rest read and dropped so the server never blocks
    // on a full pipe; the reader ends with the server.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        let mut seen = String::new();
        let mut address = None;
        for line in lines.by_ref() {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("Listening.") {
                address = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|l| l["fields"]["address"].as_str().map(str::to_owned));
                break;
            }
        }
        let _ = tx.send((address, seen));
        lines.for_each(drop);
    });
    let (address, log) = tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .expect("the server starts within 30 s")
        .expect("log reader");
    let address = address.unwrap_or_else(|| panic!("the server did not start: {log}"));
    (server, format!("http://{address}"), log)
}

/// Sends SIGTERM to `server`.
pub fn terminate(server: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// How `server` exited, waiting for it up to 30 s (a drain and the grace of its requests).
pub async fn exit_status(server: &mut std::process::Child) -> std::process::ExitStatus {
    super::eventually_some(
        "the server exits",
        std::time::Duration::from_secs(30),
        async || server.try_wait().expect("wait"),
    )
    .await
}
