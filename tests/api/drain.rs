//! An instance given SIGTERM drains before it stops, so a proxy in front of it loses nothing
//! in a rolling restart: for `server.drain_secs` it goes on answering — on kept-alive and on
//! new connections — with `Connection: close`, then stops accepting, answers the connections
//! it took (also one whose first request is still arriving when it stops accepting, or has
//! not begun to), stores everything it acknowledged and exits 0.

use crate::common::{
    Backend, TestDb, eventually, eventually_some, exit_status, now, prepare_database, scalar_on,
    start_server_process, terminate,
};
use sea_orm::Database;
use serde_json::json;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEVICE: &str = "DRAINWATCH1";
const RECORDS: i64 = 10;

/// Uploads the next `RECORDS` records of [`DEVICE`] through `client`; the answer's status and
/// its `Connection` header.
async fn upload(client: &reqwest::Client, base: &str, next: &AtomicI64) -> (u16, Option<String>) {
    let first = next.fetch_add(RECORDS, Ordering::Relaxed);
    let records: Vec<_> = (first..first + RECORDS)
        .map(|t| json!({"deviceSn": DEVICE, "heartRate": 70, "timestamp": t}))
        .collect();
    let resp = client
        .post(format!("{base}/upload_health_data_batch"))
        .json(&json!({ "data": records }))
        .send()
        .await
        .expect("the draining instance answers");
    let connection = resp
        .headers()
        .get("connection")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (resp.status().as_u16(), connection)
}

/// An instance on `db` given SIGTERM (a drain of 1 s), its address, and a connection opened
/// to it once it drains (its answers say `close`) that has sent nothing yet.
async fn draining_with_a_quiet_connection(
    db: &TestDb,
) -> (std::process::Child, String, tokio::net::TcpStream) {
    let (server, base, _) =
        start_server_process(&db.url, &[("LJWX_SERVER__DRAIN_SECS", "1".to_owned())]).await;
    let address = base.trim_start_matches("http://").to_owned();
    terminate(&server);
    let quiet = eventually_some("the drain begins", Duration::from_secs(10), async || {
        let (status, connection) = upload(
            &reqwest::Client::new(),
            &base,
            &AtomicI64::new(now() - 70_000),
        )
        .await;
        assert_eq!(status, 200);
        if connection.as_deref() != Some("close") {
            return None;
        }
        Some(
            tokio::net::TcpStream::connect(&address)
                .await
                .expect("connect while draining"),
        )
    })
    .await;
    (server, address, quiet)
}

/// Everything `connection` receives until the instance closes it (a reset fails the test).
async fn read_answer(mut connection: tokio::net::TcpStream) -> String {
    let mut answer = String::new();
    connection
        .read_to_string(&mut answer)
        .await
        .expect("an answer, not a reset");
    answer
}

/// Waits until nothing accepts connections at `address`.
async fn stops_accepting(address: &str) {
    eventually(
        "the instance stops accepting",
        Duration::from_secs(10),
        async || tokio::net::TcpStream::connect(address).await.is_err(),
    )
    .await;
}

/// An HTTP/1.1 upload of the JSON `body` to `address`, as bytes on the wire.
fn upload_request(address: &str, body: &str) -> String {
    format!(
        "POST /upload_health_data_batch HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A SQLite database with the schema and [`DEVICE`] bound.
async fn bound_database() -> Option<TestDb> {
    let db = TestDb::create(Backend::Sqlite).await?;
    prepare_database(&db.url, [(DEVICE.to_owned(), 1)]).await;
    Some(db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_with_connection_close_then_stops_having_stored_everything() {
    let Some(db) = bound_database().await else {
        return;
    };
    let (mut server, base, _) =
        start_server_process(&db.url, &[("LJWX_SERVER__DRAIN_SECS", "3".to_owned())]).await;
    let start = now() - 80_000;
    let next = AtomicI64::new(start);
    let kept = reqwest::Client::new();
    assert_eq!(
        upload(&kept, &base, &next).await,
        (200, None),
        "before the signal"
    );

    terminate(&server);
    // The kept-alive connection is answered, and told to close (the first upload may still
    // be answered before the signal is handled).
    eventually_some(
        "answers close their connection",
        Duration::from_secs(10),
        async || {
            (upload(&kept, &base, &next).await == (200, Some("close".to_owned()))).then_some(())
        },
    )
    .await;
    // A new connection is still accepted and answered during the drain.
    let fresh = reqwest::Client::new();
    assert_eq!(
        upload(&fresh, &base, &next).await,
        (200, Some("close".to_owned()))
    );

    let exit = exit_status(&mut server).await;
    assert!(exit.success(), "{exit}");
    assert!(
        reqwest::get(format!("{base}/api/health")).await.is_err(),
        "nothing listens after the drain"
    );
    let sent = next.load(Ordering::Relaxed) - start;
    let db_conn = Database::connect(&db.url).await.expect("connect");
    let stored = scalar_on(
        &db_conn,
        &format!("SELECT COUNT(*) FROM t_user_health_data WHERE device_sn = '{DEVICE}'"),
    )
    .await;
    // Every upload was answered 200 (one that was not would be missing here).
    assert_eq!(stored, sent);
}

/// A connection taken during the drain whose request is only partly there when the instance
/// stops accepting is answered, not reset (nginx may have been sending it just then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_taken_while_draining_gets_its_first_request_answered() {
    let Some(db) = bound_database().await else {
        return;
    };
    let (mut server, address, mut quiet) = draining_with_a_quiet_connection(&db).await;
    let body =
        json!({"data": [{"deviceSn": DEVICE, "heartRate": 71, "timestamp": now() - 60_000}]})
            .to_string();
    let request = upload_request(&address, &body);
    // The first bytes now, the rest once the instance no longer accepts.
    let (head, rest) = request.split_at(20);
    quiet
        .write_all(head.as_bytes())
        .await
        .expect("send the start");
    stops_accepting(&address).await;
    quiet
        .write_all(rest.as_bytes())
        .await
        .expect("send the rest");
    let answer = read_answer(quiet).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    let exit = exit_status(&mut server).await;
    assert!(exit.success(), "{exit}");
}

/// A connection taken during the drain that has sent nothing yet when the instance stops
/// accepting may still send its request, and it is answered, not reset: nginx opens a
/// connection and sends its request right after, and the instance may read it only later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_taken_while_draining_may_still_send_its_first_request() {
    let Some(db) = bound_database().await else {
        return;
    };
    let (mut server, address, mut quiet) = draining_with_a_quiet_connection(&db).await;
    stops_accepting(&address).await;
    let body =
        json!({"data": [{"deviceSn": DEVICE, "heartRate": 72, "timestamp": now() - 50_000}]})
            .to_string();
    quiet
        .write_all(upload_request(&address, &body).as_bytes())
        .await
        .expect("send the request");
    let answer = read_answer(quiet).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let exit = exit_status(&mut server).await;
    assert!(exit.success(), "{exit}");
}
