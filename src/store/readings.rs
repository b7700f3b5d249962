//! The read side's queries on `t_user_health_data`: samples of a device or a wearer in time
//! order, paged by key (never by offset), the latest sample of a device, one sample by id, and
//! per-hour or per-day summaries. Each is served by an index — `(device_sn, timestamp)`,
//! `(user_id, timestamp)` or the primary key — and reads from the replica when one is
//! configured.

use super::sql::statement;
use super::{Store, StoreError};
use crate::domain::{Binding, Sample, StoredSample, Vital};
use chrono::{DateTime, Utc};
use entity::t_user_health_data::{Column, Entity, Model};
use sea_orm::ExprTrait as _;
use sea_orm::prelude::Decimal;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Statement, Value,
};

/// Whose samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleOwner {
    /// A device's, by serial number (`(device_sn, timestamp)`, unique).
    Device(String),
    /// A wearer's, of every device they wore (`(user_id, timestamp)`).
    User(i64),
    /// Everyone's (bulk export: by primary key).
    All,
}

/// Where a page ends: the last sample's time and row id. The next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleKey {
    /// The sample's time.
    pub timestamp: DateTime<Utc>,
    /// Its row id (breaks ties between devices of one wearer).
    pub id: i64,
}

impl SampleKey {
    /// The key of `stored`: a page that ends with it continues after this.
    pub fn of(stored: &StoredSample) -> Self {
        Self {
            timestamp: stored.sample.timestamp,
            id: stored.id,
        }
    }
}

/// Which samples, in time order (`SampleOwner::All`: in row id order).
#[derive(Debug, Clone)]
pub struct SampleQuery {
    /// Whose.
    pub owner: SampleOwner,
    /// Taken at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Taken at or before this time.
    pub to: Option<DateTime<Utc>>,
    /// Committed at or after this time (bulk export's `_since`).
    pub stored_since: Option<DateTime<Utc>>,
    /// Only samples holding this measurement.
    pub having: Option<Vital>,
    /// After this key (the previous page's last).
    pub after: Option<SampleKey>,
    /// Row ids up to this one (`SampleOwner::All`: a part of an export).
    pub last_id: Option<i64>,
    /// At most this many.
    pub limit: u64,
}

impl SampleQuery {
    /// The first `limit` samples of `owner`.
    pub fn of(owner: SampleOwner, limit: u64) -> Self {
        Self {
            owner,
            from: None,
            to: None,
            stored_since: None,
            having: None,
            after: None,
            last_id: None,
            limit,
        }
    }
}

/// Whose samples to sum up, over which time, in buckets of what size.
#[derive(Debug, Clone)]
pub struct SummaryQuery {
    /// Whose.
    pub owner: SampleOwner,
    /// From (inclusive).
    pub from: DateTime<Utc>,
    /// To (exclusive).
    pub to: DateTime<Utc>,
    /// Seconds per bucket.
    pub bucket_secs: i64,
    /// Buckets are aligned to midnight of a zone this many seconds ahead of UTC.
    pub offset_secs: i64,
}

/// Min, mean and max of one measurement over a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Smallest value.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Largest value.
    pub max: f64,
    /// Samples that had the measurement.
    pub count: i64,
}

/// A wearer's samples summed up over one hour or day.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryBucket {
    /// Start of the bucket.
    pub start: DateTime<Utc>,
    /// Samples in the bucket.
    pub samples: i64,
    /// Heart rate.
    pub heart_rate: Option<Stat>,
    /// SpO2.
    pub blood_oxygen: Option<Stat>,
    /// Body temperature.
    pub temperature: Option<Stat>,
    /// Systolic pressure.
    pub pressure_high: Option<Stat>,
    /// Diastolic pressure.
    pub pressure_low: Option<Stat>,
    /// The highest step count reported in the bucket: the watch reports its running count
    /// for the day, so this is the day's steps (up to the bucket's end).
    pub steps: Option<i64>,
}

