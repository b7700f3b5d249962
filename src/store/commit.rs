//! Committing a group of upload batches in one transaction: samples, quarantine, the counts
//! for the daily counters, alerts and the batch records. The group-commit writer calls this;
//! an upload is answered only after it returned.

use super::alerts::{self, AlertEvent};
use super::batches::{KnownBatches, with_reused_note};
use super::daily;
use super::devices::Binding;
use super::pg_copy::CopyTxn;
use super::sql::{IDS_PER_QUERY, insert_ignore, statement, statement_chunks, values_list};
use super::{Store, StoreError, StoredBatch, is_transient, is_unique_violation};
use crate::alerts::rules::Rules;
use crate::ingest::Sample;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QuerySelect, TransactionSession, TransactionTrait, Value,
};
use std::collections::{BTreeMap, HashSet};
use tracing::{Instrument, warn};

/// Most rows per multi-row `INSERT` (also kept below every backend's parameter limit).
///
/// PostgreSQL gets smaller statements: sqlx keeps, per connection and per cached statement
/// shape, the type of every parameter, so 2048-row shapes held ~90 MiB across the writers'
/// connections (5000-user workload: peak RSS 255 → 167 MiB with 512 rows, same throughput;
/// docs/BENCHMARKS.md).
fn max_rows_per_insert(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 512,
        _ => 4096,
    }
}
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

/// The outcome of one batch of a group.
#[derive(Debug, Clone)]
pub enum Committed {
    /// The batch is committed.
    New {
        /// New rows in `t_user_health_data`.
        inserted: usize,
        /// Mapped samples that were stored before.
        duplicates: usize,
        /// The client's batch id was used before for other records (committed earlier, or
        /// by an earlier batch of the same group): the answer says so.
        batch_id_reused: bool,
    },
    /// The same batch (id and records) was committed before, by another request, perhaps on
    /// another instance; this is that first result, and nothing of this batch was written.
    Replayed(StoredBatch),
}

/// The health table's inserted columns (also the `COPY` staging table's, `pg_copy`).
pub(super) const HEALTH_COLUMNS: &str = "user_id, device_sn, heart_rate, blood_oxygen, temperature, \
    pressure_high, pressure_low, stress, step, distance, calorie, latitude, longitude, sleep, \
    timestamp, upload_method, customer_id, org_id, batch_id, create_time";
const HEALTH_COLUMN_COUNT: usize = 20;

const QUARANTINE_COLUMNS: &str = "device_sn, heart_rate, blood_oxygen, temperature, \
    pressure_high, pressure_low, stress, step, distance, calorie, latitude, longitude, sleep, \
    timestamp, upload_method, batch_id, create_time";
const QUARANTINE_COLUMN_COUNT: usize = 17;

const BATCH_COLUMNS: &str = "batch_id, fingerprint, status, total_records, valid_records, \
    errors, warnings, inserted, duplicates, unknown_device, error_details, processing_time_ms, \
    trace_id, create_time";
const BATCH_COLUMN_COUNT: usize = 14;

/// What a committed group did.
#[derive(Debug, Clone)]
pub struct GroupCommitted {
    /// One outcome per batch, in order.
    pub outcomes: Vec<Committed>,
    /// Alerts opened or escalated by this commit (each queued a notification).
    pub alert_events: Vec<AlertEvent>,
}

/// A batch record's key: batch id and fingerprint.
type BatchKey = (String, String);

/// What one transaction attempt did.
enum Attempt {
    /// Committed; new rows per active batch, in order, and the alert events.
    Committed(Vec<usize>, Vec<AlertEvent>),
    /// Rolled back: these batches (id and fingerprint) were already committed.
    Taken(HashSet<BatchKey>),
}

impl CommitBatch {
    fn key(&self) -> (&str, &str) {
        (&self.batch_id, &self.fingerprint)
    }
}

/// The record of `batch` among `known`, if the same batch was committed before.
fn stored<'a>(known: &'a KnownBatches, batch: &CommitBatch) -> Option<&'a StoredBatch> {
    known.get(&batch.batch_id)?.get(&batch.fingerprint)
}

