//! Committing one batch: samples, quarantine, daily counters and the batch record in one
//! transaction. This is the storage call the upload pipeline awaits before it answers
//! `accepted`.

use super::devices::Binding;
use super::sql::{rows_per_statement, statement, values_list};
use super::{Store, StoreError, StoredBatch, is_transient};
use crate::ingest::Sample;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, TransactionTrait, Value};
use std::collections::{BTreeMap, HashMap};
use tracing::warn;

/// Rows per multi-row `INSERT`, below every backend's parameter limit.
const MAX_ROWS_PER_INSERT: usize = 1000;
/// Times a transaction that hit a deadlock or serialization failure is run again.
const MAX_RETRIES: u32 = 3;

/// A valid sample of a device bound to a wearer.
#[derive(Debug, Clone)]
pub struct MappedSample {
    /// The sample.
    pub sample: Sample,
    /// Its wearer.
    pub binding: Binding,
}

/// Everything one batch commits.
#[derive(Debug)]
pub struct CommitBatch<'a> {
    /// The batch id (client's or generated); unique in `t_ingest_batch`.
    pub batch_id: &'a str,
    /// Samples of bound devices, for `t_user_health_data`.
    pub mapped: &'a [MappedSample],
    /// Samples of unbound devices, for the quarantine.
    pub unknown: &'a [Sample],
    /// Records in the request.
    pub total_records: usize,
    /// Records rejected by validation.
    pub errors: usize,
    /// Field-level warnings.
    pub warnings: usize,
    /// The answered `error_details`.
    pub error_details: &'a [String],
    /// Milliseconds from request start until the commit began.
    pub processing_time_ms: f64,
    /// Commit time written to `create_time`.
    pub now: DateTime<Utc>,
    /// Calendar day of `now` in the service's zone, for the daily counters.
    pub day: NaiveDate,
}

/// The outcome of [`Store::commit_batch`].
#[derive(Debug)]
pub enum Committed {
    /// The batch is committed.
    New {
        /// New rows in `t_user_health_data`.
        inserted: usize,
        /// Mapped samples that were stored before.
        duplicates: usize,
    },
    /// Another request committed this batch id first; this is its result, and nothing was
    /// written now.
    Replayed(StoredBatch),
}

const HEALTH_COLUMNS: &str = "user_id, device_sn, heart_rate, blood_oxygen, temperature, \
    pressure_high, pressure_low, stress, step, distance, calorie, latitude, longitude, sleep, \
    timestamp, upload_method, customer_id, org_id, batch_id, create_time";
const HEALTH_COLUMN_COUNT: usize = 20;

const QUARANTINE_COLUMNS: &str = "device_sn, heart_rate, blood_oxygen, temperature, \
    pressure_high, pressure_low, stress, step, distance, calorie, latitude, longitude, sleep, \
    timestamp, upload_method, batch_id, create_time";
const QUARANTINE_COLUMN_COUNT: usize = 17;

impl Store {
    /// Commits `batch` in one transaction, retrying deadlocks. Returns only once the rows
    /// are durable, or an error when nothing was committed.
    pub async fn commit_batch(&self, batch: &CommitBatch<'_>) -> Result<Committed, StoreError> {
        let mut attempt = 0;
        loop {
            match self.try_commit(batch).await {
                Err(err) if is_transient(&err) && attempt < MAX_RETRIES => {
                    attempt += 1;
                    warn!(batch_id = batch.batch_id, attempt, error = %err, "Transaction conflict; retrying.");
                }
                Err(err) => return Err(err.into()),
                Ok(Some(committed)) => return Ok(committed),
                // The id was committed by another request meanwhile: answer its result.
                Ok(None) => {
                    return match self.find_batch(batch.batch_id).await? {
                        Some(stored) => Ok(Committed::Replayed(stored)),
                        None => Err(StoreError::Database(DbErr::RecordNotFound(format!(
                            "batch {} conflicted but is not stored",
                            batch.batch_id
                        )))),
                    };
                }
            }
        }
    }

