//! Housekeeping of the side tables, and how long each keeps its rows.

use serde::{Deserialize, Serialize};

/// The task that deletes side-table rows past their retention (quarantine
/// `quarantine.retention_days`, batch records `ingest.idempotency_days`, delivered
/// notifications `alerts.outbox_retention_days`, expired sessions). One instance at a time
/// runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HousekeepingConfig {
    /// Whether this instance takes part. Default `true`.
    pub enabled: bool,
    /// Seconds between runs; the first runs at start. Default 600.
    pub interval_secs: u64,
    /// Rows per `DELETE`: each is a transaction of its own, short enough that the writer
    /// never waits long for its locks. Default 1000.
    pub batch_rows: usize,
    /// Pause between two deletes, in milliseconds, leaving the database to the uploads.
    /// Default 20.
    pub pause_ms: u64,
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 600,
            batch_rows: 1000,
            pause_ms: 20,
        }
    }
}

/// Samples of unbound devices (`t_unknown_device_data`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuarantineConfig {
    /// Days a quarantined sample is kept, for a binding to replay it; `0` keeps them
    /// forever. Default 30.
    pub retention_days: u32,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        Self { retention_days: 30 }
    }
}
