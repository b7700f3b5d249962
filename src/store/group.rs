//! What a group commit works on: the batches of the uploads it serves, and those of them one
//! transaction writes.

use crate::domain::{MappedSample, Sample};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// A health row as this group looks for it: batch id, device, sample time.
pub(super) type RowKey = (String, String, DateTime<Utc>);

/// Everything one upload commits.
#[derive(Debug, Clone)]
pub struct CommitBatch {
    /// The batch id (client's or generated); unique in `t_ingest_batch`.
    pub batch_id: String,
    /// The client chose the batch id, so it may have been committed before (a retry whose
    /// answer was lost). A generated id is new by construction and is not looked up.
    pub client_batch_id: bool,
    /// Hex SHA-256 of the records as sent (client batch ids only; empty otherwise): a
    /// committed batch with the same id *and* fingerprint is a replay, one with the same id
    /// and another fingerprint is another batch.
    pub fingerprint: String,
    /// Samples of bound devices, for `t_user_health_data`.
    pub mapped: Vec<MappedSample>,
    /// Samples of unbound devices, for the quarantine.
    pub unknown: Vec<Sample>,
    /// Records in the request.
    pub total_records: usize,
    /// Records rejected by validation.
    pub errors: usize,
    /// Field-level warnings.
    pub warnings: usize,
    /// The answered `error_details`.
    pub error_details: Vec<String>,
    /// Milliseconds from request start until the batch was handed to the writer.
    pub processing_time_ms: f64,
    /// Trace id of the request.
    pub trace_id: Option<String>,
}

impl CommitBatch {
    /// Rows this batch writes (samples and quarantined samples).
    pub fn rows(&self) -> usize {
        self.mapped.len() + self.unknown.len()
    }

    /// Approximate bytes of sample data, for the writer's size limit.
    pub fn bytes(&self) -> usize {
        const FIXED: usize = 160;
        let sleep = |s: &Sample| s.sleep.as_ref().map_or(0, String::len);
        self.mapped
            .iter()
            .map(|m| FIXED + sleep(&m.sample))
            .sum::<usize>()
            + self.unknown.iter().map(|s| FIXED + sleep(s)).sum::<usize>()
    }
}

impl CommitBatch {
    pub(super) fn key(&self) -> (&str, &str) {
        (&self.batch_id, &self.fingerprint)
    }
}

/// The distinct batch ids of the `active` batches, sorted.
pub(super) fn batch_ids<'a>(batches: &'a [CommitBatch], active: &[usize]) -> Vec<&'a str> {
    let mut ids: Vec<&str> = active
        .iter()
        .map(|&i| batches[i].batch_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The batches one transaction writes.
pub(super) struct Group<'a> {
    /// Every batch of the group.
    pub batches: &'a [CommitBatch],
    /// Those this transaction writes, in order.
    pub active: &'a [usize],
    /// Those among `active` whose client batch id holds other records already.
    pub reused: &'a HashSet<usize>,
    /// Health rows that carried a reused id before this group.
    pub earlier: &'a HashSet<RowKey>,
}
