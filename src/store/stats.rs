//! "Today" statistics from the daily counters, never from the health table.

use super::{Store, StoreError};
use chrono::NaiveDate;
use entity::device_daily;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ExprTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

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

#[derive(FromQueryResult)]
struct Row {
    records: Option<i64>,
    devices: i64,
    users: i64,
}

impl Store {
    /// Statistics of `day`. Reads one counter row per device active that day.
    pub async fn day_stats(&self, day: NaiveDate) -> Result<TodayStats, StoreError> {
        use device_daily::Column;
        let row = device_daily::Entity::find()
            .select_only()
            .column_as(Expr::col(Column::Records).sum(), "records")
            .column_as(Expr::col(Column::DeviceSn).count(), "devices")
            .column_as(Expr::col(Column::UserId).count_distinct(), "users")
            .filter(Column::Day.eq(day))
            .into_model::<Row>()
            .one(&self.db)
            .await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(row.map_or_else(TodayStats::default, |r| TodayStats {
            records: count(r.records.unwrap_or(0)),
            devices: count(r.devices),
            users: count(r.users),
        }))
    }
}
