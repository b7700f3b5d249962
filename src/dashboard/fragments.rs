//! Parts of the overview rendered on the server, both into the page and into every live
//! update, so their markup exists once (in `templates/fragments/`).

use super::format::{millis, thousands};
use crate::domain::Alert;
use crate::monitor::ThresholdEvent;
use crate::telemetry::traces::{BatchTrace, StagePercentiles};
use crate::zone::Zone;
use askama::Template;
use chrono::{DateTime, Utc};

/// One alert as the dashboard's tables show it.
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
    /// Breaching samples in the episode.
    pub occurrences: i32,
    /// `minor`, `major` or `critical`.
    pub level: String,
    /// `NEW`, `ACKNOWLEDGED` or `RESOLVED`.
    pub status: String,
    /// Sample time of the latest breach.
    pub time: String,
}

impl AlertRow {
    /// The row of `alert` (read through [`Alert`], which fills the gaps of rows ljwx-boot
    /// wrote), with its wearer's name when known and `time` formatting the latest breach.
    pub fn new(
        alert: Alert,
        user_name: Option<&str>,
        time: impl Fn(DateTime<Utc>) -> String,
    ) -> Self {
        Self {
            user: match (user_name, alert.user_id) {
                (Some(name), _) => name.to_owned(),
                (None, Some(id)) => format!("#{id}"),
                (None, None) => "—".to_owned(),
            },
            time: time(alert.last_occur_at.unwrap_or(alert.create_time)),
            value: alert.last_value.unwrap_or_default(),
            occurrences: alert.occurrences,
            id: alert.id,
            device: alert.device_sn,
            alert_type: alert.alert_type,
            level: alert.level,
            status: alert.status,
        }
    }
}

/// `template` as HTML; a template that fails to render leaves its part empty (logged).
pub fn render(template: &impl Template) -> String {
    template.render().unwrap_or_else(|err| {
        tracing::warn!(error = %err, "Dashboard fragment failed to render.");
        String::new()
    })
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
