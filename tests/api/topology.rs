//! The production topology of `deploy/`: nginx with the shipped site in front of three
//! instances (processes of the service binary) on one database and the Redis Cluster. A load
//! runs through nginx while each instance in turn gets SIGTERM and starts again on its port,
//! as `deploy/deploy.sh` restarts them.
//!
//! Checked: every answer is 200, or 503/429 with `Retry-After` (no 502, no broken
//! connection); every acknowledged record is stored, exactly once, and nothing else; one open
//! alert per (device, type); `/api/stats` agrees on every instance; a dashboard session opened
//! through nginx before the restarts works on every instance after them; each notification
//! reaches the webhook once.
//!
//! nginx and the instances listen on fixed loopback ports (18300–18303 for MariaDB,
//! 18310–18313 for PostgreSQL): an instance must come back on the port nginx knows.

use crate::alerts::TOKEN;
use crate::common::{
    Backend, Hook, Nginx, Supervisor, TEST_PASSWORD, TestDb, eventually, exit_status, now,
    prepare_database, redis_cluster_url, scalar_on, start_server_process, terminate,
};
use sea_orm::{Database, DatabaseConnection};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;

/// Devices the load posts for: several uploads of one device are in flight on different
/// instances at once.
const DEVICES: i64 = 12;
/// Records per upload.
const RECORDS: i64 = 40;
/// One upload every this often (open loop): 2 000 records/s.
const EVERY: Duration = Duration::from_millis(20);
/// Uploads answered before the first restart, and again after the last.
const UPLOADS_AROUND: i64 = 100;
/// deploy.sh's pause between restarts: the shipped upstream's `fail_timeout`.
const SETTLE: Duration = Duration::from_secs(3);
/// At most this many uploads, whatever happens.
const MAX_UPLOADS: i64 = 4_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_behind_nginx_survives_rolling_restarts() {
    rolling_restarts(Backend::MariaDb, 18_300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_behind_nginx_survives_rolling_restarts() {
    rolling_restarts(Backend::Postgres, 18_310).await;
}

/// The instances, killed if the test fails before stopping them.
struct Instances {
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
    env: Vec<(&'static str, String)>,
    database_url: String,
}

impl Instances {
    async fn start(database_url: &str, ports: Vec<u16>, env: Vec<(&'static str, String)>) -> Self {
        let mut instances = Instances {
            children: ports.iter().map(|_| None).collect(),
            ports,
            env,
            database_url: database_url.to_owned(),
        };
        for i in 0..instances.ports.len() {
            instances.start_one(i).await;
        }
        instances
    }

    async fn start_one(&mut self, i: usize) {
        let mut env = self.env.clone();
        env.push(("LJWX_LISTEN", format!("127.0.0.1:{}", self.ports[i])));
        let (child, _, _) = start_server_process(&self.database_url, &env).await;
        self.children[i] = Some(child);
    }

    /// SIGTERM to instance `i`, which must drain and exit 0 within the drain and grace.
    async fn stop_one(&mut self, i: usize) {
        let mut child = self.children[i].take().expect("running");
        terminate(&child);
        let status = exit_status(&mut child).await;
        assert!(status.success(), "instance {i} exited with {status}");
    }

    fn bases(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the load saw of one upload.
enum Outcome {
    /// 200: its `RECORDS` records stored.
    Stored,
    /// 503 or 429 with `Retry-After`: nothing stored.
    Refused,
}

async fn upload(client: &reqwest::Client, url: &str, k: i64, base: i64) -> Result<Outcome, String> {
    let device = format!("TOPO{:04}", k % DEVICES);
    let first = base + (k / DEVICES) * RECORDS;
    let records: Vec<Value> = (0..RECORDS)
        .map(|j| {
            // The first two records of each upload raise and escalate a blood-oxygen alert.
            let spo2 = match j {
                0 => 89,
                1 => 84,
                _ => 97,
            };
            json!({"deviceSn": device, "heartRate": 70, "bloodOxygen": spo2, "timestamp": first + j})
        })
        .collect();
    let resp = client
        .post(url)
        .json(&json!({ "data": records }))
        .send()
        .await
        .map_err(|err| format!("upload {k}: {err:?}"))?;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key("retry-after");
    let text = resp
        .text()
        .await
        .map_err(|err| format!("upload {k}: {err:?}"))?;
    match status {
        200 => {
            let body: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
            match body["inserted"].as_i64() {
                Some(RECORDS) => Ok(Outcome::Stored),
                _ => Err(format!("upload {k}: 200 but {text}")),
            }
        }
        503 | 429 if retry_after => Ok(Outcome::Refused),
        _ => Err(format!("upload {k}: {status} {text}")),
    }
}

async fn rolling_restarts(backend: Backend, first_port: u16) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let Some(cluster) = redis_cluster_url() else {
        return;
    };
    let hook = Hook::start(0);
    let env = vec![
        ("LJWX_ADMIN__PASSWORD", TEST_PASSWORD.to_owned()),
        ("LJWX_ADMIN__TOKEN", TOKEN.to_owned()),
        ("LJWX_ALERTS__WEBHOOK_URL", hook.url.clone()),
        ("REDIS_URL", cluster),
        ("LJWX_REDIS__KEY_PREFIX", db.redis_prefix.clone()),
        (
            "LJWX_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.1/32"]"#.to_owned(),
        ),
    ];
    prepare_database(
        &db.url,
        (0..DEVICES).map(|i| (format!("TOPO{i:04}"), i + 1)),
    )
    .await;
    let ports: Vec<u16> = (1..=3).map(|i| first_port + i).collect();
    let mut instances = Instances::start(&db.url, ports.clone(), env).await;
    let Some(nginx) = Nginx::start(first_port, &ports).await else {
        return;
    };
    let sql = Database::connect(&db.url).await.expect("connect");
    let (login, supervisor) = Supervisor::login_at(&nginx.base, TEST_PASSWORD).await;
    assert_eq!(login.status, 303, "login through nginx: {}", login.text);

    // The load: one upload every EVERY through nginx until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicI64::new(0));
    let loader = tokio::spawn({
        let (stop, answered, url) = (
            stop.clone(),
            answered.clone(),
            format!("{}/upload_health_data_batch", nginx.base),
        );
        async move {
            let client = reqwest::Client::new();
            let base = now() - 7_200;
            let mut uploads = JoinSet::new();
            let mut ticks = tokio::time::interval(EVERY);
            for k in 0..MAX_UPLOADS {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                ticks.tick().await;
                let (client, url, answered) = (client.clone(), url.clone(), answered.clone());
                uploads.spawn(async move {
                    let outcome = upload(&client, &url, k, base).await;
                    answered.fetch_add(1, Ordering::Relaxed);
                    outcome
                });
            }
            uploads.join_all().await
        }
    });

    // Restarts under a load in full swing, and a load that goes on after them.
    let answers = async |more: i64| {
        let until = answered.load(Ordering::Relaxed) + more;
        eventually(
            "the load is answered",
            Duration::from_secs(30),
            async || answered.load(Ordering::Relaxed) >= until,
        )
        .await;
    };
    answers(UPLOADS_AROUND).await;
    for i in 0..ports.len() {
        instances.stop_one(i).await;
        instances.start_one(i).await;
        // As deploy.sh: the upstream's fail_timeout, for nginx to take it back.
        tokio::time::sleep(SETTLE).await;
    }
    answers(UPLOADS_AROUND).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = loader.await.expect("loader");

    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} uploads failed: {:?}\nnginx: {}",
        failures.len(),
        outcomes.len(),
        &failures[..failures.len().min(5)],
        nginx.error_log()
    );
    let acknowledged = RECORDS
        * outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Outcome::Stored)))
            .count() as i64;
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Outcome::Refused)))
        .count();
    eprintln!(
        "{backend:?}: {} uploads through nginx, {acknowledged} records stored, {refused} refused",
        outcomes.len()
    );
    assert!(acknowledged > 0, "nothing was stored");
    let rows = scalar_on(&sql, "SELECT COUNT(*) FROM t_user_health_data").await;
    assert_eq!(rows, acknowledged, "stored rows = acknowledged records");

    let twice = scalar_on(
        &sql,
        "SELECT COUNT(*) FROM (SELECT device_sn, alert_type FROM t_alert_info \
         WHERE open_flag = 1 GROUP BY device_sn, alert_type HAVING COUNT(*) > 1) t",
    )
    .await;
    assert_eq!(twice, 0, "one open alert per (device, type)");
    assert!(scalar_on(&sql, "SELECT COUNT(*) FROM t_alert_info").await > 0);

    let bases = instances.bases();
    stats_agree(&bases).await;
    for base in &bases {
        let page = supervisor.get_at(base, "/system").await;
        assert_eq!(page.status, 200, "the session on {base}: {}", page.text);
    }
    notifications_arrive_once(&sql, &hook).await;

    for i in 0..ports.len() {
        instances.stop_one(i).await;
    }
    drop(nginx);
    hook.stop().await;
}