impl Store {
    /// Commits `batches` in one transaction at time `now` (calendar day `day`), retrying
    /// deadlocks, with the alerts that `rules` raise from the newly stored samples. Returns
    /// one outcome per batch, in order, only once everything is durable; on error nothing of
    /// the group was committed.
    pub async fn commit_group(
        &self,
        batches: &[CommitBatch],
        now: DateTime<Utc>,
        day: NaiveDate,
        rules: Option<&Rules>,
    ) -> Result<GroupCommitted, StoreError> {
        let mut outcomes: Vec<Option<Committed>> = vec![None; batches.len()];
        // A batch (id and records) is written once per group; later copies get the first
        // one's result.
        let mut seen = HashSet::new();
        let mut active: Vec<usize> = (0..batches.len())
            .filter(|&i| seen.insert(batches[i].key()))
            .collect();
        // Replays are answered with the stored result and write nothing. One lookup for the
        // whole group rather than one per upload: the database does one query where it did
        // dozens (MariaDB on one core: 56 000 → 62 000 records/s at saturation).
        let mut client_ids: Vec<&str> = active
            .iter()
            .map(|&i| &batches[i])
            .filter(|b| b.client_batch_id)
            .map(|b| b.batch_id.as_str())
            .collect();
        client_ids.sort_unstable();
        client_ids.dedup();
        let mut known = self.find_batches(&client_ids).await?;
        active.retain(|&i| stored(&known, &batches[i]).is_none());
        // Another batch under an id that holds other records already, committed before or
        // earlier in this group: stored all the same, and its answer says so.
        let mut ids = HashSet::new();
        let reused: HashSet<usize> = active
            .iter()
            .copied()
            .filter(|&i| {
                let b = &batches[i];
                b.client_batch_id
                    && (!ids.insert(b.batch_id.as_str()) || known.contains_key(&b.batch_id))
            })
            .collect();
        // Rows stored earlier under a reused id would pass for rows of this group when some
        // of its samples turn out to be duplicates (`insert_health`): note them first.
        let earlier = if reused.is_empty() {
            HashSet::new()
        } else {
            let ids: Vec<&str> = reused
                .iter()
                .map(|&i| batches[i].batch_id.as_str())
                .collect();
            rows_of_batches(&self.db, &ids).await?
        };
        let mut retries = 0;
        let mut alert_events = Vec::new();
        while !active.is_empty() {
            let group = Group {
                batches,
                active: &active,
                reused: &reused,
                earlier: &earlier,
            };
            match self.try_commit(&group, now, day, rules).await {
                Ok(Attempt::Committed(inserted, events)) => {
                    alert_events = events;
                    for (&i, inserted) in active.iter().zip(inserted) {
                        outcomes[i] = Some(Committed::New {
                            inserted,
                            duplicates: batches[i].mapped.len() - inserted,
                            batch_id_reused: reused.contains(&i),
                        });
                    }
                    break;
                }
                // Rare: another request committed one of these batches since the lookup.
                // Commit the rest; those are answered with the stored result.
                Ok(Attempt::Taken(taken)) => {
                    active.retain(|&i| {
                        let (id, fingerprint) = batches[i].key();
                        !taken.contains(&(id.to_owned(), fingerprint.to_owned()))
                    });
                }
                // A unique violation can only come from two writers opening the same alert
                // episode at once (every other insert skips conflicts): run it again, it
                // now finds the other's alert.
                Err(err)
                    if (is_transient(&err) || is_unique_violation(&err))
                        && retries < MAX_RETRIES =>
                {
                    retries += 1;
                    warn!(batches = active.len(), attempt = retries, error = %err, "Transaction conflict; retrying.");
                }
                Err(err) => return Err(err.into()),
            }
        }

        // Batches another writer committed while this group was in flight, and copies of
        // batches committed by this group.
        let taken: Vec<&str> = outcomes
            .iter()
            .zip(batches)
            .filter(|(o, b)| o.is_none() && stored(&known, b).is_none())
            .map(|(_, b)| b.batch_id.as_str())
            .collect();
        for (id, records) in self.find_batches(&taken).await? {
            known.entry(id).or_default().extend(records);
        }
        let outcomes = outcomes
            .into_iter()
            .zip(batches)
            .map(|(outcome, batch)| match outcome {
                Some(outcome) => Ok(outcome),
                None => stored(&known, batch)
                    .cloned()
                    .map(Committed::Replayed)
                    .ok_or_else(|| {
                        StoreError::Database(DbErr::RecordNotFound(format!(
                            "batch {} conflicted but is not stored",
                            batch.batch_id
                        )))
                    }),
            })
            .collect::<Result<_, _>>()?;
        Ok(GroupCommitted {
            outcomes,
            alert_events,
        })
    }

