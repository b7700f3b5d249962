//! `GET /metrics`: Prometheus text format. Values kept by components (queue depth, cache
//! counters, pool) are read at scrape time; the rest is recorded where it happens.

use crate::devices::DeviceDirectory;
use crate::ingest::Writer;
use crate::store::Store;
use crate::telemetry::metrics as m;
use metrics_exporter_prometheus::PrometheusHandle;
use poem::http::StatusCode;
use poem::{IntoResponse, Response, handler, web::Data};
use std::sync::atomic::Ordering;

/// What the scrape reads besides the recorder.
#[derive(Clone)]
pub struct MetricsSources {
    /// The recorder's handle; `None` when metrics are unavailable.
    pub handle: Option<PrometheusHandle>,
    /// Queue depth.
    pub writer: Writer,
    /// Cache counters.
    pub devices: DeviceDirectory,
    /// Pool usage.
    pub store: Store,
}

/// The Prometheus scrape endpoint.
#[handler]
pub fn scrape(Data(sources): Data<&MetricsSources>) -> Response {
    let Some(handle) = &sources.handle else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    ::metrics::gauge!(m::QUEUE_ROWS).set(sources.writer.queued_rows() as f64);
    let stats = sources.devices.stats();
    for (level, counter) in [
        ("l1", &stats.l1_hits),
        ("l2", &stats.l2_hits),
        ("l3", &stats.l3_lookups),
    ] {
        ::metrics::counter!(m::CACHE_LOOKUPS, "level" => level)
            .absolute(counter.load(Ordering::Relaxed));
    }
    let (open, idle) = sources.store.pool_usage();
    let idle = idle as f64;
    ::metrics::gauge!(m::DB_POOL, "state" => "idle").set(idle);
    ::metrics::gauge!(m::DB_POOL, "state" => "in_use").set((f64::from(open) - idle).max(0.0));
    handle.run_upkeep();
    handle
        .render()
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .into_response()
}
