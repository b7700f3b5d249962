//! Record- and field-level validation (DESIGN §3).
//!
//! A record-level problem (device serial, timestamp, a value of the wrong JSON type) rejects
//! the record. A field-level problem (a value outside its physical range) keeps the record,
//! stores that field as NULL and adds a warning. A `0` in a vital sign means "no reading" on
//! these watches and is stored as NULL without a warning.

use super::record::{Field, Integer, RawRecord};
use crate::domain::{Sample, is_valid_device_sn};
use chrono::{DateTime, TimeDelta, Utc};

/// Earliest accepted sample time: 2000-01-01T00:00:00Z.
const EARLIEST: i64 = 946_684_800;
/// Epoch values at or above this are milliseconds.
const MILLIS_THRESHOLD: i128 = 1_000_000_000_000;
/// Longest `sleep` text, in bytes.
const MAX_SLEEP_BYTES: usize = 4096;
/// Longest `uploadMethod`, in characters.
const MAX_UPLOAD_METHOD_CHARS: usize = 20;
/// Longest value echoed back in a message, in characters.
const ECHO_CHARS: usize = 24;

/// What validation made of one record.
#[derive(Debug)]
pub enum Checked {
    /// Keep the sample; the strings are field-level warnings.
    Valid(Sample, Vec<String>),
    /// Reject the record; one string per problem.
    Rejected(Vec<String>),
}

/// Validates record `index` of a batch against the clock `now`.
pub fn check(index: usize, raw: RawRecord, now: DateTime<Utc>) -> Checked {
    let mut v = Validator {
        index,
        errors: Vec::new(),
        warnings: Vec::new(),
    };

    let device_sn = v.device_sn(raw.device_sn);
    let timestamp = v.timestamp(raw.timestamp, now);
    let heart_rate = v.vital("heartRate", raw.heart_rate, 20, 250);
    let blood_oxygen = v.vital("bloodOxygen", raw.blood_oxygen, 50, 100);
    let temperature = v.temperature(raw.temperature);
    let pressure_high = v.vital("pressureHigh", raw.pressure_high, 50, 260);
    let mut pressure_low = v.vital("pressureLow", raw.pressure_low, 30, 200);
    if let (Some(low), Some(high)) = (pressure_low, pressure_high)
        && low >= high
    {
        v.warn(
            "pressureLow",
            format!("{low} is not below pressureHigh {high}"),
        );
        pressure_low = None;
    }
    let stress = v.count("stress", raw.stress, 0, 100);
    let step = v.count("step", raw.step, 0, i32::MAX.into());
    let distance = v.count("distance", raw.distance, 0, i32::MAX.into());
    let calorie = v.count("calorie", raw.calorie, 0, i32::MAX.into());
    let latitude = v.coordinate("latitude", raw.latitude, 90.0);
    let longitude = v.coordinate("longitude", raw.longitude, 180.0);
    let sleep = v.sleep(raw.sleep);
    let upload_method = v.upload_method(raw.upload_method);

    match (device_sn, timestamp) {
        (Some(device_sn), Some(timestamp)) if v.errors.is_empty() => Checked::Valid(
            Sample {
                device_sn,
                heart_rate,
                blood_oxygen,
                temperature,
                pressure_high,
                pressure_low,
                stress,
                step,
                distance,
                calorie,
                latitude,
                longitude,
                sleep,
                timestamp,
                upload_method,
            },
            v.warnings,
        ),
        _ => Checked::Rejected(v.errors),
    }
}

struct Validator {
    index: usize,
    errors: Vec<String>,
    warnings: Vec<String>,
}

impl Validator {
    fn reject(&mut self, field: &str, reason: impl std::fmt::Display) {
        self.errors
            .push(format!("index {}: {field}: {reason}", self.index));
    }

    fn warn(&mut self, field: &str, reason: impl std::fmt::Display) {
        self.warnings.push(format!(
            "index {}: {field}: {reason}; stored as null",
            self.index
        ));
    }

