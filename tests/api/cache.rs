//! The device cache levels: coalesced misses, Redis shared between instances, and Redis
//! failures that never fail an upload.

use crate::common::{Backend, TestApp, TestDb, eventually, now, redis_url};
use crate::{backend_tests, redis_tests};
use ljwx_bigscreen::App;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

backend_tests!(concurrent_misses_for_a_device_share_one_lookup);
redis_tests!(
    redis_level_answers_another_instance,
    activity_counters_are_shared_through_redis
);

async fn concurrent_misses_for_a_device_share_one_lookup(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 50_000;
    let replies = futures::future::join_all((0..20).map(|i| {
        app.upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t + i}]),
            None,
        )
    }))
    .await;
    for reply in &replies {
        assert_eq!(reply.body["inserted"], 1, "{}", reply.text);
    }
    assert_eq!(app.devices.stats().l3_lookups.load(Ordering::Relaxed), 1);
    app.stop().await;
}

async fn redis_level_answers_another_instance(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("WATCH0001", 7, 70, 700).await;
    let first = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": now()}]),
            None,
        )
        .await;
    assert_eq!(first.body["inserted"], 1, "{}", first.text);
    assert_eq!(app.devices.stats().l3_lookups.load(Ordering::Relaxed), 1);

    // A second instance on the same database and Redis: its L1 is empty, Redis answers.
    let mut config = ljwx_bigscreen::Config::default();
    config.database.url = ljwx_bigscreen::config::Secret::new(app.database_url.clone());
    config.redis.url = backend
        .redis()
        .flatten()
        .map(ljwx_bigscreen::config::Secret::new);
    config.redis.key_prefix = app.redis_prefix.clone();
    let other = App::build(config).await.expect("second instance");
    let found = other
        .devices()
        .resolve(&["WATCH0001", "NOBODY001"])
        .await
        .expect("resolve");
    assert_eq!(
        found
            .iter()
            .map(|b| b.map(|b| (b.user_id, b.org_id)))
            .collect::<Vec<_>>(),
        [Some((7, Some(700))), None],
        "in the order asked; the unknown device bound to nobody"
    );
    let stats = other.devices().stats();
    assert_eq!(stats.l2_hits.load(Ordering::Relaxed), 1);
    assert_eq!(
        stats.l3_lookups.load(Ordering::Relaxed),
        1,
        "only the unknown device"
    );
    // Rebinding invalidates both levels: the next lookup reads SQL again.
    other.devices().invalidate(&["WATCH0001".to_owned()]).await;
    other
        .devices()
        .resolve(&["WATCH0001"])
        .await
        .expect("resolve");
    assert_eq!(stats.l3_lookups.load(Ordering::Relaxed), 2);
    other.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_never_fails_an_upload() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.redis.url = Some(ljwx_bigscreen::config::Secret::new("redis://127.0.0.1:1"));
    })
    .await
    else {
        return;
    };
    app.bind("WATCH0001", 1, 1, 1).await;
    let reply = app
        .upload(
            json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": now()}]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["inserted"], 1);
    let health = app.get("/api/health").await;
    assert_eq!(health.status, 200, "Redis is optional: {}", health.text);
    assert_eq!(health.body["components"]["cache"]["status"], "degraded");
    assert_eq!(app.get("/api/stats").await.status, 200);
    app.stop().await;
}

async fn activity_counters_are_shared_through_redis(backend: Backend) {
    let Some(a) = TestApp::spawn(backend).await else {
        return;
    };
    let prefix = a.redis_prefix.clone();
    let db = TestDb::create(backend).await.expect("redis configured");
    let b = TestApp::start(db, |c| c.redis.key_prefix = prefix).await;
    a.bind("WATCH0001", 1, 1, 1).await;
    b.bind("WATCH0002", 2, 1, 1).await;
    let t = now() - 60_000;
    a.upload(
        json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t}]),
        None,
    )
    .await;
    b.upload(
        json!([{"deviceSn": "WATCH0002", "heartRate": 70, "timestamp": t}]),
        None,
    )
    .await;
    // Counts reach Redis within a second or two; wait for them, bounded.
    eventually(
        "the counters are shared",
        Duration::from_secs(15),
        async || {
            let stats = a.get("/api/stats").await;
            stats.body["active_devices_5m"] == 2
                && stats.body["records_per_second"].as_f64() > Some(0.0)
        },
    )
    .await;
    b.stop().await;
    a.stop().await;
}

