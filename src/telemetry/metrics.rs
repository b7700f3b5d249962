//! Prometheus metrics (DESIGN §8): recorded through the `metrics` facade where things happen,
//! rendered in the Prometheus text format at `GET /metrics`.
//!
//! Labels are bounded: routes are the service's route templates (unknown paths are `other`),
//! outcomes and levels are fixed sets, alert types come from the configured rules. No label
//! ever carries a device id, batch id or user id.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// HTTP requests by `route`, `method` and `status`.
pub const HTTP_REQUESTS: &str = "ljwx_http_requests_total";
/// HTTP request latency by `route` and `method`, in seconds.
pub const HTTP_DURATION: &str = "ljwx_http_request_duration_seconds";
/// Upload records by `outcome`: `inserted`, `duplicate`, `unknown_device`, `rejected`.
pub const RECORDS: &str = "ljwx_records_total";
/// Records per upload request.
pub const BATCH_RECORDS: &str = "ljwx_batch_records";
/// Rows queued for or inside a commit.
pub const QUEUE_ROWS: &str = "ljwx_writer_queue_rows";
/// Time an upload waited in the writer queue, in seconds.
pub const QUEUE_WAIT: &str = "ljwx_writer_queue_wait_seconds";
/// Rows per group commit.
pub const COMMIT_ROWS: &str = "ljwx_commit_rows";
/// Duration of a group commit, in seconds.
pub const COMMIT_DURATION: &str = "ljwx_commit_duration_seconds";
/// Group commits by `result` (`ok`, `error`).
pub const COMMITS: &str = "ljwx_commits_total";
/// Devices resolved, by cache `level` (`l1` memory, `l2` Redis, `l3` SQL).
pub const CACHE_LOOKUPS: &str = "ljwx_device_lookups_total";
/// Alert events by `alert_type`, `level` and `event` (`opened`, `escalated`).
pub const ALERTS: &str = "ljwx_alerts_total";
/// Database pool connections by `state` (`in_use`, `idle`).
pub const DB_POOL: &str = "ljwx_db_pool_connections";
/// Resident memory of the process, in bytes.
pub const PROCESS_MEMORY: &str = "ljwx_process_resident_memory_bytes";
/// CPU use of the process in percent of one core, at the last monitor sample.
pub const PROCESS_CPU: &str = "ljwx_process_cpu_percent";
/// Side-table rows deleted past their retention, by table.
pub const HOUSEKEEPING_DELETED: &str = "ljwx_housekeeping_deleted_rows_total";

/// Latency buckets in seconds: 1 ms … 30 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Size buckets (records, rows): 1 … 16 384.
const COUNT_BUCKETS: &[f64] = &[
    1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16384.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle). `None`
/// when another recorder was installed first, which only an embedding program would do.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(BATCH_RECORDS.to_owned()), COUNT_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(COMMIT_ROWS.to_owned()), COUNT_BUCKETS)
                });
            let handle = match builder.map(PrometheusBuilder::install_recorder) {
                Ok(Ok(handle)) => handle,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "Metrics recorder not installed; /metrics stays empty.");
                    return None;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "Metrics buckets rejected; /metrics stays empty.");
                    return None;
                }
            };
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests by route, method and status.");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route and method."
    );
    describe_counter!(
        RECORDS,
        "Upload records by outcome: inserted, duplicate, unknown_device, rejected."
    );
    describe_histogram!(BATCH_RECORDS, Unit::Count, "Records per upload request.");
    describe_gauge!(
        QUEUE_ROWS,
        Unit::Count,
        "Rows queued for or inside a commit."
    );
    describe_histogram!(
        QUEUE_WAIT,
        Unit::Seconds,
        "Time an upload waited in the writer queue."
    );
    describe_histogram!(COMMIT_ROWS, Unit::Count, "Rows per group commit.");
    describe_histogram!(
        COMMIT_DURATION,
        Unit::Seconds,
        "Duration of a group commit."
    );
    describe_counter!(COMMITS, "Group commits by result.");
    describe_counter!(
        CACHE_LOOKUPS,
        "Devices resolved, by cache level (l1 memory, l2 Redis, l3 SQL)."
    );
    describe_counter!(
        ALERTS,
        "Alert events by type, level and event (opened, escalated)."
    );
    describe_gauge!(DB_POOL, Unit::Count, "Database pool connections by state.");
    describe_counter!(
        HOUSEKEEPING_DELETED,
        "Side-table rows deleted past their retention, by table."
    );
    describe_gauge!(
        PROCESS_MEMORY,
        Unit::Bytes,
        "Resident memory of the process."
    );
    describe_gauge!(
        PROCESS_CPU,
        Unit::Percent,
        "CPU use of the process in percent of one core."
    );
}

