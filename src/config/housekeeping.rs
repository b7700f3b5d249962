//! Housekeeping of the side tables and of the health table's partitions, and how long each
//! keeps its rows.

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
    /// Shortest pause between two deletes, in milliseconds, leaving the database to the
    /// uploads. Default 20.
    pub pause_ms: u64,
    /// The share of the time (percent, 1–100) that deletes may keep the database busy: after
    /// a delete that took `t` the pause is at least `t × (100 − busy) / busy`, so on a loaded
    /// database, where deletes take longer, housekeeping slows down by itself. Default 5 (on
    /// the benchmark machine about 7 000 rows a second: docs/BENCHMARKS.md).
    pub busy_percent: u32,
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 600,
            batch_rows: 1000,
            pause_ms: 20,
            busy_percent: 5,
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

/// Monthly partitions of `t_user_health_data` on MariaDB/MySQL and PostgreSQL (SQLite has
/// none). The housekeeping task keeps them, one instance at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartitionsConfig {
    /// Whether a new install's (empty) health table is partitioned at start, and housekeeping
    /// keeps the partitions. An existing unpartitioned table is converted only by
    /// `ljwx-bigscreen partitions convert`. Default `true`.
    pub enabled: bool,
    /// Future months kept with a partition of their own, after the current one. Default 3.
    pub ahead: u32,
    /// Months of samples kept: partitions of older months are dropped with their rows;
    /// `0` keeps every month. Default 0.
    pub retention_months: u32,
}

impl Default for PartitionsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ahead: 3,
            retention_months: 0,
        }
    }
}
