//! The overview's live data: computed once per interval while anyone watches, and fanned out
//! to every open dashboard through a watch channel, so a hundred wall displays cost what one
//! does.

use super::fragments::{AlertRow, BatchRow, Batches, Events, LatestAlerts, Stages, render};
use crate::devices::DeviceDirectory;
use crate::domain::Alert;
use crate::health;
use crate::ingest::Writer;
use crate::ingest::activity::{Activity, HISTORY_SECS};
use crate::monitor::Monitor;
use crate::store::{Store, StoreError, TodayStats};
use crate::telemetry::traces::TraceStore;
use crate::zone::Zone;
use chrono::Utc;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Seconds per point of the 15-minute throughput chart.
const BUCKET_SECS: usize = 5;
/// Open alerts listed on the overview.
const LATEST_ALERTS: u64 = 10;
/// Slowest batches listed on the overview.
const SLOWEST_BATCHES: usize = 8;
/// Threshold events listed on the overview.
const EVENTS: usize = 5;

/// What the overview shows, as sent to browsers.
#[derive(Debug, Clone, Serialize)]
pub struct Live {
    /// When it was computed (service time zone, for display).
    pub at: String,
    /// Milliseconds between updates; the page calls the feed broken after three missed.
    pub refresh_ms: u64,
    /// Database, cache and writer.
    pub health: Health,
    /// Today's counts (`null` while the database is unreachable).
    pub today: Option<Today>,
    /// Devices with samples stored in the last five minutes.
    pub active_devices_5m: u64,
    /// Records stored per second, last 10 seconds.
    pub records_per_second: f64,
    /// Upload requests answered per second, last 10 seconds.
    pub requests_per_second: f64,
    /// The last 15 minutes in 5-second points.
    pub throughput: Throughput,
    /// Open alerts per level (`null` while the database is unreachable).
    pub open_alerts: Option<OpenAlerts>,
    /// Host metrics history for the sparklines.
    pub system: SystemSeries,
    /// Server-rendered parts of the page.
    pub fragments: Fragments,
}

/// State of the parts uploads depend on.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// Everything up.
    pub ok: bool,
    /// `up` or `down`.
    pub database: &'static str,
    /// `up` or `degraded` (Redis unreachable; uploads continue on the in-process cache).
    pub cache: &'static str,
    /// `up` or `down` (the writer commits through the database).
    pub writer: &'static str,
    /// Rows waiting for or inside a commit.
    pub queued_rows: u64,
    /// Rows the queue holds before uploads get 503.
    pub queue_capacity: u64,
}

/// Today's counts.
#[derive(Debug, Clone, Serialize)]
pub struct Today {
    /// Samples stored today.
    pub records: u64,
    /// Devices with a sample stored today.
    pub devices: u64,
    /// Their wearers.
    pub users: u64,
}

/// Open alerts per level.
#[derive(Debug, Clone, Serialize)]
pub struct OpenAlerts {
    /// Level `critical`.
    pub critical: u64,
    /// Level `major`.
    pub major: u64,
    /// Level `minor`.
    pub minor: u64,
    /// All open alerts.
    pub total: u64,
}

/// Throughput chart data: parallel arrays, one entry per point.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Throughput {
    /// Epoch seconds of each point's start.
    pub t: Vec<i64>,
    /// Records stored per second.
    pub records: Vec<f64>,
    /// Upload requests per second.
    pub requests: Vec<f64>,
}

/// System sparklines: parallel arrays, one entry per monitor sample.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemSeries {
    /// Epoch seconds.
    pub t: Vec<i64>,
    /// Host CPU, percent.
    pub cpu: Vec<f32>,
    /// Host memory, percent.
    pub memory: Vec<f32>,
    /// Disk space used, percent.
    pub disk: Vec<f32>,
    /// Received, KiB/s.
    pub rx_kib: Vec<f64>,
    /// Sent, KiB/s.
    pub tx_kib: Vec<f64>,
}

/// One computed update: the data, and its JSON serialized once for every subscriber.
#[derive(Debug)]
pub struct Snapshot {
    /// The data.
    pub live: Live,
    /// `live` as JSON.
    pub json: String,
}