    /// One attempt; `None` when the batch id turned out to be taken (nothing committed).
    async fn try_commit(&self, batch: &CommitBatch<'_>) -> Result<Option<Committed>, DbErr> {
        let backend = self.backend();
        let txn = self.db.begin().await?;
        // The first statement writes, so SQLite takes the write lock up front (with its busy
        // timeout) instead of failing to upgrade a read snapshot later.
        let per_device = insert_health(&txn, backend, batch).await?;
        insert_quarantine(&txn, backend, batch).await?;
        upsert_daily(&txn, backend, batch, &per_device).await?;

        let inserted: usize = per_device.values().map(|(_, n)| n).sum();
        let duplicates = batch.mapped.len() - inserted;
        if !insert_batch_row(&txn, backend, batch, inserted, duplicates).await? {
            txn.rollback().await?;
            return Ok(None);
        }
        txn.commit().await?;
        Ok(Some(Committed::New {
            inserted,
            duplicates,
        }))
    }
}

/// Inserts the mapped samples, skipping stored `(device_sn, timestamp)` pairs. Returns, per
/// device, its wearer and how many rows were new.
async fn insert_health<'a>(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    batch: &'a CommitBatch<'_>,
) -> Result<BTreeMap<&'a str, (i64, usize)>, DbErr> {
    let wearers: HashMap<&str, i64> = batch
        .mapped
        .iter()
        .map(|r| (r.sample.device_sn.as_str(), r.binding.user_id))
        .collect();
    let mut per_device: BTreeMap<&str, (i64, usize)> = BTreeMap::new();
    let chunk = rows_per_statement(backend, HEALTH_COLUMN_COUNT, MAX_ROWS_PER_INSERT);
    for rows in batch.mapped.chunks(chunk) {
        let mut values = Vec::with_capacity(rows.len() * HEALTH_COLUMN_COUNT);
        for row in rows {
            let s = &row.sample;
            values.push(Value::BigInt(Some(row.binding.user_id)));
            push_measurements(&mut values, s);
            values.push(Value::BigInt(row.binding.customer_id));
            values.push(Value::BigInt(row.binding.org_id));
            values.push(Value::String(Some(batch.batch_id.to_owned())));
            values.push(Value::ChronoDateTimeUtc(Some(batch.now)));
        }
        let sql = insert_ignore(
            backend,
            "t_user_health_data",
            HEALTH_COLUMNS,
            &values_list(backend, rows.len(), HEALTH_COLUMN_COUNT),
            "device_sn, timestamp",
            "device_sn",
        );
        for returned in txn.query_all_raw(statement(backend, sql, values)).await? {
            let device: String = returned.try_get_by_index(0)?;
            if let Some((&device, &user_id)) = wearers.get_key_value(device.as_str()) {
                per_device.entry(device).or_insert((user_id, 0)).1 += 1;
            }
        }
    }
    Ok(per_device)
}

/// Keeps samples of unbound devices, skipping ones already quarantined.
async fn insert_quarantine(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    batch: &CommitBatch<'_>,
) -> Result<(), DbErr> {
    let chunk = rows_per_statement(backend, QUARANTINE_COLUMN_COUNT, MAX_ROWS_PER_INSERT);
    for rows in batch.unknown.chunks(chunk) {
        let mut values = Vec::with_capacity(rows.len() * QUARANTINE_COLUMN_COUNT);
        for s in rows {
            push_measurements(&mut values, s);
            values.push(Value::String(Some(batch.batch_id.to_owned())));
            values.push(Value::ChronoDateTimeUtc(Some(batch.now)));
        }
        let sql = insert_ignore(
            backend,
            "t_unknown_device_data",
            QUARANTINE_COLUMNS,
            &values_list(backend, rows.len(), QUARANTINE_COLUMN_COUNT),
            "device_sn, timestamp",
            "",
        );
        txn.execute_raw(statement(backend, sql, values)).await?;
    }
    Ok(())
}

/// `device_sn` through `upload_method`, in the order of both sample tables.
fn push_measurements(values: &mut Vec<Value>, s: &Sample) {
    values.extend([
        Value::String(Some(s.device_sn.clone())),
        Value::Int(s.heart_rate),
        Value::Int(s.blood_oxygen),
        Value::Double(s.temperature),
        Value::Int(s.pressure_high),
        Value::Int(s.pressure_low),
        Value::Int(s.stress),
        Value::Int(s.step),
        Value::Int(s.distance),
        Value::Int(s.calorie),
        Value::Double(s.latitude),
        Value::Double(s.longitude),
        Value::String(s.sleep.clone()),
        Value::ChronoDateTimeUtc(Some(s.timestamp)),
        Value::String(s.upload_method.clone()),
    ]);
}

