//! The end-of-run report: figures computed once into a [`Report`], printed for people and
//! written as JSON (`--json`) from the same struct, so the two never disagree.

mod render;

use crate::stats::{RetryAfterCount, Stats};
use crate::verify::Verification;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Seed acceptance: successful requests per second must reach this.
const MIN_SUCCESSFUL_QPS: f64 = 5000.0;
/// Seed acceptance: average latency must stay below this, in milliseconds.
const MAX_AVG_MS: f64 = 100.0;
/// Seed acceptance: P99 latency must stay below this, in milliseconds.
const MAX_P99_MS: f64 = 500.0;
/// Seed acceptance: failed requests must stay below this share, in percent.
const MAX_ERROR_RATE_PCT: f64 = 0.1;

/// How the run was configured (and, for fields marked so, what it actually did).
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// `closed`, `open` or `backlog`.
    pub mode: &'static str,
    /// The upload endpoint.
    pub url: String,
    /// Prefix of every batch id of the run.
    pub run_id: String,
    /// Closed loop: configured users.
    pub users: Option<u32>,
    /// Closed loop: users actually started (the ramp may outlast a short run).
    pub users_started: Option<u32>,
    /// Closed loop: think time range in seconds.
    pub think_s: Option<[f64; 2]>,
    /// Open loop: requests per second.
    pub rate: Option<f64>,
    /// Open loop: most requests in flight.
    pub max_in_flight: Option<usize>,
    /// Open loop: requests that came due.
    pub scheduled: Option<u64>,
    /// Open loop: largest delay between due time and send, in milliseconds.
    pub max_send_lag_ms: Option<f64>,
    /// Records per request.
    pub batch_size: usize,
    /// Configured duration in seconds.
    pub duration_s: f64,
    /// Client timeout per request in seconds.
    pub timeout_s: f64,
    /// Devices the records cycle over.
    pub devices: u64,
    /// Device serial number prefix.
    pub device_prefix: String,
    /// First and last record timestamp generated (epoch seconds).
    pub timestamps: Option<[i64; 2]>,
    /// Backlog: batches each user had to deliver.
    pub batches: Option<u32>,
    /// Backlog: users that delivered all of them before the deadline.
    pub users_drained: Option<u32>,
    /// Backlog: seconds until the last user delivered its last batch (`None`: not all did).
    pub drained_s: Option<f64>,
}

/// Request counts and rates.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Requests {
    /// Requests attempted.
    pub total: u64,
    /// Answered 200.
    pub ok: u64,
    /// Everything else.
    pub failed: u64,
    /// `ok / total`, in percent.
    pub success_rate_pct: f64,
    /// `total / elapsed`.
    pub qps: f64,
    /// `ok / elapsed`.
    pub successful_qps: f64,
}

/// Record counts and rates.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Records {
    /// Records in the requests sent.
    pub sent: u64,
    /// `sent / elapsed`.
    pub sent_per_s: f64,
    /// `valid_records` summed over 200 answers.
    pub acknowledged: u64,
    /// `acknowledged / elapsed`.
    pub acknowledged_per_s: f64,
    /// `inserted` summed over 200 answers.
    pub inserted: u64,
    /// `duplicates` summed over 200 answers.
    pub duplicates: u64,
    /// `unknown_device` summed over 200 answers.
    pub unknown_device: u64,
    /// `errors` (records rejected by validation) summed over 200 answers.
    pub rejected: u64,
}

/// Latency figures in milliseconds, over every request that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Requests with a latency.
    pub samples: u64,
    /// Mean.
    pub avg: f64,
    /// Fastest.
    pub min: f64,
    /// Slowest.
    pub max: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Latency {
    /// Figures of a histogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self {
                samples: 0,
                avg: 0.0,
                min: 0.0,
                max: 0.0,
                p50: 0.0,
                p90: 0.0,
                p95: 0.0,
                p99: 0.0,
            };
        }
        let q = |quantile: f64| ms(h.value_at_quantile(quantile));
        Self {
            samples: h.len(),
            avg: h.mean() / 1000.0,
            min: ms(h.min()),
            max: ms(h.max()),
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
        }
    }
}

/// Failed requests of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    /// `HTTP_503`, `timeout`, ...
    pub kind: String,
    /// How many.
    pub count: u64,
    /// Share of all requests, in percent.
    pub pct: f64,
}

