//! "Today" statistics from the daily counters, never from the health table.

use super::{Store, StoreError};
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// Counts for one calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TodayStats {
    /// Rows committed to `t_user_health_data` that day.
    pub records: u64,
    /// Devices with at least one committed row that day.
    pub devices: u64,
    /// Wearers of those devices.
    pub users: u64,
}

impl Store {
    /// Statistics of `day`. Reads one counter row per device active that day.
    pub async fn day_stats(&self, day: NaiveDate) -> Result<TodayStats, StoreError> {
        let backend = self.backend();
        // SUM of a BIGINT is DECIMAL on MySQL and NUMERIC on PostgreSQL: cast it back.
        let (sum, param) = match backend {
            DbBackend::MySql => ("CAST(COALESCE(SUM(records), 0) AS SIGNED)", "?"),
            DbBackend::Postgres => ("CAST(COALESCE(SUM(records), 0) AS BIGINT)", "$1"),
            _ => ("COALESCE(SUM(records), 0)", "?"),
        };
        let sql = format!(
            "SELECT {sum} AS records, COUNT(*) AS devices, COUNT(DISTINCT user_id) AS users \
             FROM t_device_daily WHERE day = {param}"
        );
        let row = self
            .reader()
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [Value::ChronoDate(Some(day))],
            ))
            .await?;
        let Some(row) = row else {
            return Ok(TodayStats::default());
        };
        let count = |col: &str| -> Result<u64, StoreError> {
            let n: i64 = row.try_get("", col)?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok(TodayStats {
            records: count("records")?,
            devices: count("devices")?,
            users: count("users")?,
        })
    }
}