/// The measurements a summary reports min/avg/max of, as its columns.
const SUMMED: [&str; 5] = [
    "heart_rate",
    "blood_oxygen",
    "temperature",
    "pressure_high",
    "pressure_low",
];

impl From<Model> for StoredSample {
    fn from(m: Model) -> Self {
        let float = |d: Option<Decimal>| d.and_then(|d| d.to_string().parse::<f64>().ok());
        StoredSample {
            id: m.id,
            sample: Sample {
                device_sn: m.device_sn,
                heart_rate: m.heart_rate,
                blood_oxygen: m.blood_oxygen,
                temperature: float(m.temperature),
                pressure_high: m.pressure_high,
                pressure_low: m.pressure_low,
                stress: m.stress,
                step: m.step,
                distance: m.distance,
                calorie: m.calorie,
                latitude: float(m.latitude),
                longitude: float(m.longitude),
                sleep: m.sleep,
                timestamp: m.timestamp,
                upload_method: m.upload_method,
            },
            wearer: Binding {
                user_id: m.user_id,
                customer_id: m.customer_id,
                org_id: m.org_id,
            },
            stored_at: m.create_time,
        }
    }
}

impl Store {
    /// The statement [`Store::samples`] runs for `query` (for checking its plan).
    pub fn samples_statement(&self, query: &SampleQuery) -> Statement {
        samples_select(query).build(self.backend())
    }

    /// The samples `query` asks for, in its order.
    pub async fn samples(&self, query: &SampleQuery) -> Result<Vec<StoredSample>, StoreError> {
        let rows = samples_select(query).all(self.reader()).await?;
        Ok(rows.into_iter().map(StoredSample::from).collect())
    }

    /// The newest sample of device `sn`, if it has one.
    pub async fn latest_sample(&self, sn: &str) -> Result<Option<StoredSample>, StoreError> {
        let row = Entity::find()
            .filter(Column::DeviceSn.eq(sn))
            .filter(Column::IsDeleted.eq(0))
            .order_by(Column::Timestamp, Order::Desc)
            .one(self.reader())
            .await?;
        Ok(row.map(StoredSample::from))
    }

    /// The sample with row id `id`.
    pub async fn sample_by_id(&self, id: i64) -> Result<Option<StoredSample>, StoreError> {
        let row = Entity::find()
            .filter(Column::Id.eq(id))
            .filter(Column::IsDeleted.eq(0))
            .one(self.reader())
            .await?;
        Ok(row.map(StoredSample::from))
    }

