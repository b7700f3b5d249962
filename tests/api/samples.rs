//! The samples API (DESIGN §12): a device's and a wearer's samples paged by cursor, the latest
//! sample, hourly and daily summaries, the read token, and the query plans (an index serves
//! every query).

use crate::common::{Backend, Reply, TestApp, now};
use chrono::DateTime;
use ljwx_bigscreen::config::Secret;
use ljwx_bigscreen::store::{SampleKey, SampleOwner, SampleQuery, SummaryQuery};
use serde_json::{Value, json};

crate::backend_tests!(
    device_and_wearer_samples_page_by_cursor_in_time_order,
    summaries_give_min_mean_max_and_the_days_steps,
    the_read_token_reads_and_nothing_else,
    every_read_query_is_served_by_an_index,
);

/// The admin token of these tests.
pub const ADMIN: &str = "samples-admin-token";
/// The read-only token of these tests.
pub const READER: &str = "samples-read-token";

/// A server with both tokens.
pub async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        c.admin.token = Some(Secret::new(ADMIN));
        c.admin.read_token = Some(Secret::new(READER));
    })
    .await
}

/// Samples of `device`, one a second from `from`, heart rate 60 + i.
fn samples(device: &str, from: i64, count: i64) -> Value {
    (0..count)
        .map(|i| json!({"deviceSn": device, "heartRate": 60 + i, "timestamp": from + i}))
        .collect()
}

/// Every page of `path` (with a query) from `cursor` on, following `next_cursor`.
async fn all_pages_from(app: &TestApp, path: &str, cursor: Option<String>) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor = cursor;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let page = app.admin_get(&url, READER).await;
        assert_eq!(page.status, 200, "{url}: {}", page.text);
        pages += 1;
        items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (items, pages),
        }
        assert!(pages < 100, "paging never ends");
    }
}

/// Every page of `path` (with a query), following `next_cursor`.
async fn all_pages(app: &TestApp, path: &str) -> (Vec<Value>, usize) {
    all_pages_from(app, path, None).await
}

fn timestamps(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|s| s["timestamp"].as_i64().unwrap_or(-1))
        .collect()
}

async fn device_and_wearer_samples_page_by_cursor_in_time_order(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let t = now() - 10_000;
    app.bind("READ00001", 7, 1, 10).await;
    app.bind("READ00009", 8, 1, 10).await;
    assert_eq!(
        app.upload(samples("READ00001", t, 25), None).await.status,
        200
    );
    app.upload(samples("READ00009", t, 5), None).await;
    // The wearer changes watches: their samples are of both.
    app.bind("READ00002", 7, 1, 10).await;
    app.upload(samples("READ00002", t + 100, 10), None).await;

    let (items, pages) = all_pages(&app, "/api/devices/READ00001/samples?limit=10").await;
    assert_eq!(pages, 3);
    assert_eq!(timestamps(&items), (t..t + 25).collect::<Vec<_>>());
    let first = &items[0];
    assert_eq!(first["deviceSn"], "READ00001");
    assert_eq!(first["heartRate"], 60);
    assert_eq!(first["userId"], 7);
    assert_eq!(first["customerId"], 1);
    assert_eq!(first["orgId"], 10);

    let (items, _) = all_pages(&app, "/api/users/7/samples?limit=7").await;
    let expected: Vec<i64> = (t..t + 25).chain(t + 100..t + 110).collect();
    assert_eq!(timestamps(&items), expected);
    assert!(items.iter().all(|s| s["userId"] == 7));

    // A time window, in epoch seconds and RFC 3339.
    let from = DateTime::from_timestamp(t + 5, 0)
        .expect("time")
        .to_rfc3339();
    let page = app
        .admin_get(
            &format!(
                "/api/devices/READ00001/samples?from={}&to={}",
                from.replace('+', "%2B"),
                t + 9
            ),
            READER,
        )
        .await;
    assert_eq!(
        timestamps(page.body["items"].as_array().expect("items")),
        (t + 5..=t + 9).collect::<Vec<_>>()
    );
    assert!(page.body.get("next_cursor").is_none());

    // Boundaries hold while samples are stored meanwhile: a later sample shows on a later
    // page, an earlier one (behind the cursor) never moves the pages already read.
    let first = app
        .admin_get("/api/devices/READ00001/samples?limit=10", READER)
        .await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    app.upload(samples("READ00001", t - 50, 1), None).await;
    app.upload(samples("READ00001", t + 40, 1), None).await;
    let (rest, _) = all_pages_from(
        &app,
        "/api/devices/READ00001/samples?limit=10",
        Some(cursor),
    )
    .await;
    let expected: Vec<i64> = (t + 10..t + 25).chain([t + 40]).collect();
    assert_eq!(timestamps(&rest), expected);

    let latest = app.admin_get("/api/devices/READ00001/latest", READER).await;
    assert_eq!(latest.status, 200, "{}", latest.text);
    assert_eq!(latest.body["timestamp"], t + 40);
    let none = app.admin_get("/api/devices/NOSUCH01/latest", READER).await;
    assert_eq!(none.status, 404);
    assert_eq!(none.body["error"], "not_found");

    for bad in [
        "/api/devices/READ00001/samples?cursor=not-a-cursor",
        "/api/devices/READ00001/samples?from=yesterday",
        "/api/devices/READ00001/samples?limit=0",
        "/api/devices/x/samples",
    ] {
        let reply = app.admin_get(bad, READER).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        assert_eq!(reply.body["error"], "invalid_request", "{bad}");
    }
    app.stop().await;
}

