//! The one table of the health row's columns. The writer's `INSERT` column lists, the
//! arrays of PostgreSQL's insert and their types, the quarantine's columns, the replay's
//! `SELECT` and the order of every row's values all come from [`HEALTH`]: a new column is
//! added here.

use crate::domain::{Binding, Sample};
use chrono::{DateTime, Utc};
use std::sync::LazyLock;

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    UserId,
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
    CustomerId,
    OrgId,
    BatchId,
    CreateTime,
}

/// One column the writer fills.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    /// Its value.
    pub field: Field,
    /// Its name in `t_user_health_data` (and `t_unknown_device_data`).
    pub name: &'static str,
    /// The PostgreSQL type its values are sent as (`float8` for the decimals, `text` for
    /// strings): the type of its array in `pg_arrays`.
    pub pg_type: &'static str,
    /// Only in the health table: the wearer's columns, which the quarantine has not.
    pub wearer: bool,
}

const fn column(field: Field, name: &'static str, pg_type: &'static str) -> Column {
    Column {
        field,
        name,
        pg_type,
        wearer: false,
    }
}

const fn wearer(field: Field, name: &'static str) -> Column {
    Column {
        field,
        name,
        pg_type: "int8",
        wearer: true,
    }
}

/// The health row's columns, in the order the writer sends them.
pub(super) const HEALTH: [Column; 20] = [
    wearer(Field::UserId, "user_id"),
    column(Field::DeviceSn, "device_sn", "text"),
    column(Field::HeartRate, "heart_rate", "int4"),
    column(Field::BloodOxygen, "blood_oxygen", "int4"),
    column(Field::Temperature, "temperature", "float8"),
    column(Field::PressureHigh, "pressure_high", "int4"),
    column(Field::PressureLow, "pressure_low", "int4"),
    column(Field::Stress, "stress", "int4"),
    column(Field::Step, "step", "int4"),
    column(Field::Distance, "distance", "int4"),
    column(Field::Calorie, "calorie", "int4"),
    column(Field::Latitude, "latitude", "float8"),
    column(Field::Longitude, "longitude", "float8"),
    column(Field::Sleep, "sleep", "text"),
    column(Field::Timestamp, "timestamp", "timestamptz"),
    column(Field::UploadMethod, "upload_method", "text"),
    wearer(Field::CustomerId, "customer_id"),
    wearer(Field::OrgId, "org_id"),
    column(Field::BatchId, "batch_id", "text"),
    column(Field::CreateTime, "create_time", "timestamptz"),
];

/// The quarantine row's columns: the health row's but the wearer's, in the same order.
pub(super) fn quarantine() -> impl Iterator<Item = &'static Column> {
    HEALTH.iter().filter(|c| !c.wearer)
}

/// `name, name, …` of `columns`.
fn names<'a>(columns: impl Iterator<Item = &'a Column>) -> String {
    columns.map(|c| c.name).collect::<Vec<_>>().join(", ")
}

/// The health row's column list.
pub(super) static HEALTH_NAMES: LazyLock<String> = LazyLock::new(|| names(HEALTH.iter()));
/// The quarantine row's column list.
pub(super) static QUARANTINE_NAMES: LazyLock<String> = LazyLock::new(|| names(quarantine()));
/// The columns a replay copies from the quarantine, but the commit time (it gets its own).
pub(super) static REPLAYED_NAMES: LazyLock<String> =
    LazyLock::new(|| names(quarantine().filter(|c| c.field != Field::CreateTime)));

/// One row being written: the sample, its wearer (health rows only), the batch it came in,
/// and the commit time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row<'a> {
    /// The batch id.
    pub batch_id: &'a str,
    /// The sample.
    pub sample: &'a Sample,
    /// The wearer; `None` for a quarantined sample.
    pub binding: Option<&'a Binding>,
    /// The commit time (`create_time`).
    pub now: DateTime<Utc>,
}

/// Takes one row's values, column by column, in whatever form its statement needs.
pub(super) trait Cells<'a> {
    /// An `INT` value.
    fn int(&mut self, value: Option<i32>);
    /// A `BIGINT` value.
    fn bigint(&mut self, value: Option<i64>);
    /// A `DOUBLE` (or `DECIMAL`) value.
    fn double(&mut self, value: Option<f64>);
    /// A text value.
    fn text(&mut self, value: Option<&'a str>);
    /// A time.
    fn time(&mut self, value: DateTime<Utc>);
}

impl Field {
    /// Hands this field's value of `row` to `cells`.
    pub(super) fn write<'a>(self, row: &Row<'a>, cells: &mut impl Cells<'a>) {
        let s = row.sample;
        let wearer = |f: fn(&Binding) -> Option<i64>| row.binding.and_then(f);
        match self {
            Field::UserId => cells.bigint(wearer(|b| Some(b.user_id))),
            Field::DeviceSn => cells.text(Some(&s.device_sn)),
            Field::HeartRate => cells.int(s.heart_rate),
            Field::BloodOxygen => cells.int(s.blood_oxygen),
            Field::Temperature => cells.double(s.temperature),
            Field::PressureHigh => cells.int(s.pressure_high),
            Field::PressureLow => cells.int(s.pressure_low),
            Field::Stress => cells.int(s.stress),
            Field::Step => cells.int(s.step),
            Field::Distance => cells.int(s.distance),
            Field::Calorie => cells.int(s.calorie),
            Field::Latitude => cells.double(s.latitude),
            Field::Longitude => cells.double(s.longitude),
            Field::Sleep => cells.text(s.sleep.as_deref()),
            Field::Timestamp => cells.time(s.timestamp),
            Field::UploadMethod => cells.text(s.upload_method.as_deref()),
            Field::CustomerId => cells.bigint(wearer(|b| b.customer_id)),
            Field::OrgId => cells.bigint(wearer(|b| b.org_id)),
            Field::BatchId => cells.text(Some(row.batch_id)),
            Field::CreateTime => cells.time(row.now),
        }
    }
}

/// Hands every value of `row` in `columns` to `cells`, in order.
pub(super) fn write_row<'a, 'c>(
    columns: impl Iterator<Item = &'c Column>,
    row: &Row<'a>,
    cells: &mut impl Cells<'a>,
) {
    for column in columns {
        column.field.write(row, cells);
    }
}

/// SeaORM's generic values (each string copied), for statements run through SeaORM.
impl<'a> Cells<'a> for Vec<sea_orm::Value> {
    fn int(&mut self, value: Option<i32>) {
        self.push(sea_orm::Value::Int(value));
    }
    fn bigint(&mut self, value: Option<i64>) {
        self.push(sea_orm::Value::BigInt(value));
    }
    fn double(&mut self, value: Option<f64>) {
        self.push(sea_orm::Value::Double(value));
    }
    fn text(&mut self, value: Option<&'a str>) {
        self.push(sea_orm::Value::String(value.map(str::to_owned)));
    }
    fn time(&mut self, value: DateTime<Utc>) {
        self.push(sea_orm::Value::ChronoDateTimeUtc(Some(value)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_gives_every_list() {
        assert_eq!(
            *HEALTH_NAMES,
            "user_id, device_sn, heart_rate, blood_oxygen, temperature, pressure_high, \
             pressure_low, stress, step, distance, calorie, latitude, longitude, sleep, \
             timestamp, upload_method, customer_id, org_id, batch_id, create_time"
        );
        assert_eq!(quarantine().count(), 17);
        assert!(QUARANTINE_NAMES.starts_with("device_sn, heart_rate"));
        assert!(REPLAYED_NAMES.ends_with("upload_method, batch_id"));
    }
}
