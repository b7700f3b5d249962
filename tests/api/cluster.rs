//! A Redis Cluster master killed while two instances take uploads: its replica takes over,
//! no upload fails, and the counters the instances share come back.
//!
//! The cluster is the run's second one (`BIGSCREEN_TEST_REDIS_FAILOVER_DIR`, started by
//! `.ci/run` with `deploy/redis-cluster.sh`): killing a master of the cluster the other tests
//! share would make their cross-instance checks wait out the failover.

use crate::common::{Backend, TestApp, TestDb, configured, eventually, eventually_some, now};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

const DEVICES: i64 = 10;
const RECORDS: i64 = 10;

/// The failover cluster: one directory per node, named by its port, as
/// `deploy/redis-cluster.sh` lays it out.
struct Cluster {
    dir: PathBuf,
    ports: Vec<u16>,
}

impl Cluster {
    fn from_env() -> Option<Cluster> {
        let dir = PathBuf::from(configured(
            "BIGSCREEN_TEST_REDIS_FAILOVER_DIR",
            "the Redis Cluster failover test",
        )?);
        let mut ports: Vec<u16> = std::fs::read_dir(&dir)
            .expect("failover cluster directory")
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        ports.sort_unstable();
        assert_eq!(
            ports.len(),
            6,
            "three masters and three replicas in {dir:?}"
        );
        Some(Cluster { dir, ports })
    }

    fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// `redis-cli` against the node on `port`; its output, `None` when the node is down.
    fn cli(port: u16, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is installed where the failover cluster is configured");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && !text.starts_with("Could not connect")).then_some(text)
    }

    /// The port of the master serving `slot`, asked of any live node: `None` while no
    /// master serves it or the cluster is not `ok`.
    fn master_of(&self, slot: u16) -> Option<u16> {
        let (port, nodes) = self
            .ports
            .iter()
            .find_map(|&p| Some((p, Self::cli(p, &["cluster", "nodes"])?)))?;
        Self::cli(port, &["cluster", "info"])?
            .contains("cluster_state:ok")
            .then_some(())?;
        nodes.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = *fields.get(2)?;
            if !flags.contains("master") || flags.contains("fail") {
                return None;
            }
            let serves = fields[8..].iter().any(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                matches!((from.parse::<u16>(), to.parse::<u16>()), (Ok(f), Ok(t)) if (f..=t).contains(&slot))
            });
            let addr = fields.get(1)?.split('@').next()?;
            serves.then(|| addr.rsplit(':').next()?.parse().ok())?
        })
    }

    /// Whether the node on `port` has a replica that is connected and in sync: only such a
    /// replica can take over. (One started again moments ago, by an earlier run of this
    /// test, may still be loading its copy.)
    fn has_synced_replica(port: u16) -> bool {
        Self::cli(port, &["info", "replication"]).is_some_and(|info| {
            info.lines()
                .any(|line| line.starts_with("slave0:") && line.contains("state=online"))
        })
    }

    fn slot(&self, key: &str) -> u16 {
        Self::cli(self.ports[0], &["cluster", "keyslot", key])
            .and_then(|s| s.trim().parse().ok())
            .expect("cluster keyslot")
    }
}

/// Starts the killed node again when the test ends, passed or failed: it rejoins as a
/// replica, and the cluster has three masters and three replicas for the next run.
struct Revive<'a> {
    dir: &'a Path,
    port: u16,
}

impl Drop for Revive<'_> {
    fn drop(&mut self) {
        let conf = self.dir.join(self.port.to_string()).join("redis.conf");
        let _ = Command::new("redis-server").arg(conf).status();
    }
}

