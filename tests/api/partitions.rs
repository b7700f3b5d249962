//! Monthly partitions of the health table on MariaDB and PostgreSQL: a new install's table is
//! partitioned at start, maintenance keeps the months ahead and drops those past retention, a
//! sample whose month has no partition is kept, and an existing table is converted while
//! uploads go on.

use crate::common::{Backend, TestApp, now, records};
use chrono::{DateTime, Utc};
use ljwx_bigscreen::store::{Month, Progress};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

crate::server_tests!(new_install: a_new_install_is_partitioned_and_maintenance_keeps_the_months);
crate::server_tests!(stray: a_sample_whose_month_has_no_partition_is_kept_and_moved_into_it);
crate::server_tests!(convert: an_unpartitioned_table_is_converted_while_uploads_go_on);

/// The months' partition names of `app`'s health table, in order, and the catch-all's.
async fn partition_names(app: &TestApp) -> Vec<String> {
    app.store
        .partitions()
        .await
        .expect("partitions listed")
        .expect("the table is partitioned")
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// The partition name of `month` on `backend`.
fn name_of(backend: Backend, month: Month) -> String {
    match backend {
        Backend::Postgres => format!("t_user_health_data_{}", month.name()),
        _ => month.name(),
    }
}

/// The catch-all partition's name on `backend`.
fn catch_all(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "t_user_health_data_pdefault",
        _ => "pmax",
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("a time")
}

async fn a_new_install_is_partitioned_and_maintenance_keeps_the_months(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.housekeeping.enabled = false).await else {
        return;
    };
    let current = Month::of(Utc::now());
    let mut expected: Vec<String> = (0..=3).map(|n| name_of(backend, current.plus(n))).collect();
    expected.push(catch_all(backend).to_owned());
    assert_eq!(partition_names(&app).await, expected);

    // Samples of now and of 2001 (the first partition holds everything older) are stored,
    // and a re-sent one is a duplicate: the unique key holds across partitions.
    app.bind("PART00001", 1, 1, 1).await;
    let t = now() - 100;
    let first = app.upload(records("PART00001", t, 3), None).await;
    assert_eq!(first.body["inserted"], 3, "{}", first.text);
    let old = app.upload(records("PART00001", 978_307_200, 2), None).await;
    assert_eq!(old.body["inserted"], 2, "{}", old.text);
    let again = app.upload(records("PART00001", t, 3), None).await;
    assert_eq!(again.body["duplicates"], 3, "{}", again.text);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        5
    );

    // The command line lists them too.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ljwx-bigscreen"))
        .args(["--config", "/nonexistent", "partitions", "status"])
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "error")
        .output()
        .expect("run partitions status");
    let listed = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{listed}");
    for name in &expected {
        assert!(
            listed.contains(name.as_str()),
            "{name} missing from:\n{listed}"
        );
    }

    // Maintenance five months on, three ahead, two kept: the months up to eight ahead are
    // created, those before three ahead dropped with their rows (the first one held both
    // uploads).
    let later = current.plus(5).start() + chrono::Duration::days(3);
    let done = app
        .store
        .maintain_partitions(later, 3, 2)
        .await
        .expect("maintained");
    assert_eq!(
        done.created,
        (4..=8)
            .map(|n| name_of(backend, current.plus(n)))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        done.dropped,
        (0..=2)
            .map(|n| name_of(backend, current.plus(n)))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        0
    );
    let mut expected: Vec<String> = (3..=8).map(|n| name_of(backend, current.plus(n))).collect();
    expected.push(catch_all(backend).to_owned());
    assert_eq!(partition_names(&app).await, expected);
    // Run again: nothing left to do.
    let again = app
        .store
        .maintain_partitions(later, 3, 2)
        .await
        .expect("maintained");
    assert!(
        again.created.is_empty() && again.dropped.is_empty(),
        "{again:?}"
    );
    app.stop().await;
}

