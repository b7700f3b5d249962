//! An alert as integrators see it: in the admin API and in the webhook's JSON body alike.

use chrono::{DateTime, Utc};
use entity::t_alert_info;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

/// A health alert: one episode of a device breaching one alert type's rules.
#[derive(Object, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Alert id.
    pub id: i64,
    /// Wearer.
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<i64>,
    /// Watch serial number.
    pub device_sn: String,
    /// `heart_rate_abnormal`, `blood_oxygen_low`, or a configured type.
    pub alert_type: String,
    /// `minor`, `major` or `critical`; the highest level reached in the episode.
    pub level: String,
    /// `NEW`, `ACKNOWLEDGED` or `RESOLVED`.
    pub status: String,
    /// Value of the breach that opened the alert (bpm, %, °C, mmHg as the field).
    #[oai(skip_serializing_if_is_none)]
    pub value: Option<String>,
    /// Value of the latest breach.
    #[oai(skip_serializing_if_is_none)]
    pub last_value: Option<String>,
    /// Breaching samples in the episode.
    pub occurrences: i32,
    /// Sample time of the first breach (RFC 3339, UTC).
    #[oai(skip_serializing_if_is_none)]
    pub occur_at: Option<DateTime<Utc>>,
    /// Sample time of the latest breach.
    #[oai(skip_serializing_if_is_none)]
    pub last_occur_at: Option<DateTime<Utc>>,
    /// When the alert was written.
    pub create_time: DateTime<Utc>,
    /// When it was acknowledged.
    #[oai(skip_serializing_if_is_none)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    #[oai(skip_serializing_if_is_none)]
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<t_alert_info::Model> for Alert {
    fn from(m: t_alert_info::Model) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id,
            device_sn: m.device_sn,
            alert_type: m.alert_type,
            level: m.level,
            status: m.status,
            // Rows written by ljwx-boot have only the seed's columns.
            last_value: m.last_value.or_else(|| m.alert_value.clone()),
            value: m.alert_value,
            occurrences: m.occurrences.unwrap_or(1),
            last_occur_at: m.last_occur_at.or(m.occur_at),
            occur_at: m.occur_at,
            create_time: m.create_time,
            acknowledged_at: m.acknowledged_at,
            resolved_at: m.resolved_at,
        }
    }
}
