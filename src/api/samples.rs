//! The read API of samples (DESIGN §12): a device's or a wearer's samples in time order,
//! paged by an opaque cursor; a device's latest sample; a wearer's hourly or daily summary.
//! Fields are named as in the upload. Admin token or read token.

use super::ApiTags;
use super::read::{ReadError, ReadToken, page_of, time_param};
use crate::access::Admin;
use crate::domain::{StoredSample, is_valid_device_sn};
use crate::store::{SampleOwner, SampleQuery, Stat, Store, SummaryBucket, SummaryQuery};
use crate::zone::Zone;
use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

/// Longest span of a summary, in days (at most 9 600 hourly buckets).
const MAX_SUMMARY_DAYS: i64 = 400;

/// Sample endpoints.
pub struct SamplesApi {
    store: Store,
    admin: Admin,
    zone: Zone,
}

impl SamplesApi {
    /// Sample endpoints over `store`, open to callers `admin` lets read, days in `zone`.
    pub fn new(store: Store, admin: Admin, zone: Zone) -> Self {
        Self { store, admin, zone }
    }
}

/// One stored sample, its fields named as in the upload, with its wearer.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "StoredSample", rename_all = "camelCase", example)]
pub struct SampleView {
    /// Serial number of the watch.
    pub device_sn: String,
    /// The wearer (`sys_user.id`) the sample was stored for.
    pub user_id: i64,
    /// Tenant of the wearer.
    #[oai(skip_serializing_if_is_none)]
    pub customer_id: Option<i64>,
    /// Organisation of the wearer.
    #[oai(skip_serializing_if_is_none)]
    pub org_id: Option<i64>,
    /// Beats per minute.
    #[oai(skip_serializing_if_is_none)]
    pub heart_rate: Option<i32>,
    /// SpO2 in percent.
    #[oai(skip_serializing_if_is_none)]
    pub blood_oxygen: Option<i32>,
    /// °C.
    #[oai(skip_serializing_if_is_none)]
    pub temperature: Option<f64>,
    /// Systolic mmHg.
    #[oai(skip_serializing_if_is_none)]
    pub pressure_high: Option<i32>,
    /// Diastolic mmHg.
    #[oai(skip_serializing_if_is_none)]
    pub pressure_low: Option<i32>,
    /// Stress index.
    #[oai(skip_serializing_if_is_none)]
    pub stress: Option<i32>,
    /// The watch's step count for the day so far.
    #[oai(skip_serializing_if_is_none)]
    pub step: Option<i32>,
    /// Metres.
    #[oai(skip_serializing_if_is_none)]
    pub distance: Option<i32>,
    /// kcal.
    #[oai(skip_serializing_if_is_none)]
    pub calorie: Option<i32>,
    /// Degrees.
    #[oai(skip_serializing_if_is_none)]
    pub latitude: Option<f64>,
    /// Degrees.
    #[oai(skip_serializing_if_is_none)]
    pub longitude: Option<f64>,
    /// Sleep data as the watch sent it.
    #[oai(skip_serializing_if_is_none)]
    pub sleep: Option<String>,
    /// When the sample was taken, epoch seconds (as uploaded).
    pub timestamp: i64,
    /// How it arrived.
    #[oai(skip_serializing_if_is_none)]
    pub upload_method: Option<String>,
}

impl From<StoredSample> for SampleView {
    fn from(s: StoredSample) -> Self {
        let sample = s.sample;
        Self {
            device_sn: sample.device_sn,
            user_id: s.wearer.user_id,
            customer_id: s.wearer.customer_id,
            org_id: s.wearer.org_id,
            heart_rate: sample.heart_rate,
            blood_oxygen: sample.blood_oxygen,
            temperature: sample.temperature,
            pressure_high: sample.pressure_high,
            pressure_low: sample.pressure_low,
            stress: sample.stress,
            step: sample.step,
            distance: sample.distance,
            calorie: sample.calorie,
            latitude: sample.latitude,
            longitude: sample.longitude,
            sleep: sample.sleep,
            timestamp: sample.timestamp.timestamp(),
            upload_method: sample.upload_method,
        }
    }
}

impl Example for SampleView {
    fn example() -> Self {
        crate::interop::example_sample().into()
    }
}