fn stat(reply: &Reply, bucket: usize, field: &str) -> (f64, f64, f64, i64) {
    let s = &reply.body[bucket][field];
    (
        s["min"].as_f64().unwrap_or(-1.0),
        s["avg"].as_f64().unwrap_or(-1.0),
        s["max"].as_f64().unwrap_or(-1.0),
        s["count"].as_i64().unwrap_or(-1),
    )
}

async fn summaries_give_min_mean_max_and_the_days_steps(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.bind("SUMM00001", 9, 1, 1).await;
    // Two hours of a day long past (UTC midnight-aligned: the test zone is the host's).
    let hour = 3_600;
    let base = (now() - 10 * 86_400) / hour * hour;
    let records = json!([
        {"deviceSn": "SUMM00001", "heartRate": 60, "bloodOxygen": 97, "temperature": 36.4,
         "pressureHigh": 110, "pressureLow": 70, "step": 100, "timestamp": base + 10},
        {"deviceSn": "SUMM00001", "heartRate": 80, "bloodOxygen": 99, "step": 300, "timestamp": base + 20},
        {"deviceSn": "SUMM00001", "heartRate": 100, "temperature": 36.8, "step": 900,
         "timestamp": base + hour + 5},
    ]);
    assert_eq!(app.upload(records, None).await.status, 200);
    let hourly = app
        .admin_get(
            &format!(
                "/api/users/9/summary?from={}&to={}&bucket=hour",
                base,
                base + 2 * hour
            ),
            READER,
        )
        .await;
    assert_eq!(hourly.status, 200, "{}", hourly.text);
    assert_eq!(
        hourly.body.as_array().map(Vec::len),
        Some(2),
        "{}",
        hourly.text
    );
    assert_eq!(
        hourly.body[0]["start"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp()),
        Some(base)
    );
    assert_eq!(hourly.body[0]["samples"], 2);
    assert_eq!(stat(&hourly, 0, "heartRate"), (60.0, 70.0, 80.0, 2));
    assert_eq!(stat(&hourly, 0, "bloodOxygen"), (97.0, 98.0, 99.0, 2));
    assert_eq!(stat(&hourly, 0, "temperature"), (36.4, 36.4, 36.4, 1));
    assert_eq!(stat(&hourly, 0, "pressureHigh"), (110.0, 110.0, 110.0, 1));
    assert_eq!(hourly.body[0]["steps"], 300);
    assert_eq!(stat(&hourly, 1, "heartRate"), (100.0, 100.0, 100.0, 1));
    assert!(hourly.body[1].get("bloodOxygen").is_none());
    // Per day: the day's steps are its highest running count.
    let daily = app
        .admin_get(
            &format!(
                "/api/users/9/summary?from={}&to={}",
                base - 86_400,
                base + 86_400
            ),
            READER,
        )
        .await;
    let days = daily.body.as_array().expect("days");
    let samples: i64 = days
        .iter()
        .map(|d| d["samples"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(samples, 3, "{}", daily.text);
    let steps: Vec<i64> = days.iter().filter_map(|d| d["steps"].as_i64()).collect();
    assert!(steps.contains(&900), "{}", daily.text);
    let bad = app
        .admin_get(
            &format!("/api/users/9/summary?from={base}&to={base}"),
            READER,
        )
        .await;
    assert_eq!(bad.status, 400);
    app.stop().await;
}

async fn the_read_token_reads_and_nothing_else(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.bind("TOKEN0001", 3, 1, 1).await;
    let path = "/api/devices/TOKEN0001/samples";
    let anonymous = app.get(path).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(app.admin_get(path, "wrong").await.status, 401);
    assert_eq!(app.admin_get(path, READER).await.status, 200);
    assert_eq!(app.admin_get(path, ADMIN).await.status, 200);
    // Changing a binding or an alert takes the admin token.
    let put = app
        .admin(
            app.client
                .put(app.url("/api/devices/TOKEN0001/binding"))
                .json(&json!({"userId": 4})),
            READER,
        )
        .await;
    assert_eq!(put.status, 401, "{}", put.text);
    assert_eq!(app.admin_get("/api/alerts", READER).await.status, 401);
    app.stop().await;
    // Without any token the read API is off.
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let off = app.admin_get(path, READER).await;
    assert_eq!(off.status, 403);
    assert_eq!(off.body["error"], "admin_disabled");
    app.stop().await;
}

/// Whether `plan` (as `Store::query_plan` gives it) reads the health table through an index.
fn uses_index(backend: Backend, plan: &[String]) -> bool {
    let text = plan.join("\n");
    match backend {
        Backend::MariaDb => plan
            .iter()
            .filter(|line| line.contains("t_user_health_data") || line.contains("table=p"))
            .all(|line| !line.contains("type=ALL") && !line.ends_with("key=")),
        Backend::Postgres => !text.contains("Seq Scan"),
        // SQLite: SEARCH … USING (COVERING) INDEX / PRIMARY KEY, never a bare SCAN.
        _ => !text
            .lines()
            .any(|l| l.contains("SCAN t_user_health_data") && !l.contains("USING")),
    }
}

/// Whether `plan` sorts every row its index range yields (a page would read a wearer's whole
/// range to return its first rows); an incremental sort of an index's order does not.
fn sorts_whole_range(backend: Backend, plan: &[String]) -> bool {
    plan.iter().any(|line| match backend {
        Backend::MariaDb => line.contains("filesort"),
        Backend::Postgres => {
            // A plan step `Sort  (cost=…)`, not its `Sort Key:` detail.
            let step = line.trim_start().trim_start_matches("->").trim_start();
            step.strip_prefix("Sort")
                .is_some_and(|rest| rest.trim_start().starts_with('('))
        }
        _ => line.contains("TEMP B-TREE FOR ORDER BY"),
    })
}

async fn every_read_query_is_served_by_an_index(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    // Twenty wearers: one is a small part of the table, as in production, where a planner
    // rightly scans a table that one wearer fills.
    let t = now() - 20_000;
    for n in 0..20 {
        let device = format!("PLAN{n:05}");
        app.bind(&device, 10 + n, 1, 1).await;
        app.upload(samples(&device, t, 200), None).await;
    }
    // Statistics as the server would have them after a while.
    match backend {
        Backend::MariaDb => app.exec("ANALYZE TABLE t_user_health_data").await,
        Backend::Postgres => app.exec("ANALYZE t_user_health_data").await,
        _ => app.exec("ANALYZE").await,
    }
    let store = &app.store;
    let key = Some(SampleKey {
        timestamp: DateTime::from_timestamp(t + 100, 0).expect("time"),
        id: 100,
    });
    let mut device = SampleQuery::of(SampleOwner::Device("PLAN00001".to_owned()), 50);
    device.after = key;
    device.to = DateTime::from_timestamp(t + 1_000, 0);
    let mut user = SampleQuery::of(SampleOwner::User(11), 50);
    user.after = key;
    user.from = DateTime::from_timestamp(t, 0);
    let mut part = SampleQuery::of(SampleOwner::All, 1000);
    part.after = key;
    part.last_id = Some(200);
    let from = DateTime::from_timestamp(t, 0).expect("time");
    let to = DateTime::from_timestamp(t + 2_000, 0).expect("time");
    let statements = [
        ("device samples", store.samples_statement(&device)),
        ("wearer samples", store.samples_statement(&user)),
        ("export part", store.samples_statement(&part)),
        (
            "wearer summary",
            store.summary_statement(&SummaryQuery {
                owner: SampleOwner::User(11),
                from,
                to,
                bucket_secs: 3_600,
                offset_secs: 0,
            }),
        ),
        (
            "device summary",
            store.summary_statement(&SummaryQuery {
                owner: SampleOwner::Device("PLAN00001".to_owned()),
                from,
                to,
                bucket_secs: 300,
                offset_secs: 0,
            }),
        ),
    ];
    for (what, statement) in statements {
        let plan = store.query_plan(&statement).await.expect("plan");
        assert!(
            uses_index(backend, &plan),
            "{what} on {backend:?}:\n{}",
            plan.join("\n")
        );
        // Pages come in the index's order; summaries group a bounded range.
        assert!(
            what.contains("summary") || !sorts_whole_range(backend, &plan),
            "{what} on {backend:?} sorts its whole range:\n{}",
            plan.join("\n")
        );
    }
    app.stop().await;
}