/// Every instance reports the same database-derived figures.
async fn stats_agree(bases: &[String]) {
    let client = reqwest::Client::new();
    eventually(
        "/api/stats agrees on every instance",
        Duration::from_secs(20),
        async || {
            let mut seen = HashSet::new();
            for base in bases {
                let Ok(resp) = client.get(format!("{base}/api/stats")).send().await else {
                    return false;
                };
                let Ok(stats) = resp.json::<Value>().await else {
                    return false;
                };
                seen.insert((
                    stats["today_records"].clone(),
                    stats["active_devices"].clone(),
                    stats["active_users"].clone(),
                    stats["active_devices_5m"].clone(),
                ));
            }
            seen.len() == 1 && seen.iter().all(|s| s.3 == DEVICES)
        },
    )
    .await;
}

/// Every notification committed to the outbox reaches the webhook, and once.
async fn notifications_arrive_once(sql: &DatabaseConnection, hook: &Hook) {
    eventually(
        "every notification delivered",
        Duration::from_secs(30),
        async || {
            scalar_on(
                sql,
                "SELECT COUNT(*) FROM t_alert_outbox WHERE sent_at IS NULL",
            )
            .await
                == 0
        },
    )
    .await;
    let outbox = scalar_on(sql, "SELECT COUNT(*) FROM t_alert_outbox").await;
    let received = hook.received();
    let ids: HashSet<String> = received
        .iter()
        .map(|n| n["notification_id"].to_string())
        .collect();
    assert_eq!(ids.len(), received.len(), "a notification arrived twice");
    assert_eq!(received.len() as i64, outbox, "every notification arrived");
}
