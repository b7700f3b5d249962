//! The result of a committed batch, as answered and kept for idempotent replays.

/// A committed batch as recorded in `t_ingest_batch`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBatch {
    /// The batch id.
    pub batch_id: String,
    /// Records in the request.
    pub total_records: u32,
    /// Records that passed validation.
    pub valid_records: u32,
    /// Records rejected.
    pub errors: u32,
    /// Field-level warnings.
    pub warnings: u32,
    /// New health rows.
    pub inserted: u32,
    /// Samples stored before.
    pub duplicates: u32,
    /// Samples of unbound devices.
    pub unknown_device: u32,
    /// The answered `error_details`.
    pub error_details: Vec<String>,
    /// Milliseconds the first request took.
    pub processing_time_ms: f64,
    /// Trace id of the first request.
    pub trace_id: Option<String>,
}

/// Most lines of an answer's `error_details` (the seed's `errors[:10]`).
pub const MAX_DETAILS: usize = 10;

/// The line a batch stored under a reused id answers first in `error_details`.
pub const REUSED_BATCH_ID: &str = "batchId: already used for other records; stored as a new batch";

/// `details` with [`REUSED_BATCH_ID`] in front, still at most [`MAX_DETAILS`] lines.
pub fn with_reused_note(details: &[String]) -> Vec<String> {
    std::iter::once(REUSED_BATCH_ID.to_owned())
        .chain(details.iter().cloned())
        .take(MAX_DETAILS)
        .collect()
}