    /// Unwraps a field, rejecting the record when its JSON type was wrong.
    fn present<T>(&mut self, field: &str, value: Field<T>, expected: &str) -> Option<T> {
        match value {
            Field::Value(v) => Some(v),
            Field::Absent | Field::Null => None,
            Field::WrongType(sent) => {
                self.reject(field, format!("expected {expected}, got {sent}"));
                None
            }
        }
    }

    /// Like [`Self::present`], but a missing value rejects the record too.
    fn required<T>(&mut self, field: &str, value: Field<T>, expected: &str) -> Option<T> {
        if matches!(value, Field::Absent | Field::Null) {
            self.reject(field, "required");
            return None;
        }
        self.present(field, value, expected)
    }

    fn device_sn(&mut self, value: Field<String>) -> Option<String> {
        let sn = self.required("deviceSn", value, "a string")?;
        if is_valid_device_sn(&sn) {
            return Some(sn);
        }
        let len = sn.chars().count();
        if !(5..=64).contains(&len) {
            self.reject("deviceSn", format!("must be 5–64 characters, got {len}"));
            return None;
        }
        if !sn.bytes().all(|b| b.is_ascii_graphic()) {
            self.reject(
                "deviceSn",
                format!("must be printable ASCII without spaces, got {}", echo(&sn)),
            );
        }
        None
    }

    fn timestamp(&mut self, value: Field<Integer>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Integer(raw) = self.required("timestamp", value, "epoch seconds or milliseconds")?;
        if raw <= 0 {
            self.reject("timestamp", format!("must be positive, got {raw}"));
            return None;
        }
        let secs = if raw >= MILLIS_THRESHOLD {
            raw / 1000
        } else {
            raw
        };
        let latest = now + TimeDelta::days(1);
        let at = i64::try_from(secs)
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0));
        match at {
            Some(at) if secs >= EARLIEST.into() && at <= latest => Some(at),
            _ if secs < EARLIEST.into() => {
                self.reject("timestamp", format!("{raw} is before 2000-01-01"));
                None
            }
            _ => {
                self.reject(
                    "timestamp",
                    format!("{raw} is more than 1 day in the future"),
                );
                None
            }
        }
    }

    /// A vital sign: `0` means no reading; outside `min..=max` is a warning.
    fn vital(&mut self, field: &str, value: Field<Integer>, min: i32, max: i32) -> Option<i32> {
        let Integer(v) = self.present(field, value, "an integer")?;
        if v == 0 {
            return None;
        }
        self.ranged(field, v, min.into(), max.into())
    }

    /// A count or index where `0` is a real value.
    fn count(&mut self, field: &str, value: Field<Integer>, min: i64, max: i64) -> Option<i32> {
        let Integer(v) = self.present(field, value, "an integer")?;
        self.ranged(field, v, min, max)
    }

    fn ranged(&mut self, field: &str, v: i128, min: i64, max: i64) -> Option<i32> {
        if v < min.into() || v > max.into() {
            let range = if max == i64::from(i32::MAX) {
                format!("{v} is negative or too large")
            } else {
                format!("{v} is outside {min}–{max}")
            };
            self.warn(field, range);
            return None;
        }
        i32::try_from(v).ok()
    }

    fn temperature(&mut self, value: Field<f64>) -> Option<f64> {
        let t = self.present("temperature", value, "a number")?;
        if t == 0.0 {
            return None;
        }
        if !(30.0..=45.0).contains(&t) {
            self.warn("temperature", format!("{t} °C is outside 30–45"));
            return None;
        }
        // DECIMAL(4,1): round here so every backend stores (and alerts on) the same value.
        Some((t * 10.0).round() / 10.0)
    }

    fn coordinate(&mut self, field: &str, value: Field<f64>, limit: f64) -> Option<f64> {
        let c = self.present(field, value, "a number")?;
        if !(-limit..=limit).contains(&c) {
            self.warn(field, format!("{c} is outside ±{limit}"));
            return None;
        }
        // DECIMAL(10,7), as above.
        Some((c * 1e7).round() / 1e7)
    }

    fn sleep(&mut self, value: Field<String>) -> Option<String> {
        let s = self.present("sleep", value, "a string")?;
        if s.len() > MAX_SLEEP_BYTES {
            self.warn(
                "sleep",
                format!("{} bytes is longer than {MAX_SLEEP_BYTES}", s.len()),
            );
            return None;
        }
        self.without_nul("sleep", s)
    }

    /// PostgreSQL cannot store a NUL character in text: sent on, it would fail the commit of
    /// every upload grouped with this one. It is a warning on every backend instead.
    fn without_nul(&mut self, field: &str, value: String) -> Option<String> {
        if value.contains('\0') {
            self.warn(field, "contains a NUL character");
            return None;
        }
        Some(value)
    }

    fn upload_method(&mut self, value: Field<String>) -> Option<String> {
        match self.present("uploadMethod", value, "a string") {
            None => Some("api".to_owned()),
            Some(m) if m.chars().count() > MAX_UPLOAD_METHOD_CHARS => {
                self.warn(
                    "uploadMethod",
                    format!(
                        "{} is longer than {MAX_UPLOAD_METHOD_CHARS} characters",
                        echo(&m)
                    ),
                );
                None
            }
            Some(m) => self.without_nul("uploadMethod", m),
        }
    }
}

