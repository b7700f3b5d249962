//! The housekeeping task: every `housekeeping.interval_secs`, the instance that gets the
//! database's housekeeping lock keeps the health table's monthly partitions
//! (`partitions.ahead` future months, none older than `partitions.retention_months`), then
//! deletes the side-table rows past their retention, a batch of `housekeeping.batch_rows` per
//! statement with a pause between — long enough that deletes keep the database busy at most
//! `housekeeping.busy_percent` of the time — so the writer never waits long behind it. Stops
//! between two deletes at shutdown.

use crate::config::Config;
use crate::store::{PartitionError, SideTable, Store};
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
    /// The health table's partitions, when they are kept (`partitions.enabled`).
    pub partitions: Option<Partitioning>,
}

/// How the health table's monthly partitions are kept.
#[derive(Debug, Clone, Copy)]
pub struct Partitioning {
    /// Future months with a partition, after the current one.
    pub ahead: u32,
    /// Months kept; `0`: every month.
    pub retention_months: u32,
}

impl Retention {
    /// The retentions `config` sets (`0` days: forever).
    pub fn from_config(config: &Config) -> Self {
        let days = |n: u32| (n > 0).then(|| Days::days(i64::from(n)));
        Self {
            quarantine: days(config.quarantine.retention_days),
            batches: days(config.ingest.idempotency_days),
            outbox: days(config.alerts.outbox_retention_days),
            partitions: config.partitions.enabled.then_some(Partitioning {
                ahead: config.partitions.ahead,
                retention_months: config.partitions.retention_months,
            }),
        }
    }

    /// Rows of `table` older than this are deleted at `now` (sessions: once expired).
    fn cutoff(&self, table: SideTable, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match table {
            SideTable::Quarantine => self.quarantine.map(|d| now - d),
            SideTable::Batches => self.batches.map(|d| now - d),
            SideTable::Outbox => self.outbox.map(|d| now - d),
            SideTable::Sessions => Some(now),
            // Read by every instance within seconds; a day leaves room for one that was down.
            SideTable::BindingChanges => Some(now - Days::days(1)),
            // An export's files are streamed on request: a week to fetch them.
            SideTable::ExportJobs => Some(now - Days::days(7)),
        }
    }
}

/// How one run deletes.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Rows per statement.
    pub batch_rows: usize,
    /// Shortest pause between two statements.
    pub pause: Duration,
    /// The share of the time, in percent (1–100), that deletes may keep the database busy:
    /// after a delete that took `t`, the pause is at least `t × (100 − busy) / busy`.
    pub busy_percent: u32,
}

impl Pace {
    /// The pause after a delete that took `took`.
    fn pause_after(&self, took: Duration) -> Duration {
        let busy = self.busy_percent.clamp(1, 100);
        self.pause.max(took * (100 - busy) / busy)
    }
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
            busy_percent: settings.busy_percent,
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
    if let Some(partitioning) = retention.partitions {
        keep_partitions(store, partitioning).await;
    }
    let trimmed = trim(store, retention, pace, stop).await;
    lock.release().await;
    trimmed.map(Some)
}

/// Creates the months ahead and drops those past retention, when the health table is
/// partitioned (failures are logged: the side tables are trimmed all the same).
async fn keep_partitions(store: &Store, partitioning: Partitioning) {
    match store.partitions().await {
        Ok(Some(_)) => {}
        Ok(None) | Err(PartitionError::Unsupported) => return,
        Err(err) => {
            warn!(error = %err, "Partitions could not be listed; trying again at the next run.");
            return;
        }
    }
    if let Err(err) = store
        .maintain_partitions(
            Utc::now(),
            partitioning.ahead,
            partitioning.retention_months,
        )
        .await
    {
        warn!(error = %err, "Partition maintenance failed; trying again at the next run.");
    }
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
            let started = std::time::Instant::now();
            let n = store.delete_older(table, cutoff, pace.batch_rows).await?;
            let took = started.elapsed();
            deleted += n;
            metrics::counter!(HOUSEKEEPING_DELETED, "table" => table.table()).increment(n);
            if n < pace.batch_rows as u64 {
                break;
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(pace.pause_after(took)) => {}
            }
        }
        if deleted > 0 {
            info!(table = table.table(), rows = deleted, before = %cutoff, "Housekeeping deleted rows past their retention.");
        }
        done.push((table, deleted));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_bounds_the_share_of_time_spent_deleting() {
        let pace = Pace {
            batch_rows: 1000,
            pause: Duration::from_millis(20),
            busy_percent: 25,
        };
        // A 40 ms delete is followed by 120 ms of rest: busy a quarter of the time.
        assert_eq!(
            pace.pause_after(Duration::from_millis(40)),
            Duration::from_millis(120)
        );
        // A quick one by the shortest pause.
        assert_eq!(
            pace.pause_after(Duration::from_millis(2)),
            Duration::from_millis(20)
        );
        let flat_out = Pace {
            busy_percent: 100,
            ..pace
        };
        assert_eq!(
            flat_out.pause_after(Duration::from_secs(1)),
            Duration::from_millis(20)
        );
    }
}