/// The route template of `path`, as the `route` label (bounded: unknown paths are `other`).
pub fn route_label(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["upload_health_data_batch"] => "/upload_health_data_batch",
        ["upload_health_data"] => "/upload_health_data",
        ["api", "health"] => "/api/health",
        ["api", "stats"] => "/api/stats",
        ["api", "monitor"] => "/api/monitor",
        ["api", "alerts"] => "/api/alerts",
        ["api", "alerts", _] => "/api/alerts/{id}",
        ["api", "alerts", _, "ack"] => "/api/alerts/{id}/ack",
        ["api", "alerts", _, "resolve"] => "/api/alerts/{id}/resolve",
        ["api", "traces"] => "/api/traces",
        ["api", "traces", "slowest"] => "/api/traces/slowest",
        ["api", "traces", "stages"] => "/api/traces/stages",
        ["api", "traces", _] => "/api/traces/{trace_id}",
        ["api", "devices", _, "keys"] => "/api/devices/{sn}/keys",
        ["api", "devices", _, "keys", _] => "/api/devices/{sn}/keys/{id}",
        ["api", "devices", _, "samples"] => "/api/devices/{sn}/samples",
        ["api", "devices", _, "latest"] => "/api/devices/{sn}/latest",
        ["api", "devices", _, "binding"] => "/api/devices/{sn}/binding",
        ["api", "users", _, "samples"] => "/api/users/{id}/samples",
        ["api", "users", _, "summary"] => "/api/users/{id}/summary",
        ["api", "users", _, "omh"] => "/api/users/{id}/omh",
        ["fhir", "metadata"] => "/fhir/metadata",
        ["fhir", "Observation"] => "/fhir/Observation",
        ["fhir", "Observation", _] => "/fhir/Observation/{id}",
        ["fhir", "$export"] => "/fhir/$export",
        ["fhir", "Patient", "$export"] => "/fhir/Patient/$export",
        ["fhir", "$export-status", _] => "/fhir/$export-status/{job}",
        ["fhir", "$export-file", _, _] => "/fhir/$export-file/{job}/{n}",
        ["api", "customers", _, "keys"] => "/api/customers/{customer_id}/keys",
        ["api", "customers", _, "keys", _] => "/api/customers/{customer_id}/keys/{id}",
        ["metrics"] => "/metrics",
        ["openapi.json"] => "/openapi.json",
        ["docs", ..] => "/docs",
        [""] => "/",
        ["live"] => "/live",
        ["live.json"] => "/live.json",
        ["login"] => "/login",
        ["logout"] => "/logout",
        ["alerts"] => "/alerts",
        ["alerts", _, "acknowledge"] => "/alerts/{id}/acknowledge",
        ["alerts", _, "resolve"] => "/alerts/{id}/resolve",
        ["devices"] => "/devices",
        ["devices", _, "replay"] => "/devices/{device}/replay",
        ["devices", "find"] => "/devices/find",
        ["devices", _] => "/devices/{sn}",
        ["devices", _, "vitals.json"] => "/devices/{sn}/vitals.json",
        ["traces"] => "/traces",
        ["traces", _] => "/traces/{trace_id}",
        ["system"] => "/system",
        ["static", ..] => "/static",
        _ => "other",
    }
}

/// Records one answered HTTP request.
pub fn http_request(route: &'static str, method: &str, status: u16, elapsed: Duration) {
    let method = match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method)
        .record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn routes_are_templates_and_unknown_paths_one_label() {
        assert_eq!(route_label("/api/alerts/17/ack"), "/api/alerts/{id}/ack");
        assert_eq!(
            route_label("/api/devices/WATCH0001/keys/3"),
            "/api/devices/{sn}/keys/{id}"
        );
        assert_eq!(route_label("/traces/abc"), "/traces/{trace_id}");
        assert_eq!(
            route_label("/api/devices/WATCH0001/samples"),
            "/api/devices/{sn}/samples"
        );
        assert_eq!(
            route_label("/fhir/Observation/hr-12"),
            "/fhir/Observation/{id}"
        );
        assert_eq!(route_label("/devices/WATCH0001"), "/devices/{sn}");
        assert_eq!(route_label("/static/app.css"), "/static");
        assert_eq!(route_label("/"), "/");
        assert_eq!(route_label("/api/alerts/17"), "/api/alerts/{id}");
        assert_eq!(route_label("/docs/index.css"), "/docs");
        assert_eq!(route_label("/wp-admin/x.php"), "other");
    }
}
