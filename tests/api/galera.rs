//! A distributed engine, really run: a three-node MariaDB Galera cluster (multi-primary,
//! started once per run by `.ci/run` with `docs/bench/galera.sh`), one service process
//! writing to each node. Deduplication, idempotency and one open alert per (device, type)
//! hold across the nodes (a conflicting transaction fails certification with a deadlock
//! error, which the writer retries); a node killed under load loses no acknowledged record
//! and the instances on the other nodes carry on.

use crate::common::{
    Backend, TestDb, configured, eventually, exit_status, now, prepare_database, scalar_on,
    start_server_process, terminate,
};
use sea_orm::Database;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The three nodes' URLs (database `ljwx`), space-separated.
const URLS: &str = "BIGSCREEN_TEST_GALERA_URLS";
/// The cluster's directory, for killing a node.
const DIR: &str = "BIGSCREEN_TEST_GALERA_DIR";
/// Records per upload.
const RECORDS: i64 = 20;

async fn post(client: &reqwest::Client, base: &str, body: &Value) -> (u16, Value, bool) {
    let resp = client
        .post(format!("{base}/upload_health_data_batch"))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (status, resp.json().await.unwrap_or(Value::Null), replayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_keep_the_guarantees_and_outlive_a_node() {
    let Some(urls) = configured(URLS, "the Galera test") else {
        return;
    };
    let Some(dir) = configured(DIR, "the Galera test") else {
        return;
    };
    let nodes: Vec<&str> = urls.split_whitespace().collect();
    assert_eq!(nodes.len(), 3, "{URLS}: three URLs");
    // A database of its own, created on node 1 (Galera replicates the DDL to the others).
    let db = TestDb::create_on(Backend::MariaDb, nodes[0].to_owned()).await;
    let name = db.url.rsplit_once('/').expect("name").1.to_owned();
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}/{name}", n.rsplit_once('/').expect("base").0))
        .collect();
    prepare_database(&urls[0], (1..=6).map(|n| (format!("GALERA{n}"), n))).await;
    let mut servers = Vec::new();
    let mut bases = Vec::new();
    for url in &urls {
        let (server, base, _) =
            start_server_process(url, &[("LJWX_WRITER__LINGER_MS", "5".to_owned())]).await;
        servers.push(server);
        bases.push(base);
    }
    let client = reqwest::Client::new();
    let t = now() - 50_000;

    // The same batch sent to the three instances at once, five times: one commits it, the
    // others answer its result; every sample is stored once.
    for round in 0..5 {
        let records: Vec<Value> = (0..RECORDS)
            .map(|i| json!({"deviceSn": "GALERA1", "heartRate": 70, "timestamp": t + round * 100 + i}))
            .collect();
        let body = json!({"data": records, "batchId": format!("galera-{round}")});
        let answers =
            futures::future::join_all(bases.iter().map(|base| post(&client, base, &body))).await;
        for (status, body, _) in &answers {
            assert_eq!(*status, 200, "{body}");
            assert_eq!(
                body["inserted"], RECORDS,
                "every answer is the committed one: {body}"
            );
        }
        let fresh = answers.iter().filter(|(_, _, replayed)| !replayed).count();
        assert_eq!(
            fresh, 1,
            "round {round}: exactly one node committed the batch"
        );
    }
    let check = Database::connect(&urls[0]).await.expect("node 1");
    assert_eq!(
        scalar_on(&check, "SELECT COUNT(*) FROM t_user_health_data").await,
        5 * RECORDS
    );

    // Breaches of one device through all three nodes at once: one open alert.
    for round in 0..4 {
        let body = |n: i64| {
            json!({"data": [{"deviceSn": "GALERA2", "heartRate": 190,
                             "timestamp": t + 10_000 + round * 10 + n}]})
        };
        let bodies: Vec<Value> = (0..3).map(body).collect();
        let answers = futures::future::join_all(
            bases
                .iter()
                .zip(&bodies)
                .map(|(base, body)| post(&client, base, body)),
        )
        .await;
        for (status, body, _) in &answers {
            assert_eq!(*status, 200, "{body}");
        }
    }
    assert_eq!(
        scalar_on(
            &check,
            "SELECT COUNT(*) FROM t_alert_info WHERE open_flag = 1 AND device_sn = 'GALERA2'"
        )
        .await,
        1,
        "one open alert per device and type across the nodes"
    );

    // Load on all three; node 3 killed: nothing acknowledged is lost, instances 1 and 2
    // keep answering.
    let acked: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let after_kill: Arc<Mutex<[usize; 3]>> = Arc::default();
    let killed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|c| {
            let (client, base) = (client.clone(), bases[c].clone());
            let (acked, after_kill, killed, stop) = (
                acked.clone(),
                after_kill.clone(),
                killed.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let give_up = Instant::now() + Duration::from_secs(90);
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) && Instant::now() < give_up && seq < 2_000 {
                    let id = format!("load-{c}-{seq}");
                    let records: Vec<Value> = (0..RECORDS)
                        .map(|i| {
                            json!({"deviceSn": format!("GALERA{}", c + 3), "heartRate": 70,
                                        "timestamp": t + 20_000 + seq * RECORDS + i})
                        })
                        .collect();
                    seq += 1;
                    let sent = client
                        .post(format!("{base}/upload_health_data_batch"))
                        .json(&json!({"data": records, "batchId": id}))
                        .send()
                        .await;
                    // The loop is bounded by its count: a refused upload is simply the next.
                    let Ok(resp) = sent else {
                        continue;
                    };
                    if resp.status() == 200 {
                        let body: Value = resp.json().await.expect("json");
                        acked
                            .lock()
                            .expect("lock")
                            .insert(id, body["inserted"].as_i64().expect("inserted"));
                        if killed.load(Ordering::Relaxed) {
                            after_kill.lock().expect("lock")[c] += 1;
                        }
                    }
                }
            })
        })
        .collect();
    eventually(
        "uploads acknowledged before the kill",
        Duration::from_secs(30),
        async || acked.lock().expect("lock").len() >= 60,
    )
    .await;
    let status =
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bench/galera.sh"))
            .args(["kill", &dir, "3"])
            .status()
            .expect("kill node 3");
    assert!(status.success());
    killed.store(true, Ordering::Relaxed);
    eventually(
        "instances 1 and 2 go on after the node is gone",
        Duration::from_secs(60),
        async || {
            let counts = *after_kill.lock().expect("lock");
            counts[0] >= 20 && counts[1] >= 20
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    // Instances 1 and 2 stop as usual; the one whose node is gone has nothing it could have
    // committed, and waits out connection timeouts on its way down: killed.
    for server in &mut servers[..2] {
        terminate(server);
        exit_status(server).await;
    }
    servers[2].kill().expect("kill instance 3");
    servers[2].wait().expect("instance 3 gone");

    let acked = acked.lock().expect("lock").clone();
    for (id, inserted) in &acked {
        let stored = scalar_on(
            &check,
            &format!("SELECT COUNT(*) FROM t_user_health_data WHERE batch_id = '{id}'"),
        )
        .await;
        assert_eq!(stored, *inserted, "acknowledged batch {id}");
    }
    check.close().await.expect("close");
}