/// A `redis-server` of the test's own on the Unix socket `socket` (no TCP port to pick and
/// hand over), so it can be stopped and started again at the same address.
fn start_redis(socket: &std::path::Path) -> Child {
    Command::new("redis-server")
        .args(["--port", "0", "--unixsocket"])
        .arg(socket)
        .args([
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed where BIGSCREEN_TEST_REDIS_URL is set")
}

async fn wait_for_redis(socket: &std::path::Path) {
    eventually("redis-server starts", Duration::from_secs(10), async || {
        tokio::net::UnixStream::connect(socket).await.is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_degrades_then_recovers_by_itself() {
    if redis_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("redis.sock");
    let mut redis = start_redis(&socket);
    wait_for_redis(&socket).await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.redis.url = Some(ljwx_bigscreen::config::Secret::new(format!(
            "redis+unix://{}",
            socket.display()
        )));
        c.devices.cache_ttl_secs = 0; // every upload goes past L1
    })
    .await
    .expect("sqlite always runs");
    for n in 1..=3 {
        app.bind(&format!("WATCH000{n}"), n, 1, 1).await;
    }
    let t = now() - 70_000;
    let upload = |device: &'static str, i: i64| {
        app.upload(
            json!([{"deviceSn": device, "heartRate": 70, "timestamp": t + i}]),
            None,
        )
    };
    assert_eq!(upload("WATCH0001", 0).await.body["inserted"], 1);
    assert_eq!(app.devices.redis_status(), Some(true));

    redis.kill().expect("stop redis");
    redis.wait().expect("redis stopped");
    let during = upload("WATCH0002", 1).await;
    assert_eq!(during.status, 200, "{}", during.text);
    assert_eq!(during.body["inserted"], 1);
    assert_eq!(app.devices.redis_status(), Some(false));
    assert_eq!(
        app.get("/api/health").await.body["components"]["cache"]["status"],
        "degraded"
    );

    let mut redis = start_redis(&socket);
    wait_for_redis(&socket).await;
    let mut i = 2;
    eventually(
        "Redis is used again after it came back",
        Duration::from_secs(20),
        async || {
            let reply = upload("WATCH0003", i).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            i += 1;
            app.devices.redis_status() == Some(true)
        },
    )
    .await;
    assert_eq!(
        app.get("/api/health").await.body["components"]["cache"]["status"],
        "up"
    );
    app.stop().await;
    redis.kill().expect("stop redis");
    let _ = redis.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.rate_limit.enabled = true;
        c.rate_limit.per_second = 1;
        c.rate_limit.burst = 2;
    })
    .await
    .expect("sqlite always runs");
    app.bind("WATCH0001", 1, 1, 1).await;
    let t = now() - 80_000;
    let mut codes = Vec::new();
    for i in 0..10 {
        let reply = app
            .upload(
                json!([{"deviceSn": "WATCH0001", "heartRate": 70, "timestamp": t + i}]),
                None,
            )
            .await;
        if reply.status == 429 {
            assert_eq!(reply.body["error"], "rate_limited");
            let retry: u64 = reply.headers["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("seconds");
            assert!((1..=2).contains(&retry), "{retry}");
        }
        codes.push(reply.status.as_u16());
    }
    assert_eq!(&codes[..3], &[200, 200, 200], "the burst passes");
    assert!(codes.contains(&429), "{codes:?}");
    // Only uploads are limited.
    assert_eq!(app.get("/api/stats").await.status, 200);
    // Exactly the accepted uploads are stored.
    let accepted = codes.iter().filter(|&&c| c == 200).count() as i64;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        accepted
    );
    app.stop().await;
}