    /// The statement [`Store::summary`] runs (for checking its plan). The bucket's size and
    /// offset are the service's own numbers, written into the SQL; the wearer and the times
    /// are bound.
    pub fn summary_statement(&self, query: &SummaryQuery) -> Statement {
        let SummaryQuery {
            owner,
            from,
            to,
            bucket_secs,
            offset_secs,
        } = query;
        let backend = self.backend();
        // The bucket number: whole `bucket_secs` since the epoch, in the zone's time (samples
        // are after 2000, so integer division floors).
        let (bucket, real, p) = match backend {
            DbBackend::MySql => (
                format!("(UNIX_TIMESTAMP(timestamp) + {offset_secs}) DIV {bucket_secs}"),
                "DOUBLE",
                ["?", "?", "?"],
            ),
            DbBackend::Postgres => (
                format!(
                    "FLOOR((EXTRACT(EPOCH FROM timestamp) + {offset_secs}) / {bucket_secs})::bigint"
                ),
                "DOUBLE PRECISION",
                ["$1", "$2", "$3"],
            ),
            _ => (
                format!(
                    "(CAST(strftime('%s', timestamp) AS INTEGER) + {offset_secs}) / {bucket_secs}"
                ),
                "REAL",
                ["?", "?", "?"],
            ),
        };
        let stats: Vec<String> = SUMMED
            .iter()
            .map(|c| {
                format!(
                    "CAST(MIN({c}) AS {real}) AS {c}_min, CAST(AVG({c}) AS {real}) AS {c}_avg, \
                     CAST(MAX({c}) AS {real}) AS {c}_max, COUNT({c}) AS {c}_n"
                )
            })
            .collect();
        let (whose, owner_value) = match owner {
            SampleOwner::Device(sn) => ("device_sn", Value::String(Some(sn.clone()))),
            SampleOwner::User(id) => ("user_id", Value::BigInt(Some(*id))),
            // Everyone's: the condition holds for every row.
            SampleOwner::All => ("is_deleted", Value::SmallInt(Some(0))),
        };
        let sql = format!(
            "SELECT {bucket} AS bucket, COUNT(*) AS samples, {stats}, MAX(step) AS steps \
             FROM t_user_health_data \
             WHERE {whose} = {owner} AND timestamp >= {from} AND timestamp < {to} \
             AND is_deleted = 0 GROUP BY bucket ORDER BY bucket",
            owner = p[0],
            from = p[1],
            to = p[2],
            stats = stats.join(", "),
        );
        let values = vec![
            owner_value,
            Value::ChronoDateTimeUtc(Some(*from)),
            Value::ChronoDateTimeUtc(Some(*to)),
        ];
        statement(backend, sql, values)
    }

    /// The buckets `query` asks for, oldest first; buckets without samples are left out.
    pub async fn summary(&self, query: &SummaryQuery) -> Result<Vec<SummaryBucket>, StoreError> {
        let SummaryQuery {
            from,
            bucket_secs,
            offset_secs,
            ..
        } = *query;
        let stmt = self.summary_statement(query);
        let rows = self.reader().query_all_raw(stmt).await?;
        let mut buckets = Vec::with_capacity(rows.len());
        for row in rows {
            let bucket = number(&row, "bucket")?;
            let stat = |c: &str| -> Result<Option<Stat>, sea_orm::DbErr> {
                let count = number(&row, &format!("{c}_n"))?;
                if count == 0 {
                    return Ok(None);
                }
                Ok(Some(Stat {
                    min: row.try_get::<f64>("", &format!("{c}_min"))?,
                    avg: row.try_get::<f64>("", &format!("{c}_avg"))?,
                    max: row.try_get::<f64>("", &format!("{c}_max"))?,
                    count,
                }))
            };
            let steps: Option<i64> = match row.try_get::<Option<i64>>("", "steps") {
                Ok(steps) => steps,
                Err(_) => row.try_get::<Option<i32>>("", "steps")?.map(i64::from),
            };
            buckets.push(SummaryBucket {
                start: DateTime::from_timestamp(bucket * bucket_secs - offset_secs, 0)
                    .unwrap_or(from),
                samples: number(&row, "samples")?,
                heart_rate: stat("heart_rate")?,
                blood_oxygen: stat("blood_oxygen")?,
                temperature: stat("temperature")?,
                pressure_high: stat("pressure_high")?,
                pressure_low: stat("pressure_low")?,
                steps,
            });
        }
        Ok(buckets)
    }

