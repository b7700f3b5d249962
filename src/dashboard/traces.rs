//! `/traces`: stage percentiles, the slowest and the latest batches, and one batch's span
//! waterfall.

use super::format::millis;
use super::fragments::{BatchRow, Batches, Stages};
use super::{Dashboard, Nav, Session, error_page, html};
use askama::Template;
use chrono::Utc;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Response, handler};

/// Batches listed in each table.
const LISTED: usize = 25;

#[derive(Template)]
#[template(path = "traces.html")]
struct TracesPage {
    nav: Nav,
    kept: usize,
    stages: String,
    slowest: String,
    recent: String,
}

/// `GET /traces`.
#[handler]
pub fn list(dashboard: Data<&Dashboard>, session: Data<&Session>) -> Response {
    let traces = &dashboard.sources.traces;
    let zone = dashboard.sources.zone;
    let rows = |list: Vec<crate::telemetry::traces::BatchTrace>| Batches {
        rows: list.iter().map(|t| BatchRow::new(t, zone)).collect(),
    };
    html(&TracesPage {
        nav: Nav::new("traces", &session),
        kept: traces.len(),
        stages: Stages::new(&traces.percentiles(15, Utc::now()))
            .render()
            .unwrap_or_default(),
        slowest: rows(traces.slowest(LISTED)).render().unwrap_or_default(),
        recent: rows(traces.recent(LISTED)).render().unwrap_or_default(),
    })
}

/// One stage bar of the waterfall.
struct Bar {
    name: String,
    start: String,
    duration: String,
    /// Offset from the batch's arrival, percent of the total.
    left: String,
    /// Length, percent of the total (at least a sliver, so short stages stay visible).
    width: String,
}

#[derive(Template)]
#[template(path = "trace.html")]
struct TracePage {
    nav: Nav,
    trace_id: String,
    batch_id: String,
    at: String,
    records: u32,
    status: u16,
    total: String,
    stages: Vec<Bar>,
}

/// `GET /traces/:trace_id`.
#[handler]
pub fn waterfall(
    dashboard: Data<&Dashboard>,
    session: Data<&Session>,
    trace_id: Path<String>,
) -> Response {
    let Some(trace) = dashboard.sources.traces.get(&trace_id) else {
        return error_page(
            StatusCode::NOT_FOUND,
            &session,
            "Trace not found",
            "Only the most recent batches are kept in memory; this one is gone or never existed.",
        );
    };
    let total = trace.total_ms.max(0.001);
    let percent = |ms: f64| format!("{:.2}", (ms / total * 100.0).clamp(0.0, 100.0));
    html(&TracePage {
        nav: Nav::new("traces", &session),
        stages: trace
            .stages
            .iter()
            .map(|s| Bar {
                name: s.name.clone(),
                start: millis(s.start_ms),
                duration: millis(s.duration_ms),
                left: percent(s.start_ms),
                width: percent(s.duration_ms.max(total * 0.004)),
            })
            .collect(),
        trace_id: trace.trace_id,
        batch_id: trace.batch_id.unwrap_or_default(),
        at: dashboard.sources.zone.display(trace.started_at),
        records: trace.records,
        status: trace.status,
        total: millis(trace.total_ms),
    })
}