/// Uploads `RECORDS` fresh records of one of the devices to `app`; whether it was stored.
async fn upload(app: &TestApp, next: &AtomicI64) -> Result<(), String> {
    let first = next.fetch_add(RECORDS, Ordering::Relaxed);
    let device = format!("FAILOVER{:02}", (first / RECORDS) % DEVICES);
    let records: Vec<_> = (first..first + RECORDS)
        .map(|t| json!({"deviceSn": device, "heartRate": 70, "timestamp": t}))
        .collect();
    let reply = app.upload(json!(records), None).await;
    if reply.status == 200 && reply.body["inserted"] == RECORDS {
        Ok(())
    } else {
        Err(format!("{} {}", reply.status, reply.text))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_fails_no_upload_and_the_counters_come_back() {
    let Some(cluster) = Cluster::from_env() else {
        return;
    };
    let url = cluster.url();
    let db = TestDb::create(Backend::Sqlite).await.expect("SQLite");
    let prefix = db.redis_prefix.clone();
    let with_cluster = |c: &mut ljwx_bigscreen::Config| {
        c.redis.url = Some(ljwx_bigscreen::config::Secret::new(url.clone()));
        c.redis.key_prefix = prefix.clone();
    };
    let a = Arc::new(TestApp::start(db, with_cluster).await);
    let b = Arc::new(a.another_instance(with_cluster).await);
    for i in 0..DEVICES {
        a.bind(&format!("FAILOVER{i:02}"), i + 1, 1, 1).await;
    }

    // Uploads to both instances, one after another, until told to stop (at most a minute).
    let next = Arc::new(AtomicI64::new(now() - 3_600));
    let sent = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn({
        let (a, b, next, sent, done) = (
            a.clone(),
            b.clone(),
            next.clone(),
            sent.clone(),
            done.clone(),
        );
        async move {
            let mut failures = Vec::new();
            let mut ticks = tokio::time::interval(Duration::from_millis(20));
            for i in 0..3_000 {
                ticks.tick().await;
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let app = if i % 2 == 0 { &a } else { &b };
                if let Err(err) = upload(app, &next).await {
                    failures.push(err);
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }
    });

    // The counters live in one slot (their `{activity}` hash tag): kill the master of it.
    let slot = cluster.slot("activity");
    let victim = eventually_some(
        "the cluster is up, the counters' master with a synced replica",
        Duration::from_secs(30),
        async || {
            cluster
                .master_of(slot)
                .filter(|&port| Cluster::has_synced_replica(port))
        },
    )
    .await;
    eventually(
        "uploads are under way",
        Duration::from_secs(20),
        async || sent.load(Ordering::Relaxed) >= 30,
    )
    .await;
    let pid = std::fs::read_to_string(cluster.dir.join(victim.to_string()).join("redis.pid"))
        .expect("the master's pid file");
    let _revive = Revive {
        dir: &cluster.dir,
        port: victim,
    };
    let killed = Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .expect("kill");
    assert!(killed.success(), "killing the master on {victim}");

    let successor = eventually_some(
        "a replica takes over",
        Duration::from_secs(30),
        async || cluster.master_of(slot).filter(|&port| port != victim),
    )
    .await;
    // Uploads go on after the failover, and the counters are served by the new master.
    let at_failover = sent.load(Ordering::Relaxed);
    eventually(
        "uploads after the failover",
        Duration::from_secs(20),
        async || sent.load(Ordering::Relaxed) >= at_failover + 30,
    )
    .await;
    for app in [&a, &b] {
        eventually(
            "the counters come back",
            Duration::from_secs(20),
            async || {
                let health = app.get("/api/health").await;
                let stats = app.get("/api/stats").await;
                health.body["components"]["cache"]["status"] == "up"
                    && stats.body["active_devices_5m"] == DEVICES
            },
        )
        .await;
    }
    done.store(true, Ordering::Relaxed);
    let failures = loader.await.expect("loader");
    assert!(
        failures.is_empty(),
        "uploads failed while the master on {victim} was replaced by {successor}: {failures:?}"
    );
    let stored = a.scalar("SELECT COUNT(*) FROM t_user_health_data").await;
    assert_eq!(stored, sent.load(Ordering::Relaxed) * RECORDS);
    let b = Arc::into_inner(b).expect("loader done");
    b.stop().await;
    Arc::into_inner(a).expect("loader done").stop().await;
}
