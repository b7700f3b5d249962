//! The daily counters (`t_device_daily`): how a commit's counts reach them.
//!
//! A group commit does not update one counter row per device (with uploads that mix many
//! devices that was nearly one extra row write per stored sample, about a fifth of the
//! database's work in the group commit). It writes the group's per-device counts as one row
//! of `t_device_daily_pending` in the same transaction, and [`Store::fold_daily_counts`]
//! adds pending rows to the counters and deletes them, about once a second. A crash leaves
//! pending rows for the next fold: no count is lost, it only arrives later.

use super::sql::{statement, statement_chunks, values_list};
use super::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use entity::device_daily_pending;
use fnv::FnvHashMap;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait, Value,
};
use serde::Deserialize;
use std::borrow::Cow;

/// Devices per pending row: keeps the JSON far below a MySQL `TEXT` (64 KiB) even with
/// 64-character serial numbers.
const DEVICES_PER_ROW: usize = 500;
/// Times a fold that lost pending rows to another instance is tried again at once.
const CLAIM_ATTEMPTS: usize = 3;

/// One device's new rows in a commit: serial number, wearer, count.
pub(super) type DeviceCount<'a> = (&'a str, i64, usize);

/// Queues the per-device counts of a commit at `now` (calendar day `day`) for the daily
/// counters, inside the commit's transaction. A plain statement rather than the entity's
/// `insert_many`: building that query on every commit cost about 2 % of the service's CPU
/// in a profile at 10 000 records/s.
pub(super) async fn queue_counts(
    txn: &impl ConnectionTrait,
    day: NaiveDate,
    now: DateTime<Utc>,
    counts: &[DeviceCount<'_>],
) -> Result<(), DbErr> {
    if counts.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let chunks = counts.chunks(DEVICES_PER_ROW);
    let rows = chunks.len();
    let mut values = Vec::with_capacity(rows * 3);
    for chunk in chunks {
        let json = serde_json::to_string(chunk).unwrap_or_else(|_| "[]".to_owned());
        values.extend([
            Value::ChronoDate(Some(day)),
            Value::ChronoDateTimeUtc(Some(now)),
            Value::String(Some(json)),
        ]);
    }
    let sql = format!(
        "INSERT INTO t_device_daily_pending (day, last_seen, counts) VALUES {}",
        values_list(backend, rows, 3)
    );
    txn.execute_raw(statement(backend, sql, values)).await?;
    Ok(())
}

/// A [`DeviceCount`] as read back from its pending row; the serial is borrowed from the
/// row's text unless JSON escaped it.
#[derive(Deserialize)]
struct PendingCount<'a>(#[serde(borrow)] Cow<'a, str>, i64, i64);

/// A device's counter change on one day: wearer (of the latest commit), rows, last commit.
#[derive(Debug, Clone, Copy)]
struct Increment {
    user_id: i64,
    records: i64,
    last_seen: DateTime<Utc>,
}

impl Store {
    /// Adds up to `limit` pending commits (oldest first) to the daily counters and deletes
    /// them, in one transaction. Returns how many pending rows were folded; 0 when none is
    /// waiting. Safe with several instances folding at once: rows another instance deleted
    /// first make this attempt roll back and start again.
    pub async fn fold_daily_counts(&self, limit: usize) -> Result<usize, StoreError> {
        for _ in 0..CLAIM_ATTEMPTS {
            if let Some(folded) = self.try_fold(limit).await? {
                return Ok(folded);
            }
        }
        Ok(0)
    }

    /// `None` when another instance folded some of the same rows meanwhile.
    async fn try_fold(&self, limit: usize) -> Result<Option<usize>, DbErr> {
        use device_daily_pending::{Column, Entity};
        let backend = self.backend();
        // SQLite: take the write lock at BEGIN (waiting out the writer with the busy
        // timeout); a read transaction could not upgrade to the DELETE while it writes.
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?;
        let pending = Entity::find()
            .order_by_asc(Column::Id)
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .all(&txn)
            .await?;
        if pending.is_empty() {
            txn.rollback().await?;
            return Ok(Some(0));
        }
        let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
        // The DELETE is the claim: it locks the rows (or finds them gone) before anything is
        // counted.
        let deleted = Entity::delete_many()
            .filter(Column::Id.is_in(ids.iter().copied()))
            .exec(&txn)
            .await?
            .rows_affected;
        if usize::try_from(deleted).ok() != Some(ids.len()) {
            txn.rollback().await?;
            return Ok(None);
        }
        // Gathered in a hash map, then sorted once: at 10 000 records/s, ten thousand counts
        // a second went into an ordered map, and its string comparisons made the fold 4 % of
        // the service's CPU.
        let mut increments: FnvHashMap<(NaiveDate, Cow<str>), Increment> = FnvHashMap::default();
        for row in &pending {
            let counts: Vec<PendingCount> = serde_json::from_str(&row.counts)
                .map_err(|err| DbErr::Custom(format!("pending counts {}: {err}", row.id)))?;
            for PendingCount(device, user_id, records) in counts {
                let entry = increments.entry((row.day, device)).or_insert(Increment {
                    user_id,
                    records: 0,
                    last_seen: row.last_seen,
                });
                entry.user_id = user_id;
                entry.records += records;
                entry.last_seen = entry.last_seen.max(row.last_seen);
            }
        }
        // Sorted by (day, device): concurrent folds lock counter rows in the same order.
        let mut increments: Vec<_> = increments.into_iter().collect();
        increments.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        for rows in statement_chunks(backend, 5, 1000, &increments) {
            let mut values = Vec::with_capacity(rows.len() * 5);
            for ((day, device), inc) in rows {
                values.extend([
                    Value::ChronoDate(Some(*day)),
                    Value::String(Some(device.as_ref().to_owned())),
                    Value::BigInt(Some(inc.user_id)),
                    Value::BigInt(Some(inc.records)),
                    Value::ChronoDateTimeUtc(Some(inc.last_seen)),
                ]);
            }
            txn.execute_raw(statement(backend, upsert_sql(backend, rows.len()), values))
                .await?;
        }
        txn.commit().await?;
        Ok(Some(pending.len()))
    }
}

/// `INSERT` of `rows` daily counter rows `(day, device_sn, user_id, records, last_seen)` that
/// adds to the counters already there.
pub(super) fn upsert_sql(backend: DbBackend, rows: usize) -> String {
    let update = match backend {
        // `VALUES(col)` here is deprecated since MySQL 8.0.20 in favour of a row alias
        // (`AS new`), which MariaDB does not have; MySQL 8 and TiDB still accept it.
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
    format!(
        "INSERT INTO t_device_daily (day, device_sn, user_id, records, last_seen) VALUES {} {update}",
        values_list(backend, rows, 5)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_counts_read_back_what_was_queued() {
        // Serials may hold any printable ASCII, quotes and backslashes included: JSON escapes
        // those, and they come back owned rather than borrowed.
        let queued: Vec<DeviceCount> = vec![("WATCH0001", 7, 3), (r#"W"\0002"#, 8, 1)];
        let text = serde_json::to_string(&queued).expect("serialises");
        let read: Vec<PendingCount> = serde_json::from_str(&text).expect("reads back");
        assert!(matches!(read[0].0, Cow::Borrowed(_)));
        assert!(matches!(read[1].0, Cow::Owned(_)));
        let read: Vec<(&str, i64, i64)> = read
            .iter()
            .map(|PendingCount(device, user, n)| (device.as_ref(), *user, *n))
            .collect();
        assert_eq!(read, [("WATCH0001", 7, 3), (r#"W"\0002"#, 8, 1)]);
    }
}
