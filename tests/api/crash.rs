//! Acknowledged means stored: kill the server process (SIGKILL) in the middle of uploads and
//! check that every acknowledged record is in the database, and that the next start brings
//! the daily counters to exactly what is stored.

use crate::common::{
    Backend, TestDb, eventually, now, prepare_database, scalar_on, start_server_process,
};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clients uploading at once.
const CLIENTS: usize = 8;
/// Records per upload.
const RECORDS: i64 = 50;
/// Acknowledged uploads to wait for before the kill.
const ACKS_BEFORE_KILL: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_record_through_sigkill() {
    kill_during_uploads(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_keeps_every_acknowledged_record_through_sigkill() {
    kill_during_uploads(Backend::MariaDb).await;
}

async fn kill_during_uploads(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    // Schema and bindings first, in process.
    prepare_database(
        &db.url,
        (1..=CLIENTS as i64).map(|n| (format!("KILLWATCH{n}"), n)),
    )
    .await;

    // The counts of the commits are never folded before the kill: they must survive it.
    let env = [
        ("LJWX_WRITER__LINGER_MS", "20".to_owned()),
        ("LJWX_WRITER__FOLD_MS", "3600000".to_owned()),
    ];
    let (mut server, base, _) = start_server_process(&db.url, &env).await;
    let client = reqwest::Client::new();

    let acked: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let t = now() - 90_000;
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|c| {
            let (client, base, acked, stop) = (client.clone(), base.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seq: i64 = 0;
                // Bounded: stops at the kill, or after 60 s whatever happens.
                let give_up = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < give_up {
                    let batch_id = format!("kill-{c}-{seq}");
                    let records: Vec<Value> = (0..RECORDS)
                        .map(|i| json!({"deviceSn": format!("KILLWATCH{c}"), "heartRate": 70, "timestamp": t + seq * RECORDS + i}))
                        .collect();
                    seq += 1;
                    let Ok(resp) = client
                        .post(format!("{base}/upload_health_data_batch"))
                        .json(&json!({"data": records, "batchId": batch_id}))
                        .send()
                        .await
                    else {
                        break;
                    };
                    if resp.status() == 200
                        && let Ok(body) = resp.json::<Value>().await
                    {
                        let inserted = body["inserted"].as_i64().expect("inserted");
                        acked.lock().expect("lock").insert(batch_id, inserted);
                    }
                }
            })
        })
        .collect();

    eventually(
        "enough uploads acknowledged before the kill",
        Duration::from_secs(60),
        async || acked.lock().expect("lock").len() >= ACKS_BEFORE_KILL,
    )
    .await;
    server.kill().expect("SIGKILL");
    server.wait().expect("server gone");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }

    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= ACKS_BEFORE_KILL);
    let db_conn = Database::connect(&db.url).await.expect("connect");
    let backend = db_conn.get_database_backend();
    let rows = db_conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT batch_id, COUNT(*) AS n FROM t_user_health_data GROUP BY batch_id".to_owned(),
        ))
        .await
        .expect("count per batch");
    let stored: HashMap<String, i64> = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "batch_id").expect("batch id"),
                r.try_get::<i64>("", "n").expect("count"),
            )
        })
        .collect();
    for (batch_id, inserted) in &acked {
        assert_eq!(
            inserted, &RECORDS,
            "{batch_id} was answered with fewer new rows"
        );
        assert_eq!(
            stored.get(batch_id),
            Some(inserted),
            "acknowledged batch {batch_id} lost"
        );
    }

    // The daily counters of the killed server's commits were still pending; the next start
    // folds them, and then they count every stored row exactly once.
    let scalar = async |sql: &str| scalar_on(&db_conn, sql).await;
    let stored_rows = scalar("SELECT COUNT(*) FROM t_user_health_data").await;
    assert!(scalar("SELECT COUNT(*) FROM t_device_daily_pending").await > 0);
    assert_eq!(scalar("SELECT COUNT(*) FROM t_device_daily").await, 0);
    let (mut restarted, _, _) = start_server_process(&db.url, &[]).await;
    eventually(
        "the pending counts folded",
        Duration::from_secs(30),
        async || scalar("SELECT COUNT(*) FROM t_device_daily_pending").await == 0,
    )
    .await;
    restarted.kill().expect("stop");
    restarted.wait().expect("server gone");
    assert_eq!(
        scalar("SELECT COALESCE(SUM(records), 0) FROM t_device_daily").await,
        stored_rows
    );
    db_conn.close().await.expect("close");
}
