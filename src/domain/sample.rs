//! A health sample, the wearer of its device, and the rule for device serial numbers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether `sn` is a well-formed device serial: 5–64 printable ASCII characters, no spaces.
pub fn is_valid_device_sn(sn: &str) -> bool {
    (5..=64).contains(&sn.len()) && sn.bytes().all(|b| b.is_ascii_graphic())
}

/// One validated health sample, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Serial number of the watch (5–64 printable ASCII characters).
    pub device_sn: String,
    /// Beats per minute, 20–250.
    pub heart_rate: Option<i32>,
    /// SpO2 in percent, 50–100.
    pub blood_oxygen: Option<i32>,
    /// °C, 30–45, one decimal.
    pub temperature: Option<f64>,
    /// Systolic mmHg, 50–260.
    pub pressure_high: Option<i32>,
    /// Diastolic mmHg, 30–200, below `pressure_high`.
    pub pressure_low: Option<i32>,
    /// Stress index 0–100.
    pub stress: Option<i32>,
    /// Steps, ≥ 0.
    pub step: Option<i32>,
    /// Metres, ≥ 0.
    pub distance: Option<i32>,
    /// kcal, ≥ 0.
    pub calorie: Option<i32>,
    /// Degrees, ±90, seven decimals.
    pub latitude: Option<f64>,
    /// Degrees, ±180, seven decimals.
    pub longitude: Option<f64>,
    /// Opaque sleep data, ≤ 4 KiB.
    pub sleep: Option<String>,
    /// When the sample was taken (whole seconds).
    pub timestamp: DateTime<Utc>,
    /// How it was uploaded, ≤ 20 characters; `api` when not sent.
    pub upload_method: Option<String>,
}

/// Who wears a device. Cached in Redis as this JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// `sys_user.id`.
    pub user_id: i64,
    /// Tenant of the wearer.
    pub customer_id: Option<i64>,
    /// Organisation of the wearer.
    pub org_id: Option<i64>,
}

/// A valid sample of a device bound to a wearer.
#[derive(Debug, Clone)]
pub struct MappedSample {
    /// The sample.
    pub sample: Sample,
    /// Its wearer.
    pub binding: Binding,
}

/// A sample as stored: its row id, the sample, the wearer it was stored for, and when it
/// was committed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    /// Row id in `t_user_health_data`.
    pub id: i64,
    /// The sample.
    pub sample: Sample,
    /// The wearer at the time it was stored.
    pub wearer: Binding,
    /// Commit time.
    pub stored_at: DateTime<Utc>,
}
