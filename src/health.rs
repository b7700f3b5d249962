//! The service's parts as `/api/health` and the dashboard both report them, checked once by
//! [`check`]: the database (a round trip), the device cache (its Redis level), the writer.

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
    }
}
