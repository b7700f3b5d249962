//! Samples as Open mHealth data points (`omh:data-point` 1.0: a header and a body): heart-rate
//! 2.0, oxygen-saturation 2.0, body-temperature 4.0 (measured at the wrist), blood-pressure 4.0
//! and step-count 3.0.
//!
//! A data point's id is derived from the device, the sample time and the schema, so the same
//! sample gives the same id on every read.

use crate::domain::{StoredSample, Vital};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The schemas served, by their names.
pub const SCHEMAS: [(&str, &str, Vital); 5] = [
    ("heart-rate", "2.0", Vital::HeartRate),
    ("oxygen-saturation", "2.0", Vital::BloodOxygen),
    ("body-temperature", "4.0", Vital::Temperature),
    ("blood-pressure", "4.0", Vital::BloodPressure),
    ("step-count", "3.0", Vital::Steps),
];

/// The schema name and version of `vital`.
pub fn schema_of(vital: Vital) -> (&'static str, &'static str) {
    SCHEMAS
        .iter()
        .find(|(_, _, v)| *v == vital)
        .map_or(("heart-rate", "2.0"), |(name, version, _)| (name, version))
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The data point of `vital` in `stored`, when the sample holds it. `day_start` is midnight
/// of the sample's day: steps are the watch's count since then.
pub fn data_point(stored: &StoredSample, vital: Vital, day_start: DateTime<Utc>) -> Option<Value> {
    let s = &stored.sample;
    if !vital.present_in(s) {
        return None;
    }
    let at = time(s.timestamp);
    let (name, version) = schema_of(vital);
    let body = match vital {
        Vital::HeartRate => json!({
            "heart_rate": {"value": s.heart_rate?, "unit": "beats/min"},
            "effective_time_frame": {"date_time": at},
        }),
        Vital::BloodOxygen => json!({
            "oxygen_saturation": {"value": s.blood_oxygen?, "unit": "%"},
            "system": "peripheral capillary",
            "measurement_method": "pulse oximetry",
            "effective_time_frame": {"date_time": at},
        }),
        Vital::Temperature => json!({
            "body_temperature": {"value": s.temperature?, "unit": "C"},
            "measurement_location": "wrist",
            "effective_time_frame": {"date_time": at},
        }),
        Vital::BloodPressure => json!({
            "systolic_blood_pressure": {"value": s.pressure_high?, "unit": "mmHg"},
            "diastolic_blood_pressure": {"value": s.pressure_low?, "unit": "mmHg"},
            "effective_time_frame": {"date_time": at},
        }),
        Vital::Steps => json!({
            "step_count": {"value": s.step?, "unit": "steps"},
            "effective_time_frame": {"time_interval": {
                "start_date_time": time(day_start.min(s.timestamp)),
                "end_date_time": at,
            }},
        }),
    };
    Some(json!({
        "header": {
            "id": format!("{}-{}-{}-{}", s.device_sn, s.timestamp.timestamp(), name, version),
            "creation_date_time": time(stored.stored_at),
            "schema_id": {"namespace": "omh", "name": name, "version": version},
            "acquisition_provenance": {
                "source_name": format!("ljwx-watch {}", s.device_sn),
                "source_creation_date_time": at,
                "modality": "sensed",
            },
            "user_id": stored.wearer.user_id.to_string(),
        },
        "body": body,
    }))
}