/// A page of samples, oldest first.
#[derive(Object)]
#[oai(example)]
pub struct SamplePage {
    /// The samples of this page.
    pub items: Vec<SampleView>,
    /// Pass as `cursor` for the next page; absent on the last one. Samples stored meanwhile
    /// after the page's end appear on later pages; the page boundaries never move.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

impl Example for SamplePage {
    fn example() -> Self {
        Self {
            items: vec![SampleView::example()],
            next_cursor: Some("MTc5NjQ1NzYwMDAwMDAwMDo0Mg".to_owned()),
        }
    }
}

/// Min, mean and max of one measurement in a bucket.
#[derive(Object)]
pub struct StatView {
    /// Smallest value.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Largest value.
    pub max: f64,
    /// Samples that had the measurement.
    pub count: i64,
}

impl From<Stat> for StatView {
    fn from(s: Stat) -> Self {
        Self {
            min: s.min,
            avg: (s.avg * 100.0).round() / 100.0,
            max: s.max,
            count: s.count,
        }
    }
}

/// A wearer's samples over one hour or day.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SummaryView {
    /// Start of the bucket (days start at midnight of the service's time zone).
    pub start: DateTime<Utc>,
    /// Samples in the bucket.
    pub samples: i64,
    /// Heart rate.
    #[oai(skip_serializing_if_is_none)]
    pub heart_rate: Option<StatView>,
    /// SpO2.
    #[oai(skip_serializing_if_is_none)]
    pub blood_oxygen: Option<StatView>,
    /// Body temperature.
    #[oai(skip_serializing_if_is_none)]
    pub temperature: Option<StatView>,
    /// Systolic pressure.
    #[oai(skip_serializing_if_is_none)]
    pub pressure_high: Option<StatView>,
    /// Diastolic pressure.
    #[oai(skip_serializing_if_is_none)]
    pub pressure_low: Option<StatView>,
    /// Steps of the day: the watch reports its running count for the day, so this is the
    /// highest count reported in the bucket (per day: the day's steps).
    #[oai(skip_serializing_if_is_none)]
    pub steps: Option<i64>,
}

impl From<SummaryBucket> for SummaryView {
    fn from(b: SummaryBucket) -> Self {
        Self {
            start: b.start,
            samples: b.samples,
            heart_rate: b.heart_rate.map(Into::into),
            blood_oxygen: b.blood_oxygen.map(Into::into),
            temperature: b.temperature.map(Into::into),
            pressure_high: b.pressure_high.map(Into::into),
            pressure_low: b.pressure_low.map(Into::into),
            steps: b.steps,
        }
    }
}

impl Example for SummaryView {
    fn example() -> Self {
        let stat = |min, avg, max| {
            Some(StatView {
                min,
                avg,
                max,
                count: 60,
            })
        };
        Self {
            start: DateTime::from_timestamp(1_796_457_600, 0).unwrap_or_default(),
            samples: 60,
            heart_rate: stat(58.0, 71.4, 96.0),
            blood_oxygen: stat(95.0, 97.8, 99.0),
            temperature: stat(36.2, 36.5, 36.9),
            pressure_high: stat(110.0, 117.2, 126.0),
            pressure_low: stat(70.0, 75.9, 82.0),
            steps: Some(8_412),
        }
    }
}

/// How long a summary bucket is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum Bucket {
    /// One hour.
    Hour,
    /// One calendar day in the service's time zone.
    Day,
}

/// Answers of the sample lists.
#[derive(ApiResponse)]
pub enum PageResponse {
    /// A page of samples.
    #[oai(status = 200)]
    Ok(Json<SamplePage>),
}

/// Answers of the latest sample.
#[derive(ApiResponse)]
pub enum LatestResponse {
    /// The device's newest sample.
    #[oai(status = 200)]
    Ok(Json<SampleView>),
}

/// Answers of the summary.
#[derive(ApiResponse)]
pub enum SummaryResponse {
    /// One entry per bucket that has samples, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<SummaryView>>),
}

/// The device serial in a path, checked.
pub fn device_param(sn: String) -> Result<String, ReadError> {
    if is_valid_device_sn(&sn) {
        Ok(sn)
    } else {
        Err(ReadError::invalid(
            "the device serial number must be 5–64 printable ASCII characters without spaces",
        ))
    }
}

impl SamplesApi {
    /// A page of `owner`'s samples.
    async fn page(
        &self,
        owner: SampleOwner,
        from: Option<String>,
        to: Option<String>,
        limit: u64,
        cursor: Option<String>,
    ) -> Result<PageResponse, ReadError> {
        let (samples, next_cursor) = page_of(
            &self.store,
            SampleQuery::of(owner, limit),
            from.as_deref(),
            to.as_deref(),
            cursor.as_deref(),
        )
        .await?;
        Ok(PageResponse::Ok(Json(SamplePage {
            items: samples.into_iter().map(SampleView::from).collect(),
            next_cursor,
        })))
    }
}

