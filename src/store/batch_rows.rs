//! The batch records of a group (`t_ingest_batch`): the answer of each batch, kept for
//! idempotent replays.

use super::group::{CommitBatch, Group};
use super::samples::max_rows_per_insert;
use super::sql::{insert_ignore, statement, statement_chunks, values_list};
use crate::domain::with_reused_note;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Value};

const BATCH_COLUMNS: &str = "batch_id, fingerprint, status, total_records, valid_records, \
    errors, warnings, inserted, duplicates, unknown_device, error_details, processing_time_ms, \
    trace_id, create_time, first_use";
const BATCH_COLUMN_COUNT: usize = 15;

/// Writes the batch records of the group's active batches. Returns whether all of them were
/// written: a record is skipped when the same batch (id and fingerprint) was committed
/// before, or when its id's first use is taken (`first_use`, see the entity) — by an earlier
/// commit the group did not know of, or a concurrent one. Told by affected-row counts, which
/// every server gives (MySQL 8 and TiDB have no `INSERT … RETURNING`).
pub(super) async fn insert_batch_rows(
    txn: &impl ConnectionTrait,
    backend: DbBackend,
    group: &Group<'_>,
    inserted: &[usize],
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let count = |n: usize| Value::Int(Some(i32::try_from(n).unwrap_or(i32::MAX)));
    let pairs: Vec<(&CommitBatch, usize, bool)> = group
        .active
        .iter()
        .zip(inserted)
        .map(|(&i, &n)| (&group.batches[i], n, group.reused.contains(&i)))
        .collect();
    for rows in statement_chunks(
        backend,
        BATCH_COLUMN_COUNT,
        max_rows_per_insert(backend),
        &pairs,
    ) {
        let mut values = Vec::with_capacity(rows.len() * BATCH_COLUMN_COUNT);
        for &(b, inserted, reused) in rows {
            let details = if reused {
                serde_json::to_string(&with_reused_note(&b.error_details))
            } else {
                serde_json::to_string(&b.error_details)
            }
            .unwrap_or_else(|_| "[]".to_owned());
            values.extend([
                Value::String(Some(b.batch_id.clone())),
                Value::String(Some(b.fingerprint.clone())),
                Value::String(Some("committed".to_owned())),
                count(b.total_records),
                count(b.rows()),
                count(b.errors),
                count(b.warnings),
                count(inserted),
                count(b.mapped.len() - inserted),
                count(b.unknown.len()),
                Value::String(Some(details)),
                Value::Double(Some(b.processing_time_ms)),
                Value::String(b.trace_id.clone()),
                Value::ChronoDateTimeUtc(Some(now)),
                Value::Bool((!reused).then_some(true)),
            ]);
        }
        // No conflict target: a conflict on either unique key skips the record.
        let sql = insert_ignore(
            backend,
            "t_ingest_batch",
            BATCH_COLUMNS,
            &values_list(backend, rows.len(), BATCH_COLUMN_COUNT),
            "",
        );
        let written = txn
            .execute_raw(statement(backend, sql, values))
            .await?
            .rows_affected();
        if usize::try_from(written).ok() != Some(rows.len()) {
            return Ok(false);
        }
    }
    Ok(true)
}
