//! `t_device_daily`: per device and calendar day, how many samples were stored.
//!
//! "Today" statistics read a few rows per active device instead of scanning
//! `t_user_health_data` (the seed's `COUNT(*) … WHERE DATE(create_time) = CURDATE()`). The
//! counts of each commit reach these rows through `t_device_daily_pending`, about a second
//! later.

use sea_orm::entity::prelude::*;

/// Stored-sample count of one device on one day (in the configured time zone).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "t_device_daily")]
pub struct Model {
    /// Calendar day of the commit, in the service's time zone.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    /// Serial number of the watch.
    #[sea_orm(primary_key, auto_increment = false)]
    pub device_sn: String,
    /// Wearer at the last commit of the day.
    pub user_id: i64,
    /// Rows stored in `t_user_health_data` that day.
    pub records: i64,
    /// Commit time of the device's latest stored sample.
    pub last_seen: DateTimeUtc,
}

/// Daily counters have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
