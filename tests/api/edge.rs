//! The connection loop's limits over raw sockets: slow clients are cut off and never hold
//! up others, idle connections close, the connection cap holds, HTTP/2 streams are capped,
//! and every non-upload body is bounded before it is read.

use crate::common::{Backend, TestApp, now};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection, sends `head` at once (then says so on `started`), then `trickle` one
/// byte every 100 ms until the server closes the connection; returns what the server answered
/// and when it closed.
async fn trickler(
    addr: std::net::SocketAddr,
    head: String,
    trickle: Vec<u8>,
    started: tokio::sync::mpsc::Sender<()>,
) -> (String, Instant) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await.expect("head");
    let _ = started.send(()).await;
    let writer = tokio::spawn(async move {
        for byte in trickle {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
        }
        // Keep the connection open until the server closes it.
        std::future::pending::<()>().await;
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), read.read_to_end(&mut answer)).await;
    writer.abort();
    (
        String::from_utf8_lossy(&answer).into_owned(),
        Instant::now(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_clients_are_cut_off_and_never_hold_up_an_upload() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.header_read_timeout_secs = 3;
        c.server.body_timeout_secs = 3;
        c.server.body_min_bytes_per_sec = 1024;
        // Fewer upload slots than trickling bodies: slots are not taken while a body arrives.
        c.writer.max_inflight = 100;
    })
    .await
    .expect("sqlite always runs");
    app.bind("EDGEWATCH1", 1, 1, 1).await;
    let addr = app.addr;
    let started = Instant::now();
    let (ready, mut all_ready) = tokio::sync::mpsc::channel(300);
    let headers: Vec<_> = (0..150)
        .map(|_| {
            tokio::spawn(trickler(
                addr,
                "POST /upload_health_data_batch HTTP/1.1\r\nHost: x\r\n".to_owned(),
                b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(5),
                ready.clone(),
            ))
        })
        .collect();
    let bodies: Vec<_> = (0..150)
        .map(|_| {
            tokio::spawn(trickler(
                addr,
                "POST /upload_health_data_batch HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                    .to_owned(),
                vec![b' '; 4000],
                ready.clone(),
            ))
        })
        .collect();
    drop(ready);
    // Every trickler has connected and sent its start.
    for _ in 0..300 {
        all_ready.recv().await.expect("a trickler started");
    }

    let upload = tokio::time::timeout(
        Duration::from_secs(1),
        app.upload(
            json!([{"deviceSn": "EDGEWATCH1", "heartRate": 70, "timestamp": now() - 5}]),
            None,
        ),
    )
    .await
    .expect("a normal upload is answered within 1 s beside 300 slow clients");
    assert_eq!(upload.status, 200, "{}", upload.text);

    for header in headers {
        let (answer, closed) = header.await.expect("trickler");
        assert_eq!(
            answer, "",
            "a half-sent header gets no answer, only a close"
        );
        let after = closed - started;
        assert!(
            after >= Duration::from_secs(2),
            "closed before its timeout: {after:?}"
        );
    }
    for body in bodies {
        let (answer, closed) = body.await.expect("trickler");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout"), "{answer}");
        assert!(closed - started >= Duration::from_secs(2));
    }
    // They never reached the database.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_ingest_batch").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn idle_and_silent_connections_are_closed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.idle_timeout_secs = 1;
        c.server.header_read_timeout_secs = 1;
    })
    .await
    .expect("sqlite always runs");
    // A keep-alive connection after its answer.
    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut buf = vec![0u8; 64 * 1024];
    let n = idle.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    for (name, stream) in [("idle", &mut idle), ("silent", &mut silent)] {
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("the {name} connection stays open"));
        assert!(matches!(closed, Ok(0) | Err(_)), "{name}: {closed:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_one_to_close() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.max_connections = 2;
    })
    .await
    .expect("sqlite always runs");
    let first = TcpStream::connect(app.addr).await.expect("connect");
    let _second = TcpStream::connect(app.addr).await.expect("connect");
    let client = reqwest::Client::new();
    let waiting = tokio::spawn({
        let url = app.url("/api/health");
        async move { client.get(url).send().await.map(|r| r.status()) }
    });
    // Not served while two connections are open: the server does not even accept it.
    let mut waiting = waiting;
    let served = tokio::time::timeout(Duration::from_millis(700), &mut waiting).await;
    assert!(served.is_err(), "a third connection was served: {served:?}");
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once a connection closed")
        .expect("task")
        .expect("request");
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn http2_connections_are_told_the_stream_limit() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.http2_max_streams = 7;
    })
    .await
    .expect("sqlite always runs");
    let stream = TcpStream::connect(app.addr).await.expect("connect");
    let (_send, mut connection) = h2::client::handshake(stream).await.expect("h2 handshake");
    let limit = tokio::time::timeout(Duration::from_secs(10), async {
        std::future::poll_fn(|cx| {
            let _ = std::pin::Pin::new(&mut connection).poll(cx);
            match connection.max_concurrent_send_streams() {
                7 => std::task::Poll::Ready(7),
                _ => std::task::Poll::Pending,
            }
        })
        .await
    })
    .await
    .expect("the server's SETTINGS arrive");
    assert_eq!(limit, 7);
    app.stop().await;
}

#[tokio::test]
async fn non_upload_bodies_are_bounded_before_they_are_read() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.max_form_bytes = 4096;
    })
    .await
    .expect("sqlite always runs");
    let big = "x".repeat(5000);
    // Declared too large: refused on the header alone.
    let declared = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("password={big}"))
        .send()
        .await
        .expect("request");
    assert_eq!(declared.status(), 413);
    let body: serde_json::Value = declared.json().await.expect("json");
    assert_eq!(body["error"], "body_too_large");
    // Chunked, without a length: cut off once past the limit.
    let chunks = futures::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 1000]))),
    );
    let chunked = app
        .client
        .post(app.url("/api/alerts/1/ack"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("request");
    assert_eq!(chunked.status(), 413);
    // Within the limit, the form works as before.
    let login = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .expect("form");
    assert_eq!(login.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_page_beyond_the_data_is_empty() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.admin.token = Some(ljwx_bigscreen::config::Secret::new("edge-token"));
    })
    .await
    .expect("sqlite always runs");
    let reply = app
        .admin_get("/api/alerts?page=434963328693134528", "edge-token")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["items"], json!([]));
    assert_eq!(reply.body["total"], 0);
    let supervisor = app.login().await;
    for path in [
        "/alerts?page=434963328693134528",
        "/devices?page=18446744073709551615&unknown_after=%FF%FE%3Cx%3E",
    ] {
        let page = supervisor.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
    }
    app.stop().await;
}