    /// The plan the database chooses for `stmt`, one line per step (`EXPLAIN`; on PostgreSQL
    /// with sequential scans and sorts discouraged, so the plan shows whether an index *can*
    /// serve it, in its order, even on a table too small for the planner to bother).
    pub async fn query_plan(&self, stmt: &Statement) -> Result<Vec<String>, StoreError> {
        use sea_orm::TransactionTrait;
        let backend = self.backend();
        let explain = |prefix: &str| Statement {
            sql: format!("{prefix} {}", stmt.sql),
            values: stmt.values.clone(),
            db_backend: backend,
        };
        let txn = self.db.begin().await?;
        let lines = match backend {
            DbBackend::MySql => {
                let rows = txn.query_all_raw(explain("EXPLAIN")).await?;
                let mut lines = Vec::new();
                for row in rows {
                    let table: Option<String> = row.try_get("", "table")?;
                    let key: Option<String> = row.try_get("", "key")?;
                    let kind: Option<String> = row.try_get("", "type")?;
                    let extra: Option<String> = row.try_get("", "Extra")?;
                    lines.push(format!(
                        "table={} type={} extra={} key={}",
                        table.unwrap_or_default(),
                        kind.unwrap_or_default(),
                        extra.unwrap_or_default(),
                        key.unwrap_or_default()
                    ));
                }
                lines
            }
            DbBackend::Postgres => {
                txn.execute_unprepared(
                    "SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off",
                )
                .await?;
                let rows = txn.query_all_raw(explain("EXPLAIN")).await?;
                rows.iter()
                    .map(|row| row.try_get_by_index::<String>(0))
                    .collect::<Result<_, _>>()?
            }
            _ => {
                let rows = txn.query_all_raw(explain("EXPLAIN QUERY PLAN")).await?;
                rows.iter()
                    .map(|row| row.try_get::<String>("", "detail"))
                    .collect::<Result<_, _>>()?
            }
        };
        txn.rollback().await?;
        Ok(lines)
    }
}

/// The query of [`Store::samples`].
fn samples_select(query: &SampleQuery) -> Select<Entity> {
    let mut select = Entity::find().filter(Column::IsDeleted.eq(0));
    select = match &query.owner {
        SampleOwner::Device(sn) => select.filter(Column::DeviceSn.eq(sn.as_str())),
        SampleOwner::User(id) => select.filter(Column::UserId.eq(*id)),
        SampleOwner::All => select,
    };
    if let Some(from) = query.from {
        select = select.filter(Column::Timestamp.gte(from));
    }
    if let Some(to) = query.to {
        select = select.filter(Column::Timestamp.lte(to));
    }
    if let Some(since) = query.stored_since {
        select = select.filter(Column::CreateTime.gte(since));
    }
    if let Some(vital) = query.having {
        for column in vital.columns() {
            select = select.filter(Expr::col(*column).is_not_null());
        }
    }
    select = match (&query.owner, query.after) {
        (SampleOwner::All, after) => {
            if let Some(after) = after {
                select = select.filter(Column::Id.gt(after.id));
            }
            if let Some(last) = query.last_id {
                select = select.filter(Column::Id.lte(last));
            }
            select.order_by(Column::Id, Order::Asc)
        }
        // A device has one sample per second at most: its time alone is the key.
        (SampleOwner::Device(_), after) => {
            if let Some(after) = after {
                select = select.filter(Column::Timestamp.gt(after.timestamp));
            }
            select.order_by(Column::Timestamp, Order::Asc)
        }
        (SampleOwner::User(_), after) => {
            if let Some(after) = after {
                select = select.filter(
                    Condition::any()
                        .add(Column::Timestamp.gt(after.timestamp))
                        .add(
                            Condition::all()
                                .add(Column::Timestamp.eq(after.timestamp))
                                .add(Column::Id.gt(after.id)),
                        ),
                );
            }
            select
                .order_by(Column::Timestamp, Order::Asc)
                .order_by(Column::Id, Order::Asc)
        }
    };
    select.limit(query.limit)
}

/// An integer column that one server gives as a 64-bit integer and another as a decimal or a
/// float (`FLOOR`, `COUNT`).
fn number(row: &sea_orm::QueryResult, column: &str) -> Result<i64, sea_orm::DbErr> {
    if let Ok(v) = row.try_get::<i64>("", column) {
        return Ok(v);
    }
    if let Ok(v) = row.try_get::<f64>("", column) {
        return Ok(v as i64);
    }
    let v: Decimal = row.try_get("", column)?;
    v.to_string()
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| sea_orm::DbErr::Type(format!("{column}: {v} is not an integer")))
}
