//! Parts of the overview rendered on the server, both into the page and into every live
//! update, so their markup exists once (in `templates/fragments/`).

use super::format::{millis, thousands};
use crate::monitor::ThresholdEvent;
use crate::store::OpenAlert;
use crate::telemetry::traces::{BatchTrace, StagePercentiles};
use crate::zone::Zone;
use askama::Template;

/// One row of the latest-alerts table.
pub struct AlertRow {
    /// Alert id.
    pub id: i64,
    /// Watch serial number.
    pub device: String,
    /// Wearer name, or `#id`.
    pub user: String,
    /// Alert type.
    pub alert_type: String,
    /// Latest breaching value.
    pub value: String,
    /// `minor`, `major` or `critical`.
    pub level: String,
    /// `NEW`, `ACKNOWLEDGED` or `RESOLVED`.
    pub status: String,
    /// Sample time of the latest breach.
    pub time: String,
}

impl AlertRow {
    /// The row of `alert` with times in `zone`.
    pub fn new(alert: &OpenAlert, zone: Zone) -> Self {
        let a = &alert.alert;
        Self {
            id: a.id,
            device: a.device_sn.clone(),
            user: match (&alert.user_name, a.user_id) {
                (Some(name), _) => name.clone(),
                (None, Some(id)) => format!("#{id}"),
                (None, None) => "—".to_owned(),
            },
            alert_type: a.alert_type.clone(),
            value: a
                .last_value
                .clone()
                .or_else(|| a.alert_value.clone())
                .unwrap_or_default(),
            level: a.level.clone(),
            status: a.status.clone(),
            time: a.last_occur_at.or(a.occur_at).map_or_else(
                || zone.display_short(a.create_time),
                |t| zone.display_short(t),
            ),
        }
    }
}

/// The newest open alerts.
#[derive(Template)]
#[template(path = "fragments/latest_alerts.html")]
pub struct LatestAlerts {
    /// Rows, newest first.
    pub rows: Vec<AlertRow>,
}

/// One stage's percentiles, formatted.
pub struct StageRow {
    /// Stage name.
    pub stage: String,
    /// Batches measured.
    pub count: String,
    /// Median, ms.
    pub p50: String,
    /// 95th percentile, ms.
    pub p95: String,
    /// 99th percentile, ms.
    pub p99: String,
}

/// Batch latency per stage.
#[derive(Template)]
#[template(path = "fragments/stages.html")]
pub struct Stages {
    /// Rows in pipeline order.
    pub rows: Vec<StageRow>,
}

impl Stages {
    /// The table of `percentiles`.
    pub fn new(percentiles: &[StagePercentiles]) -> Self {
        Self {
            rows: percentiles
                .iter()
                .map(|p| StageRow {
                    stage: p.stage.clone(),
                    count: thousands(p.count),
                    p50: millis(p.p50_ms),
                    p95: millis(p.p95_ms),
                    p99: millis(p.p99_ms),
                })
                .collect(),
        }
    }
}

/// One batch in a list of batches.
pub struct BatchRow {
    /// Trace id (links to the waterfall).
    pub trace_id: String,
    /// Batch id, when the upload had one.
    pub batch_id: String,
    /// HTTP status answered.
    pub status: u16,
    /// Records in the upload.
    pub records: u32,
    /// Time to answer, ms.
    pub total: String,
    /// Arrival time of day (the kept batches are minutes old at most).
    pub at: String,
}

impl BatchRow {
    /// The row of `trace` with its time in `zone`.
    pub fn new(trace: &BatchTrace, zone: Zone) -> Self {
        Self {
            trace_id: trace.trace_id.clone(),
            batch_id: trace.batch_id.clone().unwrap_or_default(),
            status: trace.status,
            records: trace.records,
            total: millis(trace.total_ms),
            at: zone.display_time(trace.started_at),
        }
    }
}

/// The slowest recent batches.
#[derive(Template)]
#[template(path = "fragments/batches.html")]
pub struct Batches {
    /// Rows, slowest first.
    pub rows: Vec<BatchRow>,
}

/// One threshold event, formatted.
pub struct EventRow {
    /// When it happened.
    pub at: String,
    /// `cpu` or `memory`.
    pub resource: String,
    /// `above` or `recovered`.
    pub state: String,
    /// Value and threshold, percent.
    pub detail: String,
}

/// The latest threshold events.
#[derive(Template)]
#[template(path = "fragments/events.html")]
pub struct Events {
    /// Rows, newest first.
    pub rows: Vec<EventRow>,
}

impl Events {
    /// The newest `limit` of `events`.
    pub fn new(events: &[ThresholdEvent], zone: Zone, limit: usize) -> Self {
        Self {
            rows: events
                .iter()
                .rev()
                .take(limit)
                .map(|e| EventRow {
                    at: zone.display_short(e.at),
                    resource: e.resource.clone(),
                    state: e.state.clone(),
                    detail: format!(
                        "{:.1} % (threshold {:.0} %)",
                        e.value_percent, e.threshold_percent
                    ),
                })
                .collect(),
        }
    }
}