    async fn try_commit(
        &self,
        group: &Group<'_>,
        now: DateTime<Utc>,
        day: NaiveDate,
        rules: Option<&Rules>,
    ) -> Result<Attempt, DbErr> {
        if self.copies_samples() {
            let txn = CopyTxn::begin(self.db.get_postgres_connection_pool()).await?;
            write_group(txn, group, now, day, rules).await
        } else {
            write_group(self.db.begin().await?, group, now, day, rules).await
        }
    }
}

/// The transaction a group commits in: SeaORM's, or on PostgreSQL one that can `COPY`.
pub(super) trait GroupTxn: ConnectionTrait + TransactionSession + Sync {
    /// Inserts `rows` (batch id, sample) created at `now`, skipping stored `(device_sn,
    /// timestamp)` pairs and repeats within `rows`. Returns how many rows are new.
    fn insert_health(
        &self,
        rows: &[(&str, &MappedSample)],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, DbErr>> + Send;
}

/// Multi-row `INSERT IGNORE` / `ON CONFLICT DO NOTHING`, each statement within the backend's
/// parameter limit.
impl GroupTxn for DatabaseTransaction {
    async fn insert_health(
        &self,
        rows: &[(&str, &MappedSample)],
        now: DateTime<Utc>,
    ) -> Result<u64, DbErr> {
        insert_samples(
            self,
            "t_user_health_data",
            HEALTH_COLUMNS,
            HEALTH_COLUMN_COUNT,
            rows,
            |values, (batch_id, row)| {
                values.push(Value::BigInt(Some(row.binding.user_id)));
                push_measurements(values, &row.sample);
                values.push(Value::BigInt(row.binding.customer_id));
                values.push(Value::BigInt(row.binding.org_id));
                values.push(Value::String(Some((*batch_id).to_owned())));
                values.push(Value::ChronoDateTimeUtc(Some(now)));
            },
        )
        .await
    }
}

/// Multi-row `INSERT IGNORE` / `ON CONFLICT (device_sn, timestamp) DO NOTHING` of `rows`
/// into the sample table `table`, each statement within the backend's parameter limit;
/// `push` appends a row's `column_count` values. Returns how many rows are new.
async fn insert_samples<R>(
    txn: &impl ConnectionTrait,
    table: &str,
    columns: &str,
    column_count: usize,
    rows: &[R],
    push: impl Fn(&mut Vec<Value>, &R),
) -> Result<u64, DbErr> {
    let backend = txn.get_database_backend();
    let mut new = 0;
    for rows in statement_chunks(backend, column_count, max_rows_per_insert(backend), rows) {
        let mut values = Vec::with_capacity(rows.len() * column_count);
        for row in rows {
            push(&mut values, row);
        }
        let sql = insert_ignore(
            backend,
            table,
            columns,
            &values_list(backend, rows.len(), column_count),
            "device_sn, timestamp",
            "",
        );
        new += txn
            .execute_raw(statement(backend, sql, values))
            .await?
            .rows_affected();
    }
    Ok(new)
}

/// The batches one transaction writes.
struct Group<'a> {
    /// Every batch of the group.
    batches: &'a [CommitBatch],
    /// Those this transaction writes, in order.
    active: &'a [usize],
    /// Those among `active` whose client batch id holds other records already.
    reused: &'a HashSet<usize>,
    /// Health rows that carried a reused id before this group.
    earlier: &'a HashSet<RowKey>,
}

