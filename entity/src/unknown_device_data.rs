//! `t_unknown_device_data`: quarantine of samples whose device is bound to no user.
//!
//! The seed dropped these; we keep them so they can be replayed into `t_user_health_data` once
//! the device is bound. Unique on `(device_sn, timestamp)` like the health table.

use sea_orm::entity::prelude::*;

/// One quarantined sample, fields as in `t_user_health_data` without the wearer.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "t_unknown_device_data")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Serial number of the unbound watch.
    pub device_sn: String,
    /// Beats per minute.
    pub heart_rate: Option<i32>,
    /// SpO2 in percent.
    pub blood_oxygen: Option<i32>,
    /// Body temperature in °C.
    #[sea_orm(column_type = "Decimal(Some((4, 1)))")]
    pub temperature: Option<Decimal>,
    /// Systolic blood pressure in mmHg.
    pub pressure_high: Option<i32>,
    /// Diastolic blood pressure in mmHg.
    pub pressure_low: Option<i32>,
    /// Stress index 0–100.
    pub stress: Option<i32>,
    /// Step count.
    pub step: Option<i32>,
    /// Distance in metres.
    pub distance: Option<i32>,
    /// Energy in kcal.
    pub calorie: Option<i32>,
    /// WGS84 latitude in degrees.
    #[sea_orm(column_type = "Decimal(Some((10, 7)))")]
    pub latitude: Option<Decimal>,
    /// WGS84 longitude in degrees.
    #[sea_orm(column_type = "Decimal(Some((10, 7)))")]
    pub longitude: Option<Decimal>,
    /// Sleep data as sent.
    #[sea_orm(column_type = "Text")]
    pub sleep: Option<String>,
    /// When the sample was taken.
    pub timestamp: DateTimeUtc,
    /// How the sample arrived.
    pub upload_method: Option<String>,
    /// Batch the sample first arrived in.
    pub batch_id: Option<String>,
    /// When the sample was quarantined.
    pub create_time: DateTimeUtc,
}

/// Quarantined samples have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
