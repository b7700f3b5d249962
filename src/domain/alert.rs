//! Alerts: their levels and statuses, and an alert as integrators see it (in the admin API
//! and in the webhook's JSON body alike).

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

/// How serious an alert is; a higher level escalates an open alert.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Enum,
)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum AlertLevel {
    /// Worth a look.
    Minor,
    /// Needs attention soon.
    Major,
    /// Needs attention now.
    Critical,
}

impl AlertLevel {
    /// The level as stored in `t_alert_info.level` and shown: `minor`, `major`, `critical`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Minor => "minor",
            AlertLevel::Major => "major",
            AlertLevel::Critical => "critical",
        }
    }

    /// The level as stored in `t_alert_info.level_rank` (1–3).
    pub fn rank(self) -> i16 {
        match self {
            AlertLevel::Minor => 1,
            AlertLevel::Major => 2,
            AlertLevel::Critical => 3,
        }
    }

    /// The level of a stored rank (unknown ranks read as minor).
    pub fn of_rank(rank: i16) -> Self {
        match rank {
            3.. => AlertLevel::Critical,
            2 => AlertLevel::Major,
            _ => AlertLevel::Minor,
        }
    }
}

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[oai(rename_all = "UPPERCASE")]
pub enum AlertStatus {
    /// Raised, nobody has looked at it yet.
    New,
    /// A supervisor has seen it; the episode is still open.
    Acknowledged,
    /// Over (by a supervisor, or after a quiet period of normal readings).
    Resolved,
}

impl AlertStatus {
    /// The statuses of an alert nobody has resolved yet (one per device and type at most).
    pub const OPEN: [AlertStatus; 2] = [AlertStatus::New, AlertStatus::Acknowledged];

    /// The status as stored in `t_alert_info.status` (the seed's values).
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "NEW",
            AlertStatus::Acknowledged => "ACKNOWLEDGED",
            AlertStatus::Resolved => "RESOLVED",
        }
    }
}

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
