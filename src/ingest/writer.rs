//! The group-commit writer (DESIGN §4).
//!
//! Uploads submit their rows with a oneshot ack; writer tasks gather submissions into one
//! transaction (flushed at `max_rows`, `max_bytes`, or `linger` after the first row), commit,
//! and only then ack every submitter. Room in the queue is counted in rows: an upload that
//! finds no room within `queue_wait` is refused (503) rather than held. At shutdown the
//! writers stop lingering, commit what is queued, and exit.

use super::batcher::{Limits, Measure, next_batch};
use super::counts::{self, FoldTask};
use crate::alerts::AlertEngine;
use crate::config::WriterConfig;
use crate::store::{CommitBatch, CommitConn, Committed, Store, StoreError};
use crate::telemetry::metrics as telemetry;
use crate::zone::Zone;
use chrono::Utc;
use sea_orm::DbBackend;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{Instrument, error, field, info, info_span, warn};

/// Why a submission was not committed. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The queue stayed full for the whole wait.
    #[error("writer queue full")]
    Overloaded,
    /// The writer is shutting down.
    #[error("writer stopped")]
    Stopped,
    /// The commit failed; the detail was logged by the writer.
    #[error("commit failed")]
    Failed {
        /// The database was unreachable (worth retrying) rather than refusing the rows.
        unavailable: bool,
    },
}

/// A committed submission and where its time went.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// What the commit did with the batch.
    pub committed: Committed,
    /// Time from submission until its group started committing.
    pub queue_wait: Duration,
    /// Time the group's transaction took.
    pub commit: Duration,
    /// Uploads committed in the same transaction.
    pub group_batches: usize,
    /// Rows committed in the same transaction.
    pub group_rows: usize,
}

struct Job {
    batch: CommitBatch,
    ack: oneshot::Sender<Result<Receipt, WriteError>>,
    submitted: Instant,
    /// The submitter's span: the group commit links to it.
    span: tracing::Span,
    /// Room in the queue, given back when the job is answered.
    _room: OwnedSemaphorePermit,
}

impl Measure for Job {
    fn items(&self) -> usize {
        self.batch.rows()
    }
    fn bytes(&self) -> usize {
        self.batch.bytes()
    }
}

/// Submits batches to the writer tasks. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    room: Arc<Semaphore>,
    inflight: Arc<Semaphore>,
    capacity: usize,
    queue_wait: Duration,
    tasks: usize,
}

/// Owns the writer tasks: [`WriterTasks::shutdown`] drains and joins them; dropping it stops
/// them too.
pub struct WriterTasks {
    handles: Vec<JoinHandle<()>>,
    fold: FoldTask,
    stop: CancellationToken,
    _guard: DropGuard,
}

impl Writer {
    /// Starts the writer tasks for `store`; with `alerts`, each commit also raises the
    /// alerts its new samples call for.
    pub fn start(
        store: Store,
        zone: Zone,
        config: &WriterConfig,
        alerts: Option<AlertEngine>,
    ) -> (Writer, WriterTasks) {
        let tasks = match (config.writers, store.backend()) {
            (0, DbBackend::Sqlite) => 1,
            // More commits in flight than the database has cores only make each one wait:
            // PostgreSQL on one core, 22 000 records/s, P99 972 ms with 8 writers and 466 ms
            // with 4; with two cores 8 and 4 were alike (docs/BENCHMARKS.md).
            (0, _) => 4,
            (n, _) => n,
        };
        let capacity = config.queue_rows.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let limits = Limits {
            max_items: config.max_rows.max(1),
            max_bytes: config.max_bytes.max(1),
            linger: Duration::from_millis(config.linger_ms),
        };
        let stop = CancellationToken::new();
        let handles = (0..tasks)
            .map(|_| {
                tokio::spawn(run(
                    store.clone(),
                    zone,
                    alerts.clone(),
                    Arc::clone(&rx),
                    limits,
                    stop.clone(),
                ))
            })
            .collect();
        info!(
            writers = tasks,
            max_rows = limits.max_items,
            linger_ms = config.linger_ms,
            samples_by = store.sample_insert(),
            "Writer started."
        );
        let writer = Writer {
            tx,
            room: Arc::new(Semaphore::new(capacity)),
            inflight: Arc::new(Semaphore::new(config.max_inflight.max(1))),
            capacity,
            queue_wait: Duration::from_millis(config.queue_wait_ms),
            tasks,
        };
        let tasks = WriterTasks {
            handles,
            fold: counts::start(store, Duration::from_millis(config.fold_ms)),
            _guard: stop.clone().drop_guard(),
            stop,
        };
        (writer, tasks)
    }

    /// Queues `batch` and waits until it is committed (or refused).
    pub async fn submit(&self, batch: CommitBatch) -> Result<Receipt, WriteError> {
        let rows = u32::try_from(batch.rows().clamp(1, self.capacity)).unwrap_or(u32::MAX);
        let room = tokio::time::timeout(
            self.queue_wait,
            Arc::clone(&self.room).acquire_many_owned(rows),
        )
        .await
        .map_err(|_| WriteError::Overloaded)?
        .map_err(|_| WriteError::Stopped)?;
        let (ack, answer) = oneshot::channel();
        let job = Job {
            batch,
            ack,
            submitted: Instant::now(),
            span: tracing::Span::current(),
            _room: room,
        };
        self.tx.send(job).await.map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }

    /// Whether the queue has room for about `rows` rows, waiting up to the queue wait for
    /// it. Checked before an upload's body is read, so an overloaded server sheds uploads
    /// cheaply (instead of spending CPU and memory on batches it must refuse). Room is not
    /// reserved: [`Writer::submit`] still decides.
    pub async fn has_room(&self, rows: usize) -> bool {
        let rows = u32::try_from(rows.clamp(1, self.capacity)).unwrap_or(u32::MAX);
        if self.room.available_permits() >= rows as usize {
            return true;
        }
        matches!(
            tokio::time::timeout(self.queue_wait, self.room.acquire_many(rows)).await,
            Ok(Ok(_))
        )
    }

    /// One of the `max_inflight` upload slots, waiting up to the queue wait for it: held
    /// from parsing an upload's body until its answer, it bounds the batches in memory at
    /// once. `None` when none came free in time.
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(self.queue_wait, Arc::clone(&self.inflight).acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// How long an upload waits for queue room or a slot before it is refused.
    pub fn queue_wait(&self) -> Duration {
        self.queue_wait
    }

    /// Rows queued or being committed now.
    pub fn queued_rows(&self) -> usize {
        self.capacity - self.room.available_permits()
    }

    /// Most rows the queue holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of writer tasks.
    pub fn tasks(&self) -> usize {
        self.tasks
    }
}

impl WriterTasks {
    /// Stops the writers after they committed everything queued, folds their counts into
    /// the daily counters, and waits for all of it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for handle in self.handles {
            if let Err(err) = handle.await {
                error!(error = %err, "Writer task failed.");
            }
        }
        self.fold.shutdown().await;
        info!("Writer drained and stopped.");
    }
}

async fn run(
    store: Store,
    zone: Zone,
    alerts: Option<AlertEngine>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    limits: Limits,
    stop: CancellationToken,
) {
    // Each writer commits on a connection of its own (see `CommitConn`).
    let mut conn = CommitConn::default();
    loop {
        // One writer gathers at a time; the others commit meanwhile.
        let jobs = {
            let mut rx = rx.lock().await;
            next_batch(&mut rx, limits, &stop).await
        };
        let Some(jobs) = jobs else { break };
        flush(&store, &mut conn, zone, alerts.as_ref(), jobs).await;
    }
}

async fn flush(
    store: &Store,
    conn: &mut CommitConn,
    zone: Zone,
    alerts: Option<&AlertEngine>,
    jobs: Vec<Job>,
) {
    let started = Instant::now();
    let now = Utc::now();
    let group_rows = jobs.iter().map(Measure::items).sum();
    let group_batches = jobs.len();
    let group_span = info_span!(
        "group_commit",
        batches = group_batches,
        rows = group_rows,
        alerts = field::Empty
    );
    let (batches, waiting): (Vec<CommitBatch>, Vec<_>) = jobs
        .into_iter()
        .map(|job| {
            // One transaction serves many uploads: its span follows from each of theirs
            // (links in OTLP), and the alert work shows as its child.
            group_span.follows_from(&job.span);
            (job.batch, (job.ack, job.submitted, job._room))
        })
        .unzip();
    let result = store
        .commit_group(
            conn,
            &batches,
            now,
            zone.day(now),
            alerts.map(AlertEngine::rules),
        )
        .instrument(group_span.clone())
        .await;
    let commit = started.elapsed();
    metrics::histogram!(telemetry::COMMIT_DURATION).record(commit.as_secs_f64());
    metrics::histogram!(telemetry::COMMIT_ROWS).record(group_rows as f64);
    metrics::counter!(telemetry::COMMITS, "result" => if result.is_ok() { "ok" } else { "error" })
        .increment(1);
    match result {
        Ok(group) => {
            group_span.record("alerts", group.alert_events.len());
            if !group.alert_events.is_empty() {
                for e in &group.alert_events {
                    metrics::counter!(
                        telemetry::ALERTS,
                        "alert_type" => e.alert_type.clone(),
                        "level" => e.level.as_str(),
                        "event" => e.event
                    )
                    .increment(1);
                }
                if let Some(alerts) = alerts {
                    alerts.notify_committed();
                }
            }
            for ((ack, submitted, _room), committed) in waiting.into_iter().zip(group.outcomes) {
                let queue_wait = started.saturating_duration_since(submitted);
                metrics::histogram!(telemetry::QUEUE_WAIT).record(queue_wait.as_secs_f64());
                // A submitter that went away (client disconnected) simply misses its answer.
                let _ = ack.send(Ok(Receipt {
                    committed,
                    queue_wait,
                    commit,
                    group_batches,
                    group_rows,
                }));
            }
        }
        Err(err) => {
            let unavailable = matches!(err, StoreError::Unavailable(_));
            if unavailable {
                warn!(batches = group_batches, rows = group_rows, error = %err, "Database unavailable; group not committed, uploads answered 503.");
            } else {
                error!(batches = group_batches, rows = group_rows, error = %err, "Commit failed; group not committed, uploads answered 500.");
            }
            for (ack, _, _room) in waiting {
                let _ = ack.send(Err(WriteError::Failed { unavailable }));
            }
        }
    }
}