/// Writes the group in `txn` and commits, or rolls back when another transaction committed
/// one of its batches first.
async fn write_group<T: GroupTxn>(
    txn: T,
    group: &Group<'_>,
    now: DateTime<Utc>,
    day: NaiveDate,
    rules: Option<&Rules>,
) -> Result<Attempt, DbErr> {
    let Group {
        batches,
        active,
        earlier,
        ..
    } = *group;
    let backend = txn.get_database_backend();
    // The first statement writes, so SQLite takes the write lock up front (with its busy
    // timeout) instead of failing to upgrade a read snapshot later.
    let (inserted, per_device, new_rows) =
        insert_health(&txn, batches, active, earlier, now).await?;
    insert_quarantine(&txn, batches, active, now).await?;
    let counts: Vec<_> = per_device
        .iter()
        .map(|(&device, &(user_id, n))| (device, user_id, n))
        .collect();
    daily::queue_counts(&txn, day, now, &counts).await?;
    let alert_events = match rules {
        Some(rules) => {
            let committed = active
                .iter()
                .flat_map(|&i| &batches[i].mapped)
                .zip(&new_rows)
                .filter(|(_, new)| **new)
                .map(|(m, _)| m);
            alerts::apply(&txn, rules, committed, now)
                .instrument(tracing::info_span!("alerts"))
                .await?
        }
        None => Vec::new(),
    };
    let claimed = insert_batch_rows(&txn, backend, group, &inserted, now).await?;
    if claimed.len() < active.len() {
        txn.rollback().await?;
        return Ok(Attempt::Taken(
            active
                .iter()
                .map(|&i| {
                    let (id, fingerprint) = batches[i].key();
                    (id.to_owned(), fingerprint.to_owned())
                })
                .filter(|key| !claimed.contains(key))
                .collect(),
        ));
    }
    txn.commit().await?;
    Ok(Attempt::Committed(inserted, alert_events))
}

/// New rows per device of a group: its wearer and the count.
type PerDevice<'a> = BTreeMap<&'a str, (i64, usize)>;

/// A health row as this group looks for it: batch id, device, sample time.
type RowKey = (String, String, DateTime<Utc>);

