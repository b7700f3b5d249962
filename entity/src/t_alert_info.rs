//! `t_alert_info`: a health alert raised from a sample (seed `send_health_alert`).

use sea_orm::entity::prelude::*;

/// One alert, with the seed's columns.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "t_alert_info")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Wearer the alert is about.
    pub user_id: Option<i64>,
    /// Device that sent the breaching sample.
    pub device_sn: String,
    /// Alert type, e.g. `heart_rate_abnormal`, `blood_oxygen_low`.
    pub alert_type: String,
    /// The breaching value as text.
    pub alert_value: Option<String>,
    /// `minor`, `major` or `critical`.
    pub level: String,
    /// `NEW`, `ACKNOWLEDGED` or `RESOLVED`.
    pub status: String,
    /// When the breach occurred.
    pub occur_at: Option<DateTimeUtc>,
    /// When the row was written.
    pub create_time: DateTimeUtc,
}

/// Alerts have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