impl Snapshot {
    fn new(live: Live) -> Self {
        let json = serde_json::to_string(&live).unwrap_or_else(|_| "null".to_owned());
        Self { live, json }
    }
}

/// HTML of the server-rendered parts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Fragments {
    /// The latest open alerts.
    pub alerts: String,
    /// Stage percentiles.
    pub stages: String,
    /// Slowest recent batches.
    pub batches: String,
    /// Threshold events.
    pub events: String,
}

/// What the feed reads from.
#[derive(Clone)]
pub struct Sources {
    /// Storage.
    pub store: Store,
    /// The writer (queue depth).
    pub writer: Writer,
    /// The device cache (Redis state).
    pub devices: DeviceDirectory,
    /// Throughput counters.
    pub activity: Activity,
    /// The system monitor.
    pub monitor: Monitor,
    /// Recent upload traces.
    pub traces: TraceStore,
    /// The service's time zone.
    pub zone: Zone,
}

/// The live feed. Cheap to clone.
#[derive(Clone)]
pub struct Feed {
    inner: Arc<FeedInner>,
}

struct FeedInner {
    sources: Sources,
    interval: Duration,
    sender: watch::Sender<Arc<Snapshot>>,
    /// When the current value was computed; held while computing so concurrent page loads
    /// share one computation.
    computed: Mutex<Option<Instant>>,
    stop: CancellationToken,
}

/// Owns the task that refreshes the feed; [`FeedTask::shutdown`] stops it.
pub struct FeedTask {
    handle: JoinHandle<()>,
    stop: CancellationToken,
}

impl Feed {
    /// Starts a feed refreshed every `interval` while someone subscribes.
    pub fn start(sources: Sources, interval: Duration) -> (Feed, FeedTask) {
        let interval = interval.max(Duration::from_millis(200));
        let stop = CancellationToken::new();
        let feed = Feed {
            inner: Arc::new(FeedInner {
                sources,
                interval,
                sender: watch::Sender::new(Arc::new(Snapshot::new(empty(interval)))),
                computed: Mutex::new(None),
                stop: stop.clone(),
            }),
        };
        let handle = tokio::spawn(feed.clone().run());
        (feed, FeedTask { handle, stop })
    }

    /// The current data, computed now if it is older than one interval.
    pub async fn current(&self) -> Arc<Snapshot> {
        let mut computed = self.inner.computed.lock().await;
        if computed.is_none_or(|at| at.elapsed() >= self.inner.interval) {
            let live = compute(&self.inner.sources, self.inner.interval).await;
            self.inner
                .sender
                .send_replace(Arc::new(Snapshot::new(live)));
            *computed = Some(Instant::now());
        }
        self.inner.sender.borrow().clone()
    }

    /// A receiver of every update, and a token cancelled when the service shuts down (live
    /// streams end then, so shutdown does not wait for open dashboards).
    pub fn subscribe(&self) -> (watch::Receiver<Arc<Snapshot>>, CancellationToken) {
        (self.inner.sender.subscribe(), self.inner.stop.clone())
    }

    /// Ends every live stream (the first step of shutdown).
    pub fn stop(&self) {
        self.inner.stop.cancel();
    }

    async fn run(self) {
        let mut tick = tokio::time::interval(self.inner.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.inner.stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            // Nobody watching: nothing to compute.
            if self.inner.sender.receiver_count() > 0 {
                self.current().await;
            }
        }
    }
}

impl FeedTask {
    /// Stops the refresh task and waits for it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.handle.await;
    }
}

fn empty(interval: Duration) -> Live {
    Live {
        at: String::new(),
        refresh_ms: interval.as_millis() as u64,
        health: Health {
            ok: false,
            database: "down",
            cache: "up",
            writer: "down",
            queued_rows: 0,
            queue_capacity: 0,
        },
        today: None,
        active_devices_5m: 0,
        records_per_second: 0.0,
        requests_per_second: 0.0,
        throughput: Throughput::default(),
        open_alerts: None,
        system: SystemSeries::default(),
        fragments: Fragments::default(),
    }
}

