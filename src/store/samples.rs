//! Inserting a group's samples: health rows and quarantined rows (multi-row statements, or
//! arrays on PostgreSQL, `pg_arrays`), and telling which of them are new.

use super::columns::{Column, HEALTH, HEALTH_NAMES, QUARANTINE_NAMES, Row, quarantine};
use super::driver::Driver;
use super::group::{CommitBatch, RowKey, batch_ids};
use super::pg_arrays;
use super::session::{Txn, exec_err};
use super::sql::{IDS_PER_QUERY, insert_ignore, values_list};
use chrono::{DateTime, Utc};
use fnv::FnvHashMap;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

/// Most rows per multi-row `INSERT` of batch records (also kept below every backend's
/// parameter limit).
///
/// PostgreSQL gets smaller statements: sqlx keeps, per connection and per cached statement
/// shape, the type of every parameter, so 2048-row shapes held ~90 MiB across the writers'
/// connections (5000-user workload: peak RSS 255 → 167 MiB with 512 rows, same throughput;
/// docs/BENCHMARKS.md).
pub(super) fn max_rows_per_insert(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 512,
        _ => 4096,
    }
}

/// The two sample tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum SampleTable {
    /// `t_user_health_data`: every column.
    Health,
    /// `t_unknown_device_data`: all but the wearer's.
    Quarantine,
}

/// The quarantine's columns, in order.
static QUARANTINE: LazyLock<Vec<&'static Column>> = LazyLock::new(|| quarantine().collect());
/// The health table's columns, in order.
static HEALTH_COLUMNS: LazyLock<Vec<&'static Column>> = LazyLock::new(|| HEALTH.iter().collect());
/// PostgreSQL's insert of health rows.
static HEALTH_UNNEST: LazyLock<String> = LazyLock::new(|| {
    pg_arrays::insert_sql(SampleTable::Health.name(), &HEALTH_NAMES, &HEALTH_COLUMNS)
});
/// PostgreSQL's insert of quarantined rows.
static QUARANTINE_UNNEST: LazyLock<String> = LazyLock::new(|| {
    pg_arrays::insert_sql(
        SampleTable::Quarantine.name(),
        &QUARANTINE_NAMES,
        &QUARANTINE,
    )
});

impl SampleTable {
    /// The table's name.
    pub(super) fn name(self) -> &'static str {
        match self {
            SampleTable::Health => "t_user_health_data",
            SampleTable::Quarantine => "t_unknown_device_data",
        }
    }

    /// The columns written, in order.
    pub(super) fn columns(self) -> &'static [&'static Column] {
        match self {
            SampleTable::Health => &HEALTH_COLUMNS,
            SampleTable::Quarantine => &QUARANTINE,
        }
    }

    /// The column list of the `INSERT`.
    pub(super) fn names(self) -> &'static str {
        match self {
            SampleTable::Health => &HEALTH_NAMES,
            SampleTable::Quarantine => &QUARANTINE_NAMES,
        }
    }

    /// The multi-row `INSERT` of `shape` rows that skips stored `(device_sn, timestamp)`
    /// pairs (MySQL and SQLite), built once per shape rather than for every commit (a few
    /// kilobytes of text, about 1 % of the service's CPU in a profile at 10 000 records/s);
    /// the driver's statement cache then keeps it without a copy. The shapes are few
    /// (`sql::padded_chunks`).
    pub(super) fn insert_sql(self, backend: DbBackend, shape: usize) -> Arc<str> {
        // `DbBackend` is not `Hash`: the key holds its dialect's name.
        type Key = (SampleTable, &'static str, usize);
        static BUILT: LazyLock<Mutex<HashMap<Key, Arc<str>>>> = LazyLock::new(Mutex::default);
        let dialect = match backend {
            DbBackend::MySql => "mysql",
            DbBackend::Postgres => "postgres",
            _ => "sqlite",
        };
        let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
        let sql = built.entry((self, dialect, shape)).or_insert_with(|| {
            insert_ignore(
                backend,
                self.name(),
                self.names(),
                &values_list(backend, shape, self.columns().len()),
                "device_sn, timestamp",
            )
            .into()
        });
        Arc::clone(sql)
    }

    /// PostgreSQL's `INSERT … SELECT * FROM UNNEST(…)` (`pg_arrays`).
    pub(super) fn unnest_sql(self) -> &'static str {
        match self {
            SampleTable::Health => &HEALTH_UNNEST,
            SampleTable::Quarantine => &QUARANTINE_UNNEST,
        }
    }
}

