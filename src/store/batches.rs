//! The batch log: the result answered for each committed batch, kept for idempotent replays.
//!
//! A record is keyed by the batch id *and* the fingerprint of its records: a request is a
//! replay only when both match. Another batch under an id used before (two watches whose
//! counters collide, a counter reset after a reflash) is stored as the new batch it is.

use super::sql::IDS_PER_QUERY;
use crate::domain::StoredBatch;
use entity::ingest_batch;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;

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

/// Batch records found by id: each id's records, keyed by fingerprint.
pub type KnownBatches = HashMap<String, HashMap<String, StoredBatch>>;

/// The committed batches among `batch_ids`: for each id, its records by fingerprint.
pub(super) async fn find_batches(
    db: &impl ConnectionTrait,
    batch_ids: &[&str],
) -> Result<KnownBatches, DbErr> {
    let mut found = KnownBatches::new();
    for ids in batch_ids.chunks(IDS_PER_QUERY) {
        let rows = ingest_batch::Entity::find()
            .filter(ingest_batch::Column::BatchId.is_in(ids.iter().copied()))
            .all(db)
            .await?;
        for m in rows {
            found
                .entry(m.batch_id.clone())
                .or_default()
                .insert(m.fingerprint.clone(), StoredBatch::from(m));
        }
    }
    Ok(found)
}