/// Adds today's new rows to each device's daily counter. Devices are visited in sorted order
/// so concurrent transactions lock counter rows in the same order and cannot deadlock.
async fn upsert_daily(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    batch: &CommitBatch<'_>,
    per_device: &BTreeMap<&str, (i64, usize)>,
) -> Result<(), DbErr> {
    let devices: Vec<_> = per_device.iter().filter(|(_, (_, n))| *n > 0).collect();
    let chunk = rows_per_statement(backend, 5, MAX_ROWS_PER_INSERT);
    for rows in devices.chunks(chunk) {
        let mut values = Vec::with_capacity(rows.len() * 5);
        for (device, (user_id, inserted)) in rows {
            values.extend([
                Value::ChronoDate(Some(batch.day)),
                Value::String(Some((**device).to_owned())),
                Value::BigInt(Some(*user_id)),
                Value::BigInt(Some(*inserted as i64)),
                Value::ChronoDateTimeUtc(Some(batch.now)),
            ]);
        }
        let update = match backend {
            DbBackend::MySql => {
                "ON DUPLICATE KEY UPDATE records = records + VALUES(records), \
                 user_id = VALUES(user_id), last_seen = VALUES(last_seen)"
            }
            _ => {
                "ON CONFLICT (day, device_sn) DO UPDATE SET \
                 records = t_device_daily.records + excluded.records, \
                 user_id = excluded.user_id, last_seen = excluded.last_seen"
            }
        };
        let sql = format!(
            "INSERT INTO t_device_daily (day, device_sn, user_id, records, last_seen) VALUES {} {update}",
            values_list(backend, rows.len(), 5)
        );
        txn.execute_raw(statement(backend, sql, values)).await?;
    }
    Ok(())
}

/// Writes the batch record; `false` when the id is already taken.
async fn insert_batch_row(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    batch: &CommitBatch<'_>,
    inserted: usize,
    duplicates: usize,
) -> Result<bool, DbErr> {
    let count = |n: usize| Value::Int(Some(i32::try_from(n).unwrap_or(i32::MAX)));
    let details = serde_json::to_string(batch.error_details).unwrap_or_else(|_| "[]".to_owned());
    let values = vec![
        Value::String(Some(batch.batch_id.to_owned())),
        Value::String(Some("committed".to_owned())),
        count(batch.total_records),
        count(batch.mapped.len() + batch.unknown.len()),
        count(batch.errors),
        count(batch.warnings),
        count(inserted),
        count(duplicates),
        count(batch.unknown.len()),
        Value::String(Some(details)),
        Value::Double(Some(batch.processing_time_ms)),
        Value::ChronoDateTimeUtc(Some(batch.now)),
    ];
    let sql = insert_ignore(
        backend,
        "t_ingest_batch",
        "batch_id, status, total_records, valid_records, errors, warnings, inserted, \
         duplicates, unknown_device, error_details, processing_time_ms, create_time",
        &values_list(backend, 1, 12),
        "batch_id",
        "",
    );
    let result = txn.execute_raw(statement(backend, sql, values)).await?;
    Ok(result.rows_affected() == 1)
}

/// `INSERT … VALUES …` that skips rows whose `conflict` key exists, optionally returning
/// `returning` of the rows it did insert.
fn insert_ignore(
    backend: DbBackend,
    table: &str,
    columns: &str,
    values: &str,
    conflict: &str,
    returning: &str,
) -> String {
    let returning = if returning.is_empty() {
        String::new()
    } else {
        format!(" RETURNING {returning}")
    };
    match backend {
        // MariaDB ≥ 10.5 returns only the rows INSERT IGNORE really inserted.
        DbBackend::MySql => {
            format!("INSERT IGNORE INTO {table} ({columns}) VALUES {values}{returning}")
        }
        _ => format!(
            "INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({conflict}) DO NOTHING{returning}"
        ),
    }
}