async fn a_sample_whose_month_has_no_partition_is_kept_and_moved_into_it(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.housekeeping.enabled = false).await else {
        return;
    };
    let current = Month::of(Utc::now());
    // Every month partition gone (MariaDB keeps at least one partition: the catch-all).
    for n in 0..=3 {
        let name = name_of(backend, current.plus(n));
        match backend {
            Backend::Postgres => app.exec(&format!("DROP TABLE {name}")).await,
            _ => {
                app.exec(&format!(
                    "ALTER TABLE t_user_health_data DROP PARTITION {name}"
                ))
                .await
            }
        }
    }
    app.bind("STRAY0001", 1, 1, 1).await;
    let t = now() - 100;
    let reply = app.upload(records("STRAY0001", t, 4), None).await;
    assert_eq!(reply.body["inserted"], 4, "{}", reply.text);
    let in_partition = |name: String| match backend {
        Backend::Postgres => format!("SELECT COUNT(*) FROM {name}"),
        _ => format!("SELECT COUNT(*) FROM t_user_health_data PARTITION ({name})"),
    };
    assert_eq!(
        app.scalar(&in_partition(catch_all(backend).to_owned()))
            .await,
        4
    );

    let done = app
        .store
        .maintain_partitions(Utc::now(), 1, 0)
        .await
        .expect("maintained");
    assert_eq!(
        done.created,
        vec![name_of(backend, current), name_of(backend, current.plus(1))]
    );
    // The samples moved into their month's partition: none lost, none left behind.
    let month = Month::of(at(t));
    assert_eq!(app.scalar(&in_partition(name_of(backend, month))).await, 4);
    assert_eq!(
        app.scalar(&in_partition(catch_all(backend).to_owned()))
            .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        4
    );
    app.stop().await;
}

/// An unpartitioned table with three months of samples is converted while uploads go on:
/// every acknowledged sample is in the partitioned table, in its month's partition, and the
/// unique key still makes re-sent samples duplicates.
async fn an_unpartitioned_table_is_converted_while_uploads_go_on(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.partitions.enabled = false;
        c.housekeeping.enabled = false;
    })
    .await
    else {
        return;
    };
    assert!(app.store.partitions().await.expect("listed").is_none());
    app.bind("CONV00001", 1, 1, 1).await;
    app.bind("CONV00002", 2, 1, 1).await;
    let t = now() - 1_000;
    let days = 86_400;
    // Three months of samples: enough for PostgreSQL to copy them in two chunks.
    let mut stored = 0;
    for from in [t - 70 * days, t - 40 * days, t - 20_000] {
        for chunk in 0..10 {
            let reply = app
                .upload(records("CONV00001", from + chunk * 2_000, 2_000), None)
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            stored += 2_000;
        }
    }

    // Uploads of another device go on during the conversion, bounded in count and time.
    let acked = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let loader = {
        let (client, url, acked, done) = (
            app.client.clone(),
            app.url("/upload_health_data_batch"),
            acked.clone(),
            done.clone(),
        );
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            for n in 0..2_000_i64 {
                if done.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                let body = serde_json::json!({"data": records("CONV00002", t + n * 10, 10)});
                let Ok(resp) = client.post(&url).json(&body).send().await else {
                    continue;
                };
                if resp.status() == 200 {
                    let answer: serde_json::Value = resp.json().await.expect("json");
                    acked.fetch_add(answer["inserted"].as_i64().unwrap_or(0), Ordering::Relaxed);
                }
            }
        })
    };
    crate::common::eventually(
        "uploads before the conversion",
        Duration::from_secs(30),
        async || acked.load(Ordering::Relaxed) > 0,
    )
    .await;
    let before = acked.load(Ordering::Relaxed);
    let mut reports = Vec::new();
    app.store
        .convert_to_partitions(Utc::now(), 3, &mut |progress| reports.push(progress))
        .await
        .expect("converted");
    // A few more uploads after the swap, then stop.
    let after = acked.load(Ordering::Relaxed);
    crate::common::eventually(
        "uploads after the conversion",
        Duration::from_secs(30),
        async || acked.load(Ordering::Relaxed) > after,
    )
    .await;
    done.store(true, Ordering::Relaxed);
    loader.await.expect("loader");
    stored += acked.load(Ordering::Relaxed);

    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM t_user_health_data").await,
        stored
    );
    let names = partition_names(&app).await;
    let oldest = Month::of(at(t - 70 * days));
    assert_eq!(names.first(), Some(&name_of(backend, oldest)));
    assert_eq!(names.last().map(String::as_str), Some(catch_all(backend)));
    assert!(names.contains(&name_of(backend, Month::of(Utc::now()).plus(3))));
    if backend == Backend::Postgres {
        // The copy went on beside the writer, and said how far it was.
        assert!(after > before, "no upload was stored during the copy");
        assert!(
            reports
                .iter()
                .any(|p| matches!(p, Progress::Copied { rows, .. } if *rows >= 50_000)),
            "{reports:?}"
        );
        // The old table is kept for the operator.
        assert!(
            app.scalar("SELECT COUNT(*) FROM t_user_health_data_unpartitioned")
                .await
                > 0
        );
    }
    let again = app
        .upload(records("CONV00001", t - 40 * days, 500), None)
        .await;
    assert_eq!(again.body["duplicates"], 500, "{}", again.text);
    app.stop().await;
}