#[OpenApi(tag = "ApiTags::Samples")]
impl SamplesApi {
    /// Samples of a device
    ///
    /// The device's samples in time order, `from` to `to` (both inclusive; RFC 3339 or epoch
    /// seconds), `limit` per page. `next_cursor`, passed back as `cursor`, continues after the
    /// page's last sample: paging by key, stable while samples are stored meanwhile.
    #[oai(path = "/api/devices/:sn/samples", method = "get")]
    async fn device_samples(
        &self,
        auth: ReadToken,
        /// Serial number of the watch.
        sn: Path<String>,
        /// Taken at or after (RFC 3339 or epoch seconds).
        from: Query<Option<String>>,
        /// Taken at or before (RFC 3339 or epoch seconds).
        to: Query<Option<String>>,
        /// Samples per page, 1–1000.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<u64>,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
    ) -> Result<PageResponse, ReadError> {
        auth.check(&self.admin)?;
        let sn = device_param(sn.0)?;
        self.page(SampleOwner::Device(sn), from.0, to.0, limit.0, cursor.0)
            .await
    }

    /// Samples of a wearer
    ///
    /// The wearer's samples, of every device they wore, in time order; parameters as for a
    /// device's samples.
    #[oai(path = "/api/users/:id/samples", method = "get")]
    async fn user_samples(
        &self,
        auth: ReadToken,
        /// The wearer (`sys_user.id`).
        id: Path<i64>,
        /// Taken at or after (RFC 3339 or epoch seconds).
        from: Query<Option<String>>,
        /// Taken at or before (RFC 3339 or epoch seconds).
        to: Query<Option<String>>,
        /// Samples per page, 1–1000.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<u64>,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
    ) -> Result<PageResponse, ReadError> {
        auth.check(&self.admin)?;
        self.page(SampleOwner::User(id.0), from.0, to.0, limit.0, cursor.0)
            .await
    }

    /// Latest sample of a device
    ///
    /// The device's newest sample by the time it was taken; 404 `not_found` when it has none.
    #[oai(path = "/api/devices/:sn/latest", method = "get")]
    async fn latest(
        &self,
        auth: ReadToken,
        /// Serial number of the watch.
        sn: Path<String>,
    ) -> Result<LatestResponse, ReadError> {
        auth.check(&self.admin)?;
        let sn = device_param(sn.0)?;
        match self.store.latest_sample(&sn).await? {
            Some(sample) => Ok(LatestResponse::Ok(Json(sample.into()))),
            None => Err(ReadError::not_found(format!("no sample of device {sn}"))),
        }
    }

    /// Summary of a wearer's vital signs
    ///
    /// Per hour or per day (midnight of the service's time zone) from `from` (inclusive) to
    /// `to` (exclusive), at most 400 days: min, mean and max of heart rate, SpO2, temperature
    /// and blood pressure, and the day's steps. Buckets without samples are left out.
    #[oai(path = "/api/users/:id/summary", method = "get")]
    async fn summary(
        &self,
        auth: ReadToken,
        /// The wearer (`sys_user.id`).
        id: Path<i64>,
        /// Start (RFC 3339 or epoch seconds).
        from: Query<String>,
        /// End, exclusive (RFC 3339 or epoch seconds).
        to: Query<String>,
        /// `hour` or `day`.
        #[oai(default = "default_bucket")]
        bucket: Query<Bucket>,
    ) -> Result<SummaryResponse, ReadError> {
        auth.check(&self.admin)?;
        let from = time_param("from", Some(&from.0))?
            .ok_or_else(|| ReadError::invalid("from: required"))?;
        let to =
            time_param("to", Some(&to.0))?.ok_or_else(|| ReadError::invalid("to: required"))?;
        if to <= from || (to - from).num_days() > MAX_SUMMARY_DAYS {
            return Err(ReadError::invalid(format!(
                "to must be after from, at most {MAX_SUMMARY_DAYS} days later"
            )));
        }
        let bucket_secs = match bucket.0 {
            Bucket::Hour => 3_600,
            Bucket::Day => 86_400,
        };
        let buckets = self
            .store
            .summary(&SummaryQuery {
                owner: SampleOwner::User(id.0),
                from,
                to,
                bucket_secs,
                offset_secs: self.zone.offset_secs(from),
            })
            .await?;
        Ok(SummaryResponse::Ok(Json(
            buckets.into_iter().map(SummaryView::from).collect(),
        )))
    }
}

fn default_limit() -> u64 {
    100
}

fn default_bucket() -> Bucket {
    Bucket::Day
}
