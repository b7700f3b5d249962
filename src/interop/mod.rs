//! The standard formats of the read side, from the domain's samples and with nothing of HTTP or
//! SQL: FHIR R4 resources ([`fhir`]) and Open mHealth data points ([`omh`]).

pub mod fhir;
pub mod omh;

use crate::domain::{Binding, Sample, StoredSample};
use chrono::DateTime;

/// The sample the read API's examples show (`WATCH0001`, worn by user 1001: heart rate 72,
/// SpO2 98, 36.5 °C, 118/76 mmHg, 8000 steps).
pub fn example_sample() -> StoredSample {
    let at = DateTime::from_timestamp(1_796_457_600, 0).unwrap_or_default();
    StoredSample {
        id: 123,
        sample: Sample {
            device_sn: "WATCH0001".to_owned(),
            heart_rate: Some(72),
            blood_oxygen: Some(98),
            temperature: Some(36.5),
            pressure_high: Some(118),
            pressure_low: Some(76),
            stress: None,
            step: Some(8000),
            distance: None,
            calorie: None,
            latitude: None,
            longitude: None,
            sleep: None,
            timestamp: at,
            upload_method: Some("api".to_owned()),
        },
        wearer: Binding {
            user_id: 1001,
            customer_id: Some(1),
            org_id: Some(10),
        },
        stored_at: at,
    }
}