/// Reads every source once. Database failures leave their parts empty and mark the database
/// down; they never fail the feed.
async fn compute(s: &Sources, interval: Duration) -> Live {
    let now = Utc::now();
    let checked = health::check(&s.store, &s.writer, &s.devices).await;
    let database_up = checked.database_up;
    let (today, open_alerts, latest) = if database_up {
        (
            logged(s.store.day_stats(s.zone.day(now)).await),
            logged(s.store.open_alert_counts().await),
            logged(s.store.latest_open_alerts(LATEST_ALERTS).await).unwrap_or_default(),
        )
    } else {
        (None, None, Vec::new())
    };
    let series = s.activity.series(HISTORY_SECS).await;
    let last = |n: usize, f: fn(&crate::ingest::activity::SecondCounts) -> u64| {
        series.iter().rev().take(n).map(|(_, c)| f(c)).sum::<u64>() as f64 / n as f64
    };
    let records_per_second = last(10, |c| c.records);
    let requests_per_second = last(10, |c| c.requests);
    let mut throughput = Throughput::default();
    for chunk in series.chunks(BUCKET_SECS) {
        let n = chunk.len() as f64;
        throughput.t.push(chunk[0].0);
        throughput
            .records
            .push(chunk.iter().map(|(_, c)| c.records).sum::<u64>() as f64 / n);
        throughput
            .requests
            .push(chunk.iter().map(|(_, c)| c.requests).sum::<u64>() as f64 / n);
    }
    let report = s.monitor.report();
    let mut system = SystemSeries::default();
    let per_sec = report.interval_secs.max(0.001);
    for p in &report.points {
        system.t.push(p.at.timestamp());
        system.cpu.push(p.cpu_percent);
        system.memory.push(p.memory_percent);
        system.disk.push(p.disk_percent);
        system
            .rx_kib
            .push(p.network_rx_bytes as f64 / 1024.0 / per_sec);
        system
            .tx_kib
            .push(p.network_tx_bytes as f64 / 1024.0 / per_sec);
    }
    let fragments = Fragments {
        alerts: render(&LatestAlerts {
            rows: latest
                .into_iter()
                .map(|a| {
                    AlertRow::new(Alert::from(a.alert), a.user_name.as_deref(), |t| {
                        s.zone.display_short(t)
                    })
                })
                .collect(),
        }),
        stages: render(&Stages::new(&s.traces.percentiles(5, now))),
        batches: render(&Batches {
            rows: s
                .traces
                .slowest(SLOWEST_BATCHES)
                .iter()
                .map(|t| BatchRow::new(t, s.zone))
                .collect(),
        }),
        events: render(&Events::new(&report.events, s.zone, EVENTS)),
    };
    let level = |counts: &std::collections::HashMap<String, u64>, l: &str| {
        counts.get(l).copied().unwrap_or(0)
    };
    Live {
        at: s.zone.display(now),
        refresh_ms: interval.as_millis() as u64,
        // The banner shows a degraded cache too, though uploads go on without Redis.
        health: Health {
            ok: checked.healthy() && !checked.cache_degraded(),
            database: if database_up { "up" } else { "down" },
            cache: if checked.cache_degraded() {
                "degraded"
            } else {
                "up"
            },
            writer: if database_up { "up" } else { "down" },
            queued_rows: checked.queued_rows as u64,
            queue_capacity: checked.queue_capacity as u64,
        },
        today: today.map(
            |TodayStats {
                 records,
                 devices,
                 users,
             }| Today {
                records,
                devices,
                users,
            },
        ),
        active_devices_5m: s.activity.active_devices().await,
        records_per_second,
        requests_per_second,
        throughput,
        open_alerts: open_alerts.map(|c| OpenAlerts {
            critical: level(&c, "critical"),
            major: level(&c, "major"),
            minor: level(&c, "minor"),
            total: c.values().sum(),
        }),
        system,
        fragments,
    }
}

/// The value of a feed query, or `None` with the failure logged: a failing part stays
/// empty, the rest of the feed goes on.
fn logged<T>(result: Result<T, StoreError>) -> Option<T> {
    result
        .inspect_err(|err| warn!(error = %err, "Dashboard feed: a query failed."))
        .ok()
}