/// `Retry-After` presence on the answers that must carry it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RetryAfter {
    /// On 503 answers.
    pub http_503: RetryAfterCount,
    /// On 429 answers.
    pub http_429: RetryAfterCount,
}

/// One of the seed's acceptance checks.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked, e.g. `successful QPS >= 5000`.
    pub name: &'static str,
    /// The measured value; `None` when there is nothing to measure (no latency sample).
    pub actual: Option<f64>,
    /// Unit of `actual`.
    pub unit: &'static str,
    /// Whether it holds.
    pub passed: bool,
}

/// Everything the run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The configuration.
    pub config: RunInfo,
    /// Wall time from start until the last request finished, in seconds: the denominator of
    /// every rate.
    pub elapsed_s: f64,
    /// Request figures.
    pub requests: Requests,
    /// Record figures.
    pub records: Records,
    /// Latency figures.
    pub latency_ms: Latency,
    /// Failed requests by kind, most frequent first.
    pub errors: Vec<ErrorCount>,
    /// `Retry-After` presence.
    pub retry_after: RetryAfter,
    /// The seed's acceptance checks.
    pub checks: Vec<Check>,
    /// Whether all checks passed.
    pub all_checks_passed: bool,
    /// The database comparison, with `--verify-db`.
    pub verify: Option<Verification>,
}

impl Report {
    /// Computes the report of a run that took `elapsed_s` seconds.
    pub fn new(config: RunInfo, stats: &Stats, elapsed_s: f64) -> Self {
        let requests = Requests {
            total: stats.requests,
            ok: stats.ok,
            failed: stats.failed(),
            success_rate_pct: pct(stats.ok, stats.requests),
            qps: per_second(stats.requests, elapsed_s),
            successful_qps: per_second(stats.ok, elapsed_s),
        };
        let records = Records {
            sent: stats.records_sent,
            sent_per_s: per_second(stats.records_sent, elapsed_s),
            acknowledged: stats.acked.valid_records,
            acknowledged_per_s: per_second(stats.acked.valid_records, elapsed_s),
            inserted: stats.acked.inserted,
            duplicates: stats.acked.duplicates,
            unknown_device: stats.acked.unknown_device,
            rejected: stats.acked.errors,
        };
        let latency = Latency::from_histogram(&stats.latency);
        let mut errors: Vec<ErrorCount> = stats
            .errors
            .iter()
            .map(|(kind, &count)| ErrorCount {
                kind: kind.clone(),
                count,
                pct: pct(count, stats.requests),
            })
            .collect();
        errors.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.kind.cmp(&b.kind)));
        let checks = checks(&requests, &latency);
        Self {
            config,
            elapsed_s,
            requests,
            records,
            latency_ms: latency,
            errors,
            retry_after: RetryAfter {
                http_503: stats.retry_after_503,
                http_429: stats.retry_after_429,
            },
            all_checks_passed: checks.iter().all(|c| c.passed),
            checks,
            verify: None,
        }
    }
}

/// The seed's four acceptance checks.
fn checks(requests: &Requests, latency: &Latency) -> Vec<Check> {
    // Latency checks cannot pass without a single measured request.
    let measured = |v: f64| (latency.samples > 0).then_some(v);
    let avg = measured(latency.avg);
    let p99 = measured(latency.p99);
    let error_rate = (requests.total > 0).then(|| pct(requests.failed, requests.total));
    vec![
        Check {
            name: "successful QPS >= 5000",
            actual: Some(requests.successful_qps),
            unit: "",
            passed: requests.successful_qps >= MIN_SUCCESSFUL_QPS,
        },
        Check {
            name: "avg latency < 100 ms",
            actual: avg,
            unit: " ms",
            passed: avg.is_some_and(|v| v < MAX_AVG_MS),
        },
        Check {
            name: "P99 latency < 500 ms",
            actual: p99,
            unit: " ms",
            passed: p99.is_some_and(|v| v < MAX_P99_MS),
        },
        Check {
            name: "error rate < 0.1%",
            actual: error_rate,
            unit: "%",
            passed: error_rate.is_some_and(|v| v < MAX_ERROR_RATE_PCT),
        },
    ]
}

