//! `t_alert_info`: a health alert raised from a sample (seed `send_health_alert`).
//!
//! The seed's columns keep their meanings; the nullable columns after `create_time` make one
//! row an *episode*: further breaches of an open alert update it instead of adding rows.

use sea_orm::entity::prelude::*;

/// One alert episode.
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
    /// The value that opened the alert, as text.
    pub alert_value: Option<String>,
    /// `minor`, `major` or `critical`.
    pub level: String,
    /// `NEW`, `ACKNOWLEDGED` or `RESOLVED`.
    pub status: String,
    /// Sample time of the breach that opened the alert.
    pub occur_at: Option<DateTimeUtc>,
    /// When the row was written.
    pub create_time: DateTimeUtc,
    /// `1` while the alert is open (NEW or ACKNOWLEDGED), NULL once resolved; unique per
    /// device and type, so the database allows one open alert per episode.
    pub open_flag: Option<i16>,
    /// `level` as a number (minor 1, major 2, critical 3), for escalation.
    pub level_rank: Option<i16>,
    /// Breaching samples in this episode.
    pub occurrences: Option<i32>,
    /// The latest breaching value, as text.
    pub last_value: Option<String>,
    /// Sample time of the latest breach.
    pub last_occur_at: Option<DateTimeUtc>,
    /// When a supervisor acknowledged the alert.
    pub acknowledged_at: Option<DateTimeUtc>,
    /// When the alert was resolved (by a supervisor or after a quiet period).
    pub resolved_at: Option<DateTimeUtc>,
    /// Last change of the row.
    pub updated_at: Option<DateTimeUtc>,
}

/// Alerts have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