/// A client value quoted in a message, cut short so a huge string is not sent back.
fn echo(value: &str) -> String {
    let mut out: String = value.chars().take(ECHO_CHARS).collect();
    if value.chars().nth(ECHO_CHARS).is_some() {
        out.push('…');
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000, 0).expect("valid time")
    }

    fn run(json: &str) -> Checked {
        check(0, serde_json::from_str(json).expect("parses"), now())
    }

    #[test]
    fn milliseconds_become_seconds() {
        let Checked::Valid(s, w) = run(r#"{"deviceSn":"W0001","timestamp":1763999999000}"#) else {
            panic!("expected valid")
        };
        assert_eq!(s.timestamp.timestamp(), 1_763_999_999);
        assert!(w.is_empty());
    }

    #[test]
    fn zero_vital_is_no_reading_without_warning() {
        let Checked::Valid(s, w) =
            run(r#"{"deviceSn":"W0001","timestamp":1763999999,"heartRate":0,"step":0}"#)
        else {
            panic!("expected valid")
        };
        assert_eq!(s.heart_rate, None);
        assert_eq!(s.step, Some(0));
        assert!(w.is_empty());
    }

    #[test]
    fn out_of_range_is_a_warning_and_null() {
        let Checked::Valid(s, w) = run(
            r#"{"deviceSn":"W0001","timestamp":1763999999,"heartRate":300,"pressureHigh":120,"pressureLow":130}"#,
        ) else {
            panic!("expected valid")
        };
        assert_eq!(s.heart_rate, None);
        assert_eq!(s.pressure_high, Some(120));
        assert_eq!(s.pressure_low, None);
        assert_eq!(
            w,
            vec![
                "index 0: heartRate: 300 is outside 20–250; stored as null",
                "index 0: pressureLow: 130 is not below pressureHigh 120; stored as null",
            ]
        );
    }

    #[test]
    fn record_errors_name_field_and_reason() {
        let Checked::Rejected(e) = run(r#"{"deviceSn":"ab","timestamp":-5}"#) else {
            panic!("expected rejection")
        };
        assert_eq!(
            e,
            vec![
                "index 0: deviceSn: must be 5–64 characters, got 2",
                "index 0: timestamp: must be positive, got -5",
            ]
        );
        let Checked::Rejected(e) = run(r#"{"deviceSn":"W0001"}"#) else {
            panic!("expected rejection")
        };
        assert_eq!(e, vec!["index 0: timestamp: required"]);
    }
}
