//! The service's parts as `/api/health` and the dashboard both report them, checked once by
//! [`check`]: the database (a round trip), the device cache (its Redis level), the writer,
//! and the read replica as its watcher last found it.

use crate::devices::DeviceDirectory;
use crate::ingest::Writer;
use crate::store::Store;
use std::time::{Duration, Instant};

/// How long the health check waits for the database.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What one check found.
#[derive(Debug, Clone, Copy)]
pub struct Components {
    /// The database answered a round trip within [`PING_TIMEOUT`].
    pub database_up: bool,
    /// Milliseconds the round trip took (or waited).
    pub database_ms: f64,
    /// `None` without Redis; else whether Redis answered its last call.
    pub redis_up: Option<bool>,
    /// Rows waiting for or inside a commit.
    pub queued_rows: usize,
    /// Most rows the writer's queue holds.
    pub queue_capacity: usize,
    /// Writer tasks.
    pub writers: usize,
    /// The read replica's last check, if one is configured.
    pub replica: Option<crate::store::ReplicaStatus>,
}

impl Components {
    /// Everything uploads need is up. Redis is not needed (uploads go on without it); the
    /// writer commits through the database, so it is up when the database is.
    pub fn healthy(&self) -> bool {
        self.database_up
    }

    /// The cache is degraded: Redis is configured and not answering.
    pub fn cache_degraded(&self) -> bool {
        self.redis_up == Some(false)
    }
}

/// Checks the components now.
pub async fn check(store: &Store, writer: &Writer, devices: &DeviceDirectory) -> Components {
    let started = Instant::now();
    let database_up = store.reachable(PING_TIMEOUT).await;
    Components {
        database_up,
        database_ms: (started.elapsed().as_secs_f64() * 1e5).round() / 100.0,
        redis_up: devices.redis_status(),
        queued_rows: writer.queued_rows(),
        queue_capacity: writer.capacity(),
        writers: writer.tasks(),
        replica: store.replica_status(),
    }
}

/// Owns the task that checks the read replica; [`ReplicaWatch::shutdown`] stops it.
pub struct ReplicaWatch {
    handle: tokio::task::JoinHandle<()>,
    stop: tokio_util::sync::CancellationToken,
}

/// Checks the replica of `store` every `every` (reads follow the result); `None` without a
/// replica.
pub fn watch_replica(store: Store, every: Duration) -> Option<ReplicaWatch> {
    store.replica_status()?;
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    let handle = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                _ = tick.tick() => {}
            }
            store.check_replica(PING_TIMEOUT).await;
        }
    });
    Some(ReplicaWatch { handle, stop })
}

impl ReplicaWatch {
    /// Stops the checks and waits for the task.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(err) = self.handle.await {
            tracing::error!(error = %err, "Replica watch task failed.");
        }
    }
}
