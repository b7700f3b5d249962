//! Column definitions shared by several tables, so the health table and the quarantine table
//! cannot drift apart.

use sea_orm_migration::prelude::*;

/// Columns of one health sample as the seed stores it (seed §3.2), in table order, without
/// the wearer columns (`user_id`, `customer_id`, `org_id`).
#[derive(DeriveIden, Clone, Copy)]
pub enum Sample {
    /// Row id.
    Id,
    /// Serial number of the watch.
    DeviceSn,
    HeartRate,
    BloodOxygen,
    Temperature,
    PressureHigh,
    PressureLow,
    Stress,
    Step,
    Distance,
    Calorie,
    Latitude,
    Longitude,
    Sleep,
    Timestamp,
    UploadMethod,
    BatchId,
    CreateTime,
}

/// `id BIGINT` auto-increment primary key.
pub fn id() -> ColumnDef {
    ColumnDef::new(Sample::Id)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

/// The measured values of a sample, from `heart_rate` to `sleep`.
pub fn measurements() -> Vec<ColumnDef> {
    let int = |c: Sample| ColumnDef::new(c).integer().null().to_owned();
    vec![
        int(Sample::HeartRate),
        int(Sample::BloodOxygen),
        ColumnDef::new(Sample::Temperature)
            .decimal_len(4, 1)
            .null()
            .to_owned(),
        int(Sample::PressureHigh),
        int(Sample::PressureLow),
        int(Sample::Stress),
        int(Sample::Step),
        int(Sample::Distance),
        int(Sample::Calorie),
        ColumnDef::new(Sample::Latitude)
            .decimal_len(10, 7)
            .null()
            .to_owned(),
        ColumnDef::new(Sample::Longitude)
            .decimal_len(10, 7)
            .null()
            .to_owned(),
        ColumnDef::new(Sample::Sleep).text().null().to_owned(),
    ]
}

/// `device_sn VARCHAR(64) NOT NULL`.
pub fn device_sn() -> ColumnDef {
    ColumnDef::new(Sample::DeviceSn)
        .string_len(64)
        .not_null()
        .to_owned()
}

/// `timestamp`: when the sample was taken, `TIMESTAMP` on MySQL, `timestamptz` on PostgreSQL.
pub fn timestamp() -> ColumnDef {
    ColumnDef::new(Sample::Timestamp)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// `upload_method VARCHAR(20) DEFAULT 'api'`.
pub fn upload_method() -> ColumnDef {
    ColumnDef::new(Sample::UploadMethod)
        .string_len(20)
        .null()
        .default("api")
        .to_owned()
}

/// `batch_id VARCHAR(64)`: the batch a sample first arrived in.
pub fn batch_id() -> ColumnDef {
    ColumnDef::new(Sample::BatchId)
        .string_len(64)
        .null()
        .to_owned()
}

/// `create_time NOT NULL DEFAULT CURRENT_TIMESTAMP`.
pub fn create_time() -> ColumnDef {
    ColumnDef::new(Sample::CreateTime)
        .timestamp_with_time_zone()
        .not_null()
        .default(Expr::current_timestamp())
        .to_owned()
}

/// `is_deleted TINYINT NOT NULL DEFAULT 0`, ljwx-boot's soft delete flag.
pub fn is_deleted<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .tiny_integer()
        .not_null()
        .default(0)
        .to_owned()
}
