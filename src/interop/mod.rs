//! The standard formats of the read side, from the domain's samples and with nothing of HTTP or
//! SQL: FHIR R4 resources ([`fhir`]) and Open mHealth data points ([`omh`]).

pub mod fhir;
pub mod omh;

use crate::domain::{Binding, Sample, StoredSample};
use chrono::DateTime;

/// The sample the read API's examples show (a heart rate of 72 from `WATCH0001`, worn by user
/// 1001).
pub fn example_sample() -> StoredSample {
    let at = DateTime::from_timestamp(1_796_457_600, 0).unwrap_or_default();
    StoredSample {
        id: 123,
        sample: Sample {
            device_sn: "WATCH0001".to_owned(),
            heart_rate: Some(72),
            blood_oxygen: None,
            temperature: None,
            pressure_high: None,
            pressure_low: None,
            stress: None,
            step: None,
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
