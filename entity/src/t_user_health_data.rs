//! `t_user_health_data`: one stored health sample of a bound device (seed §3.2).
//!
//! Unique on `(device_sn, timestamp)`: a re-sent sample is a duplicate, never a second row.

use sea_orm::entity::prelude::*;

/// One stored sample. Vital signs are NULL when the device sent no (or no plausible) reading.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "t_user_health_data")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Wearer (`sys_user.id`) at the time the sample was stored.
    pub user_id: i64,
    /// Serial number of the watch.
    pub device_sn: String,
    /// Beats per minute.
    pub heart_rate: Option<i32>,
    /// SpO2 in percent.
    pub blood_oxygen: Option<i32>,
    /// Body temperature in °C, one decimal.
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
    /// Sleep data as the device sent it (opaque text).
    #[sea_orm(column_type = "Text")]
    pub sleep: Option<String>,
    /// When the sample was taken (from the device's epoch seconds).
    pub timestamp: DateTimeUtc,
    /// How the sample arrived (`api`, `bluetooth`, …).
    pub upload_method: Option<String>,
    /// Tenant of the wearer.
    pub customer_id: Option<i64>,
    /// Organisation of the wearer.
    pub org_id: Option<i64>,
    /// Batch the sample first arrived in.
    pub batch_id: Option<String>,
    /// Commit time of the row.
    pub create_time: DateTimeUtc,
    /// Last change of the row.
    pub update_time: Option<DateTimeUtc>,
    /// Soft delete flag of ljwx-boot.
    pub is_deleted: i16,
}

/// Health samples have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
