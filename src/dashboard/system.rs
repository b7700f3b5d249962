//! `/system`: the monitor's history as charts and a table, and its threshold events.

use super::format::bytes;
use super::fragments::{Events, render};
use super::{Dashboard, Nav, Session, html, script_json};
use askama::Template;
use poem::web::Data;
use poem::{Response, handler};
use serde::Serialize;

struct SampleRow {
    at: String,
    cpu: String,
    memory: String,
    disk: String,
    rx: String,
    tx: String,
    process_cpu: String,
    process_memory: String,
}

/// Chart data: parallel arrays, one entry per sample.
#[derive(Default, Serialize)]
struct Series {
    t: Vec<i64>,
    cpu: Vec<f32>,
    process_cpu: Vec<f32>,
    memory: Vec<f32>,
    rx_kib: Vec<f64>,
    tx_kib: Vec<f64>,
}

#[derive(Template)]
#[template(path = "system.html")]
struct SystemPage {
    nav: Nav,
    interval: String,
    cpu_threshold: String,
    memory_threshold: String,
    events: String,
    rows: Vec<SampleRow>,
    series_json: String,
}

/// `GET /system`.
#[handler]
pub fn page(dashboard: Data<&Dashboard>, session: Data<&Session>) -> Response {
    let report = dashboard.sources.monitor.report();
    let zone = dashboard.sources.zone;
    let per_sec = report.interval_secs.max(0.001);
    let kib = |b: u64| b as f64 / 1024.0 / per_sec;
    let mut series = Series::default();
    for p in &report.points {
        series.t.push(p.at.timestamp());
        series.cpu.push(p.cpu_percent);
        series.process_cpu.push(p.process_cpu_percent);
        series.memory.push(p.memory_percent);
        series.rx_kib.push(kib(p.network_rx_bytes));
        series.tx_kib.push(kib(p.network_tx_bytes));
    }
    html(&SystemPage {
        nav: Nav::new("system", &session),
        interval: format!("{:.0}", report.interval_secs),
        cpu_threshold: format!("{:.0}", report.cpu_threshold_percent),
        memory_threshold: format!("{:.0}", report.memory_threshold_percent),
        events: render(&Events::new(&report.events, zone, 20)),
        rows: report
            .points
            .iter()
            .rev()
            .map(|p| SampleRow {
                at: zone.display(p.at),
                cpu: format!("{:.1}", p.cpu_percent),
                memory: format!("{:.1}", p.memory_percent),
                disk: format!("{:.1}", p.disk_percent),
                rx: format!("{:.1}", kib(p.network_rx_bytes)),
                tx: format!("{:.1}", kib(p.network_tx_bytes)),
                process_cpu: format!("{:.1}", p.process_cpu_percent),
                process_memory: bytes(p.process_memory_bytes),
            })
            .collect(),
        series_json: script_json(&series),
    })
}
