//! From request body to committed rows: parsing, validation and the upload pipeline.
//!
//! `parse` turns a body into records without letting one bad record fail the rest,
//! `validate` applies DESIGN §3, `pipeline` resolves devices and hands the rows to the
//! group-commit `writer`, answering only once they are committed.

pub mod activity;
mod batcher;
mod counts;
mod parse;
mod pipeline;
#[cfg(test)]
mod props;
pub mod record;
pub mod validate;
mod writer;

pub use parse::{Upload, parse_batch, parse_single};
pub use pipeline::{BatchResult, Ingest};
pub use writer::{Receipt, WriteError, Writer, WriterTasks};

use chrono::{DateTime, Utc};

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
