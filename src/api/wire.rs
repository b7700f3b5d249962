//! Wire types of the upload API: what integrators read in the OpenAPI document.
//!
//! The request types document the body; it is parsed leniently by [`crate::ingest`], so a
//! bad value fails only its record. Field names are the firmware's and cannot change.

use crate::ingest::BatchResult;
use poem_openapi::Object;

/// One health sample from a watch. Unknown fields are ignored. A value outside its range is
/// stored as null and reported as a warning; a `0` in a vital sign (heart rate, blood oxygen,
/// temperature, blood pressure) means "no reading" and is stored as null silently. A value of
/// the wrong JSON type rejects the record. Numbers sent as strings (`"72"`) are accepted.
#[derive(Object)]
#[oai(rename = "HealthData")]
pub struct HealthDataDoc {
    /// Serial number of the watch: 5–64 printable ASCII characters, no spaces. Required.
    #[oai(rename = "deviceSn", validator(min_length = 5, max_length = 64))]
    pub device_sn: String,
    /// Heart rate in beats per minute, 20–250.
    #[oai(
        rename = "heartRate",
        validator(minimum(value = "20"), maximum(value = "250"))
    )]
    pub heart_rate: Option<i32>,
    /// Blood oxygen saturation (SpO2) in percent, 50–100.
    #[oai(
        rename = "bloodOxygen",
        validator(minimum(value = "50"), maximum(value = "100"))
    )]
    pub blood_oxygen: Option<i32>,
    /// Body temperature in °C, 30–45; stored with one decimal.
    #[oai(validator(minimum(value = "30"), maximum(value = "45")))]
    pub temperature: Option<f64>,
    /// Systolic blood pressure in mmHg, 50–260.
    #[oai(
        rename = "pressureHigh",
        validator(minimum(value = "50"), maximum(value = "260"))
    )]
    pub pressure_high: Option<i32>,
    /// Diastolic blood pressure in mmHg, 30–200, and below `pressureHigh`.
    #[oai(
        rename = "pressureLow",
        validator(minimum(value = "30"), maximum(value = "200"))
    )]
    pub pressure_low: Option<i32>,
    /// Stress index, 0–100.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub stress: Option<i32>,
    /// Step count, ≥ 0.
    #[oai(validator(minimum(value = "0")))]
    pub step: Option<i32>,
    /// Distance walked in metres, ≥ 0.
    #[oai(validator(minimum(value = "0")))]
    pub distance: Option<i32>,
    /// Energy burned in kcal, ≥ 0.
    #[oai(validator(minimum(value = "0")))]
    pub calorie: Option<i32>,
    /// WGS84 latitude in degrees, −90–90; stored with seven decimals.
    #[oai(validator(minimum(value = "-90"), maximum(value = "90")))]
    pub latitude: Option<f64>,
    /// WGS84 longitude in degrees, −180–180; stored with seven decimals.
    #[oai(validator(minimum(value = "-180"), maximum(value = "180")))]
    pub longitude: Option<f64>,
    /// Sleep data as the watch reports it, stored as text, at most 4096 bytes, without NUL
    /// characters (a longer one or one with a NUL is stored as null, with a warning).
    #[oai(validator(max_length = 4096))]
    pub sleep: Option<String>,
    /// When the sample was taken: Unix epoch seconds (values ≥ 10^12 are read as
    /// milliseconds). Must be after 2000-01-01 and at most one day in the future. Required.
    #[oai(validator(minimum(value = "946684800")))]
    pub timestamp: i64,
    /// How the sample reached the server, at most 20 characters, without NUL characters.
    /// Default `api`.
    #[oai(rename = "uploadMethod", validator(max_length = 20))]
    pub upload_method: Option<String>,
}

/// A batch of health samples.
#[derive(Object)]
#[oai(rename = "HealthDataBatch")]
pub struct BatchDoc {
    /// The samples, 1–10 000 (configurable). Each is validated on its own.
    #[oai(validator(min_items = 1, max_items = 10000))]
    pub data: Vec<HealthDataDoc>,
    /// Client-chosen id of the batch, 1–64 printable ASCII characters. Re-sending the same
    /// batch (this id and the same records) returns the first result and writes nothing;
    /// other records under an id used before are stored as a new batch. Batch records are
    /// kept at least `ingest.idempotency_days` (7). When absent or empty, the server
    /// generates one (`batch_…`).
    #[oai(rename = "batchId", validator(max_length = 64))]
    pub batch_id: Option<String>,
}

/// The answer to an accepted upload. Every counted record is committed to the database before
/// this is sent.
#[derive(Object)]
#[oai(rename = "UploadResult")]
pub struct UploadResult {
    /// Always `accepted`.
    pub status: String,
    /// The batch id: the client's `batchId`, or the generated one.
    pub batch_id: String,
    /// Records in the request.
    pub total_records: u32,
    /// Records that passed validation: `inserted + duplicates + unknown_device`.
    pub valid_records: u32,
    /// Records rejected (listed first in `error_details`).
    pub errors: u32,
    /// Field values stored as null because they were out of range.
    pub warnings: u32,
    /// Samples newly stored in `t_user_health_data`.
    pub inserted: u32,
    /// Samples of bound devices already stored (same `deviceSn` and `timestamp`).
    pub duplicates: u32,
    /// Samples of devices bound to no user: kept in quarantine, replayable once bound.
    pub unknown_device: u32,
    /// Time from receiving the request to the commit, in milliseconds.
    pub processing_time_ms: f64,
    /// At most 10 lines `index N: field: reason`, rejected records first, then warnings.
    pub error_details: Vec<String>,
    /// Trace id of the request that stored the batch (W3C, 32 hex digits), when tracing is
    /// enabled.
    #[oai(skip_serializing_if_is_none)]
    pub trace_id: Option<String>,
}

impl From<BatchResult> for UploadResult {
    fn from(r: BatchResult) -> Self {
        let b = r.batch;
        Self {
            status: "accepted".to_owned(),
            batch_id: b.batch_id,
            total_records: b.total_records,
            valid_records: b.valid_records,
            errors: b.errors,
            warnings: b.warnings,
            inserted: b.inserted,
            duplicates: b.duplicates,
            unknown_device: b.unknown_device,
            processing_time_ms: b.processing_time_ms,
            error_details: b.error_details,
            trace_id: b.trace_id,
        }
    }
}

/// An error answer. Never contains internal detail (SQL, driver or panic text).
#[derive(Object, Debug, Clone, serde::Serialize)]
#[oai(rename = "Error")]
pub struct ErrorBody {
    /// Machine-readable code: `malformed_json`, `invalid_request`, `empty_batch`,
    /// `no_valid_records`, `body_too_large`, `too_many_records`, `storage_unavailable`,
    /// `overloaded`, `shutting_down`, `rate_limited`, `unauthorized`, `admin_disabled`,
    /// `illegal_transition`, `not_found`, `method_not_allowed`, `internal`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// Per-record reasons (`index N: field: reason`), at most 10.
    pub details: Vec<String>,
}

impl ErrorBody {
    /// The writer queue is full.
    pub fn overloaded() -> Self {
        Self::new(
            "overloaded",
            "the server is at capacity; nothing was stored, retry after the given seconds",
        )
    }

    /// A malformed path or query parameter (poem-openapi's reason: which parameter, and why).
    pub fn invalid_parameter(err: &poem::Error) -> Self {
        Self::new("invalid_request", err.to_string())
    }

    /// An error without details.
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            message: message.into(),
            details: Vec::new(),
        }
    }
}
