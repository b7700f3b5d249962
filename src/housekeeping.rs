//! The housekeeping task: every `housekeeping.interval_secs`, the instance that gets the
//! database's housekeeping lock deletes the side-table rows past their retention, a batch of
//! `housekeeping.batch_rows` per statement with a pause between, so the writer never waits
//! long behind it. Stops between two deletes at shutdown.

use crate::config::Config;
use crate::store::{SideTable, Store};
use crate::telemetry::metrics::HOUSEKEEPING_DELETED;
use chrono::{DateTime, Duration as Days, Utc};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// How long each side table keeps its rows; `None` keeps them forever.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Quarantined samples, by arrival.
    pub quarantine: Option<Days>,
    /// Batch records, by commit.
    pub batches: Option<Days>,
    /// Delivered notifications, by delivery.
    pub outbox: Option<Days>,
}

impl Retention {
    /// The retentions `config` sets (`0` days: forever).
    pub fn from_config(config: &Config) -> Self {
        let days = |n: u32| (n > 0).then(|| Days::days(i64::from(n)));
        Self {
            quarantine: days(config.quarantine.retention_days),
            batches: days(config.ingest.idempotency_days),
            outbox: days(config.alerts.outbox_retention_days),
        }
    }

    /// Rows of `table` older than this are deleted at `now` (sessions: once expired).
    fn cutoff(&self, table: SideTable, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match table {
            SideTable::Quarantine => self.quarantine.map(|d| now - d),
            SideTable::Batches => self.batches.map(|d| now - d),
            SideTable::Outbox => self.outbox.map(|d| now - d),
            SideTable::Sessions => Some(now),
        }
    }
}

/// How one run deletes.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Rows per statement.
    pub batch_rows: usize,
    /// Pause between two statements.
    pub pause: Duration,
}

/// Owns the housekeeping task; [`HousekeepingTask::shutdown`] stops it between two deletes
/// and waits for it.
pub struct HousekeepingTask {
    handle: Option<JoinHandle<()>>,
    stop: CancellationToken,
}

/// Starts the task for `store` as `config` says (none when `housekeeping.enabled` is off).
pub fn start(store: Store, config: &Config) -> HousekeepingTask {
    let stop = CancellationToken::new();
    let settings = &config.housekeeping;
    let handle = settings.enabled.then(|| {
        let pace = Pace {
            batch_rows: settings.batch_rows.max(1),
            pause: Duration::from_millis(settings.pause_ms),
        };
        tokio::spawn(run(
            store,
            Retention::from_config(config),
            pace,
            Duration::from_secs(settings.interval_secs.max(1)),
            stop.clone(),
        ))
    });
    HousekeepingTask { handle, stop }
}

impl HousekeepingTask {
    /// Stops the task (a delete in flight finishes) and waits for it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Some(handle) = self.handle
            && let Err(err) = handle.await
        {
            error!(error = %err, "Housekeeping task failed.");
        }
    }
}

async fn run(
    store: Store,
    retention: Retention,
    pace: Pace,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        if let Err(err) = run_once(&store, &retention, pace, &stop).await {
            warn!(error = %err, "Housekeeping failed; trying again at the next run.");
        }
    }
}

/// One run: takes the lock (or leaves it to the instance holding it) and trims each table
/// until nothing is past its retention or `stop` is cancelled. Returns the rows deleted per
/// table, `None` when another instance holds the lock.
pub async fn run_once(
    store: &Store,
    retention: &Retention,
    pace: Pace,
    stop: &CancellationToken,
) -> Result<Option<Vec<(SideTable, u64)>>, crate::store::StoreError> {
    let Some(lock) = store.try_housekeeping_lock().await? else {
        return Ok(None);
    };
    let trimmed = trim(store, retention, pace, stop).await;
    lock.release().await;
    trimmed.map(Some)
}

/// Deletes what is past its retention in each table, in batches, until done or `stop`.
async fn trim(
    store: &Store,
    retention: &Retention,
    pace: Pace,
    stop: &CancellationToken,
) -> Result<Vec<(SideTable, u64)>, crate::store::StoreError> {
    let mut done = Vec::new();
    for table in SideTable::ALL {
        let Some(cutoff) = retention.cutoff(table, Utc::now()) else {
            continue;
        };
        let mut deleted = 0;
        while !stop.is_cancelled() {
            let n = store.delete_older(table, cutoff, pace.batch_rows).await?;
            deleted += n;
            metrics::counter!(HOUSEKEEPING_DELETED, "table" => table.table()).increment(n);
            if n < pace.batch_rows as u64 {
                break;
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(pace.pause) => {}
            }
        }
        if deleted > 0 {
            info!(table = table.table(), rows = deleted, before = %cutoff, "Housekeeping deleted rows past their retention.");
        }
        done.push((table, deleted));
    }
    Ok(done)
}
