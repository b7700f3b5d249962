//! The batch log: the result answered for each committed batch, kept for idempotent replays.

use super::sql::IDS_PER_QUERY;
use super::{Store, StoreError};
use entity::ingest_batch;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;

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

impl From<ingest_batch::Model> for StoredBatch {
    fn from(m: ingest_batch::Model) -> Self {
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Self {
            error_details: serde_json::from_str(&m.error_details).unwrap_or_default(),
            batch_id: m.batch_id,
            total_records: count(m.total_records),
            valid_records: count(m.valid_records),
            errors: count(m.errors),
            warnings: count(m.warnings),
            inserted: count(m.inserted),
            duplicates: count(m.duplicates),
            unknown_device: count(m.unknown_device),
            processing_time_ms: m.processing_time_ms,
            trace_id: m.trace_id,
        }
    }
}

impl Store {
    /// The committed batches among `batch_ids`, by id.
    pub async fn find_batches(
        &self,
        batch_ids: &[&str],
    ) -> Result<HashMap<String, StoredBatch>, StoreError> {
        let mut found = HashMap::new();
        for ids in batch_ids.chunks(IDS_PER_QUERY) {
            let rows = ingest_batch::Entity::find()
                .filter(ingest_batch::Column::BatchId.is_in(ids.iter().copied()))
                .all(&self.db)
                .await?;
            found.extend(
                rows.into_iter()
                    .map(|m| (m.batch_id.clone(), StoredBatch::from(m))),
            );
        }
        Ok(found)
    }
}
