//! Replaying a device's quarantined samples into the health table once it is bound.

use super::columns::REPLAYED_NAMES;
use super::daily;
use super::sql::statement;
use super::{Store, StoreError};
use crate::domain::Binding;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait, Value};

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Samples now stored in `t_user_health_data`.
    pub stored: u64,
    /// Samples the health table already held (same device and timestamp), dropped from the
    /// quarantine all the same.
    pub duplicates: u64,
}

impl Store {
    /// Moves every quarantined sample of `device_sn` into `t_user_health_data` as samples of
    /// `binding`'s wearer, in one transaction: copied with the usual dedup on
    /// `(device_sn, timestamp)`, removed from the quarantine, and counted in the device's
    /// counter of `day` (they are stored now). Alert rules are not applied to replayed
    /// samples: they describe the past.
    pub async fn replay_quarantine(
        &self,
        device_sn: &str,
        binding: Binding,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Replayed, StoreError> {
        let backend = self.backend();
        let p = |n: usize| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        };
        let samples = &*REPLAYED_NAMES;
        let select = format!(
            "SELECT {}, {}, {}, {}, {samples} FROM t_unknown_device_data WHERE device_sn = {}",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5)
        );
        let columns = format!("user_id, customer_id, org_id, create_time, {samples}");
        let copy = match backend {
            DbBackend::MySql => {
                format!("INSERT IGNORE INTO t_user_health_data ({columns}) {select}")
            }
            // The WHERE clause lets SQLite tell the upsert clause from a join constraint.
            _ => format!(
                "INSERT INTO t_user_health_data ({columns}) {select} \
                 ON CONFLICT (device_sn, timestamp) DO NOTHING"
            ),
        };
        let txn = self.db.begin().await?;
        let stored = txn
            .execute_raw(statement(
                backend,
                copy,
                vec![
                    Value::BigInt(Some(binding.user_id)),
                    Value::BigInt(binding.customer_id),
                    Value::BigInt(binding.org_id),
                    Value::ChronoDateTimeUtc(Some(now)),
                    Value::String(Some(device_sn.to_owned())),
                ],
            ))
            .await?
            .rows_affected();
        let removed = txn
            .execute_raw(statement(
                backend,
                format!(
                    "DELETE FROM t_unknown_device_data WHERE device_sn = {}",
                    p(1)
                ),
                vec![Value::String(Some(device_sn.to_owned()))],
            ))
            .await?
            .rows_affected();
        if stored > 0 {
            txn.execute_raw(statement(
                backend,
                daily::upsert_sql(backend, 1),
                vec![
                    Value::ChronoDate(Some(day)),
                    Value::String(Some(device_sn.to_owned())),
                    Value::BigInt(Some(binding.user_id)),
                    Value::BigInt(Some(i64::try_from(stored).unwrap_or(i64::MAX))),
                    Value::ChronoDateTimeUtc(Some(now)),
                ],
            ))
            .await?;
        }
        txn.commit().await?;
        Ok(Replayed {
            stored,
            duplicates: removed.saturating_sub(stored),
        })
    }
}