/// Inserts `rows` into `table`, skipping stored `(device_sn, timestamp)` pairs and repeats
/// within `rows`. Returns how many rows are new.
async fn insert_samples<DB: Driver>(
    txn: &Txn<'_, DB>,
    table: SampleTable,
    rows: &[Row<'_>],
) -> Result<u64, DbErr> {
    let mut conn = txn.lock().await;
    DB::insert_samples(&mut conn, table, rows)
        .await
        .map_err(exec_err)
}

/// New rows per device of a group: its wearer and the count. Hashed rather than ordered:
/// the fold orders what it adds (`store::daily`), and a batch's hundred devices cost a
/// `BTreeMap` about 1 % of the service's CPU in string comparisons.
pub(super) type PerDevice<'a> = FnvHashMap<&'a str, (i64, usize)>;

/// Inserts the mapped samples, skipping stored `(device_sn, timestamp)` pairs. Returns new
/// rows per active batch (in `active` order) and per device, and for each mapped sample (in
/// `active` order) whether it was stored now. `earlier` holds the rows that carried one of
/// the group's batch ids before this transaction (reused ids).
pub(super) async fn insert_health<'a, DB: Driver>(
    txn: &Txn<'_, DB>,
    batches: &'a [CommitBatch],
    active: &[usize],
    earlier: &HashSet<RowKey>,
    now: DateTime<Utc>,
) -> Result<(Vec<usize>, PerDevice<'a>, Vec<bool>), DbErr> {
    let rows: Vec<Row> = active
        .iter()
        .flat_map(|&i| {
            let b = &batches[i];
            b.mapped.iter().map(move |m| Row {
                batch_id: &b.batch_id,
                sample: &m.sample,
                binding: Some(&m.binding),
                now,
            })
        })
        .collect();
    // Re-sent samples are rare: insert without RETURNING (which costs the database a result
    // row per row, a third of MariaDB's time in measurements) and count every row as new
    // when all were.
    let all_new = insert_samples(txn, SampleTable::Health, &rows)
        .await
        .map(|new| usize::try_from(new).is_ok_and(|n| n == rows.len()))?;
    let new_rows = if all_new {
        vec![true; rows.len()]
    } else {
        // Some samples were stored before. The rows carrying this group's batch ids are the
        // ones stored now, but for those that carried a reused id before this transaction.
        // (A concurrent transaction that stores the same samples under the same reused id
        // with other records makes both count them: only the counts are off, never the rows.)
        let ids = batch_ids(batches, active);
        let mut stored_now = rows_of_batches(txn, &ids).await?;
        stored_now.retain(|row| !earlier.contains(row));
        // Taken, so that a sample repeated within the group counts once: the first copy is
        // the one stored.
        rows.iter()
            .map(|row| {
                stored_now.remove(&(
                    row.batch_id.to_owned(),
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
    // Sized for the worst case (every row another device): growing it a row at a time
    // rehashed it six times per hundred devices.
    let mut per_device = PerDevice::with_capacity_and_hasher(rows.len(), Default::default());
    let mapped = active.iter().flat_map(|&i| &batches[i].mapped);
    for ((pos, row), _) in owners.zip(mapped).zip(&new_rows).filter(|(_, new)| **new) {
        inserted[pos] += 1;
        per_device
            .entry(row.sample.device_sn.as_str())
            .or_insert((row.binding.user_id, 0))
            .1 += 1;
    }
    Ok((inserted, per_device, new_rows))
}

/// `(batch_id, device_sn, timestamp)` of the health rows of `batch_ids`.
pub(super) async fn rows_of_batches(
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
pub(super) async fn insert_quarantine<DB: Driver>(
    txn: &Txn<'_, DB>,
    batches: &[CommitBatch],
    active: &[usize],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let rows: Vec<Row> = active
        .iter()
        .flat_map(|&i| {
            let b = &batches[i];
            b.unknown.iter().map(move |sample| Row {
                batch_id: &b.batch_id,
                sample,
                binding: None,
                now,
            })
        })
        .collect();
    insert_samples(txn, SampleTable::Quarantine, &rows).await?;
    Ok(())
}