/// Microseconds to milliseconds.
fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// `count` per second over `secs`; 0 for an empty interval.
pub fn per_second(count: u64, secs: f64) -> f64 {
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// `part` as a percentage of `whole`; 0 when `whole` is 0.
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Ack, KIND_TIMEOUT, Outcome};
    use std::time::Duration;

    fn info() -> RunInfo {
        RunInfo {
            mode: "closed",
            url: "http://127.0.0.1:8001/upload_health_data_batch".to_owned(),
            run_id: "stress_1".to_owned(),
            users: Some(10),
            users_started: Some(10),
            think_s: Some([1.0, 5.0]),
            rate: None,
            max_in_flight: None,
            scheduled: None,
            max_send_lag_ms: None,
            batch_size: 100,
            duration_s: 10.0,
            timeout_s: 30.0,
            devices: 1000,
            device_prefix: "TEST_".to_owned(),
            timestamps: Some([1_700_000_000, 1_700_000_099]),
            batches: None,
            users_drained: None,
            drained_s: None,
        }
    }

    #[test]
    fn percentiles_of_a_hand_made_histogram() {
        let mut h = Histogram::<u64>::new_with_bounds(1, crate::stats::MAX_LATENCY_US, 3)
            .expect("histogram");
        // 1 ms .. 100 ms, one request each: P50 = 50 ms, P90 = 90 ms, P99 = 99 ms.
        for ms in 1..=100u64 {
            h.record(ms * 1000).expect("in range");
        }
        let l = Latency::from_histogram(&h);
        assert_eq!(l.samples, 100);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 1e-9;
        assert!(close(l.min, 1.0), "min {}", l.min);
        assert!(close(l.max, 100.0), "max {}", l.max);
        assert!(close(l.avg, 50.5), "avg {}", l.avg);
        assert!(close(l.p50, 50.0), "p50 {}", l.p50);
        assert!(close(l.p90, 90.0), "p90 {}", l.p90);
        assert!(close(l.p95, 95.0), "p95 {}", l.p95);
        assert!(close(l.p99, 99.0), "p99 {}", l.p99);
    }

    #[test]
    fn an_empty_histogram_gives_zeros_and_failing_latency_checks() {
        let report = Report::new(info(), &Stats::new(), 10.0);
        assert_eq!(report.latency_ms.samples, 0);
        assert_eq!(report.requests.success_rate_pct, 0.0);
        assert!(!report.checks[1].passed && report.checks[1].actual.is_none());
        assert!(!report.checks[2].passed);
        assert!(!report.checks[3].passed);
        assert!(!report.all_checks_passed);
    }

    #[test]
    fn rates_and_checks_from_recorded_requests() {
        let mut stats = Stats::new();
        let ack = Ack {
            valid_records: 100,
            inserted: 100,
            ..Ack::default()
        };
        for _ in 0..999 {
            stats.record(&Outcome::Accepted(ack), Duration::from_millis(20), 100);
        }
        stats.record(&Outcome::Failed(KIND_TIMEOUT), Duration::from_secs(30), 100);
        let report = Report::new(info(), &stats, 2.0);
        let r = report.requests;
        assert_eq!((r.total, r.ok, r.failed), (1000, 999, 1));
        assert_eq!(r.qps, 500.0);
        assert_eq!(r.successful_qps, 499.5);
        assert!((r.success_rate_pct - 99.9).abs() < 1e-9);
        assert_eq!(report.records.sent, 100_000);
        assert_eq!(report.records.sent_per_s, 50_000.0);
        assert_eq!(report.records.acknowledged_per_s, 49_950.0);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].kind, "timeout");
        assert!((report.errors[0].pct - 0.1).abs() < 1e-9);
        // QPS 499.5 < 5000 fails; avg (20 ms * 999 + 30 s) / 1000 ≈ 50 ms passes;
        // P99 is 20 ms (the timeout is the 1000th) and passes; 0.1% errors is not < 0.1%.
        let passed: Vec<bool> = report.checks.iter().map(|c| c.passed).collect();
        assert_eq!(passed, [false, true, true, false]);
        let text = report.render();
        assert!(text.contains("[FAIL] successful QPS >= 5000: actual 499.500"));
        assert!(text.contains("[PASS] P99 latency < 500 ms"));
        assert!(text.contains("503s without Retry-After: 0"));
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["requests"]["ok"], 999);
        assert_eq!(json["checks"][3]["passed"], false);
    }

    #[test]
    fn helpers_handle_zero_denominators() {
        assert_eq!(per_second(10, 0.0), 0.0);
        assert_eq!(pct(1, 0), 0.0);
        assert_eq!(pct(1, 4), 25.0);
    }
}