/// Inserts the mapped samples, skipping stored `(device_sn, timestamp)` pairs. Returns new
/// rows per active batch (in `active` order) and per device, and for each mapped sample (in
/// `active` order) whether it was stored now. `earlier` holds the rows that carried one of
/// the group's batch ids before this transaction (reused ids).
async fn insert_health<'a>(
    txn: &impl GroupTxn,
    batches: &'a [CommitBatch],
    active: &[usize],
    earlier: &HashSet<RowKey>,
    now: DateTime<Utc>,
) -> Result<(Vec<usize>, PerDevice<'a>, Vec<bool>), DbErr> {
    let rows: Vec<(&str, &MappedSample)> = active
        .iter()
        .flat_map(|&i| {
            let b = &batches[i];
            b.mapped.iter().map(move |m| (b.batch_id.as_str(), m))
        })
        .collect();
    // Re-sent samples are rare: insert without RETURNING (which costs the database a result
    // row per row, a third of MariaDB's time in measurements) and count every row as new
    // when all were.
    let all_new = txn
        .insert_health(&rows, now)
        .await
        .map(|new| usize::try_from(new).is_ok_and(|n| n == rows.len()))?;
    let new_rows = if all_new {
        vec![true; rows.len()]
    } else {
        // Some samples were stored before. The rows carrying this group's batch ids are the
        // ones stored now, but for those that carried a reused id before this transaction.
        // (A concurrent transaction that stores the same samples under the same reused id
        // with other records makes both count them: only the counts are off, never the rows.)
        let mut ids: Vec<&str> = active
            .iter()
            .map(|&i| batches[i].batch_id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut stored_now = rows_of_batches(txn, &ids).await?;
        stored_now.retain(|row| !earlier.contains(row));
        // Taken, so that a sample repeated within the group counts once: the first copy is
        // the one stored.
        rows.iter()
            .map(|(batch_id, row)| {
                stored_now.remove(&(
                    (*batch_id).to_owned(),
                    row.sample.device_sn.clone(),
                    row.sample.timestamp,
                ))
            })
            .collect()
    };

    // Position in `active` of each row's batch (two batches of a group may share an id).
    let owners = active
        .iter()
        .enumerate()
        .flat_map(|(pos, &i)| std::iter::repeat_n(pos, batches[i].mapped.len()));
    let mut inserted = vec![0; active.len()];
    let mut per_device = PerDevice::new();
    for ((pos, (_, row)), _) in owners.zip(&rows).zip(&new_rows).filter(|(_, new)| **new) {
        inserted[pos] += 1;
        per_device
            .entry(row.sample.device_sn.as_str())
            .or_insert((row.binding.user_id, 0))
            .1 += 1;
    }
    Ok((inserted, per_device, new_rows))
}

/// `(batch_id, device_sn, timestamp)` of the health rows of `batch_ids`.
async fn rows_of_batches(
    txn: &impl ConnectionTrait,
    batch_ids: &[&str],
) -> Result<HashSet<RowKey>, DbErr> {
    use entity::t_user_health_data::{Column, Entity};
    let mut found = HashSet::new();
    for ids in batch_ids.chunks(IDS_PER_QUERY) {
        let rows: Vec<(Option<String>, String, DateTime<Utc>)> = Entity::find()
            .select_only()
            .columns([Column::BatchId, Column::DeviceSn, Column::Timestamp])
            .filter(Column::BatchId.is_in(ids.iter().copied()))
            .into_tuple()
            .all(txn)
            .await?;
        found.extend(
            rows.into_iter()
                .filter_map(|(batch_id, device, at)| Some((batch_id?, device, at))),
        );
    }
    Ok(found)
}

/// Keeps samples of unbound devices, skipping ones already quarantined.
async fn insert_quarantine(
    txn: &impl ConnectionTrait,
    batches: &[CommitBatch],
    active: &[usize],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let rows: Vec<(&str, &Sample)> = active
        .iter()
        .flat_map(|&i| {
            let b = &batches[i];
            b.unknown.iter().map(move |s| (b.batch_id.as_str(), s))
        })
        .collect();
    insert_samples(
        txn,
        "t_unknown_device_data",
        QUARANTINE_COLUMNS,
        QUARANTINE_COLUMN_COUNT,
        &rows,
        |values, (batch_id, s)| {
            push_measurements(values, s);
            values.push(Value::String(Some((*batch_id).to_owned())));
            values.push(Value::ChronoDateTimeUtc(Some(now)));
        },
    )
    .await?;
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

/// Writes the batch records; returns the keys it wrote (a batch committed already is
/// skipped).
async fn insert_batch_rows(
    txn: &impl ConnectionTrait,
    backend: DbBackend,
    group: &Group<'_>,
    inserted: &[usize],
    now: DateTime<Utc>,
) -> Result<HashSet<BatchKey>, DbErr> {
    let count = |n: usize| Value::Int(Some(i32::try_from(n).unwrap_or(i32::MAX)));
    let mut claimed = HashSet::with_capacity(group.active.len());
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
            ]);
        }
        let sql = insert_ignore(
            backend,
            "t_ingest_batch",
            BATCH_COLUMNS,
            &values_list(backend, rows.len(), BATCH_COLUMN_COUNT),
            "batch_id, fingerprint",
            "batch_id, fingerprint",
        );
        for returned in txn.query_all_raw(statement(backend, sql, values)).await? {
            claimed.insert((
                returned.try_get_by_index::<String>(0)?,
                returned.try_get_by_index::<String>(1)?,
            ));
        }
    }
    Ok(claimed)
}
