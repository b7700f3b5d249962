//! The in-process recent-trace store (DESIGN §8): the last batches with their stage timings,
//! and per-stage latency histograms over sliding windows of 1, 5 and 15 minutes. It feeds
//! the dashboard and `/api/traces` with no collector installed. Memory is bounded: a fixed
//! number of traces, and one small histogram per stage and minute for 15 minutes.

use crate::domain::Stage;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use poem_openapi::Object;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

/// Minutes of per-stage histograms kept.
const WINDOW_MINUTES: i64 = 15;
/// The percentiles' name for a whole request.
const TOTAL: &str = "total";
/// Largest duration a histogram tracks, in microseconds (60 s); longer ones are clamped.
const MAX_MICROS: u64 = 60_000_000;

/// One stage of a batch: when it started (from the request's arrival) and how long it took.
#[derive(Object, Debug, Clone, PartialEq)]
pub struct StageTiming {
    /// `admission` (waiting for room in the writer's queue), `read` (the body), `slot`
    /// (waiting for an upload slot), `parse`, `validate`, `resolve`, `queue_wait`, `commit`.
    pub name: String,
    /// Milliseconds from the request's arrival to the start of the stage.
    pub start_ms: f64,
    /// Milliseconds the stage took.
    pub duration_ms: f64,
}

/// One upload request, traced.
#[derive(Object, Debug, Clone, PartialEq)]
pub struct BatchTrace {
    /// W3C trace id (32 hex digits), also in the upload's response.
    pub trace_id: String,
    /// The batch id, once known.
    #[oai(skip_serializing_if_is_none)]
    pub batch_id: Option<String>,
    /// HTTP status answered.
    pub status: u16,
    /// Records in the request.
    pub records: u32,
    /// When the request arrived (RFC 3339, UTC).
    pub started_at: DateTime<Utc>,
    /// Milliseconds from arrival to the answer.
    pub total_ms: f64,
    /// The stages in order; together with the gaps between them they make up `total_ms`.
    pub stages: Vec<StageTiming>,
}

/// Latency of one stage over a window.
#[derive(Object, Debug, Clone, PartialEq)]
pub struct StagePercentiles {
    /// Stage name (`total` is the whole request).
    pub stage: String,
    /// Batches measured.
    pub count: u64,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
}

/// The trace of one request being collected: its context, arrival, and stages so far.
#[derive(Debug, Clone)]
pub struct RequestTrace {
    /// W3C context (continued from `traceparent`, or new).
    pub context: super::traceparent::TraceContext,
    /// When the request arrived at the service (before admission).
    pub arrived: std::time::Instant,
    /// The same moment as wall-clock time.
    pub arrived_at: DateTime<Utc>,
    /// The request's span (exported over OTLP when configured); stages are its children.
    pub span: tracing::Span,
    stages: Vec<StageTiming>,
}

impl RequestTrace {
    /// An upload arriving now at `route`, continuing `traceparent` if it names a valid trace.
    pub fn start(route: &str, traceparent: Option<&str>) -> Self {
        let mut context = super::traceparent::TraceContext::from_header(traceparent);
        let span = tracing::info_span!(
            "upload",
            otel.name = route,
            otel.kind = "server",
            trace_id = tracing::field::Empty,
            batch_id = tracing::field::Empty,
            records = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        super::otel::link(&span, &mut context);
        span.record("trace_id", context.trace_id_hex());
        Self {
            context,
            arrived: std::time::Instant::now(),
            arrived_at: Utc::now(),
            span,
            stages: Vec::new(),
        }
    }

    /// Adds `stage`, which ran from `from` to `to`.
    pub fn stage(&mut self, stage: Stage, from: std::time::Instant, to: std::time::Instant) {
        let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        self.stages.push(StageTiming {
            name: stage.as_str().to_owned(),
            start_ms: ms(from.saturating_duration_since(self.arrived)),
            duration_ms: ms(to.saturating_duration_since(from)),
        });
    }

    /// Adds `stage`, which started at `from` and took `took`.
    pub fn stage_for(&mut self, stage: Stage, from: std::time::Instant, took: std::time::Duration) {
        self.stage(stage, from, from + took);
    }

    /// The finished trace, answered with `status`.
    pub fn finish(self, batch_id: Option<String>, status: u16, records: u32) -> BatchTrace {
        BatchTrace {
            trace_id: self.context.trace_id_hex(),
            batch_id,
            status,
            records,
            started_at: self.arrived_at,
            total_ms: (self.arrived.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            stages: self.stages,
        }
    }
}

struct Minute {
    minute: i64,
    stages: BTreeMap<String, Histogram<u64>>,
}

struct Inner {
    capacity: usize,
    recent: VecDeque<BatchTrace>,
    minutes: VecDeque<Minute>,
}

/// The store. Cheap to clone; one per process.
#[derive(Clone)]
pub struct TraceStore {
    inner: Arc<Mutex<Inner>>,
}

impl TraceStore {
    /// A store keeping the last `capacity` traces.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                capacity: capacity.max(1),
                recent: VecDeque::with_capacity(capacity.clamp(1, 4096)),
                minutes: VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `trace` and adds its stages to the current minute's histograms.
    pub fn record(&self, trace: BatchTrace) {
        let minute = trace.started_at.timestamp().div_euclid(60);
        let mut inner = self.lock();
        if inner.minutes.back().is_none_or(|m| m.minute != minute) {
            inner.minutes.push_back(Minute {
                minute,
                stages: BTreeMap::new(),
            });
        }
        while inner
            .minutes
            .front()
            .is_some_and(|m| m.minute <= minute - WINDOW_MINUTES)
        {
            inner.minutes.pop_front();
        }
        if let Some(current) = inner.minutes.back_mut() {
            let stages = trace
                .stages
                .iter()
                .map(|s| (s.name.as_str(), s.duration_ms))
                .chain([(TOTAL, trace.total_ms)]);
            for (name, ms) in stages {
                let histogram = current
                    .stages
                    .entry(name.to_owned())
                    .or_insert_with(new_histogram);
                let micros = ((ms * 1000.0).round() as u64).clamp(1, MAX_MICROS);
                let _ = histogram.record(micros);
            }
        }
        if inner.recent.len() == inner.capacity {
            inner.recent.pop_front();
        }
        inner.recent.push_back(trace);
    }

    /// The last `limit` traces, newest first.
    pub fn recent(&self, limit: usize) -> Vec<BatchTrace> {
        self.lock()
            .recent
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// How many traces are kept.
    pub fn len(&self) -> usize {
        self.lock().recent.len()
    }

    /// Whether no trace is kept yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `limit` slowest of the kept traces, slowest first.
    pub fn slowest(&self, limit: usize) -> Vec<BatchTrace> {
        let inner = self.lock();
        let mut traces: Vec<&BatchTrace> = inner.recent.iter().collect();
        traces.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        traces.into_iter().take(limit).cloned().collect()
    }

    /// The kept trace with this id.
    pub fn get(&self, trace_id: &str) -> Option<BatchTrace> {
        self.lock()
            .recent
            .iter()
            .rev()
            .find(|t| t.trace_id == trace_id)
            .cloned()
    }

    /// Percentiles per stage over the last `minutes` minutes (1 to 15) before `now`.
    pub fn percentiles(&self, minutes: u32, now: DateTime<Utc>) -> Vec<StagePercentiles> {
        let minutes = i64::from(minutes.clamp(1, 15));
        let current = now.timestamp().div_euclid(60);
        let inner = self.lock();
        let mut merged: BTreeMap<&str, Histogram<u64>> = BTreeMap::new();
        for m in inner
            .minutes
            .iter()
            .filter(|m| m.minute > current - minutes)
        {
            for (stage, h) in &m.stages {
                let _ = merged
                    .entry(stage.as_str())
                    .or_insert_with(new_histogram)
                    .add(h);
            }
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        let mut out: Vec<StagePercentiles> = merged
            .into_iter()
            .map(|(stage, h)| StagePercentiles {
                stage: stage.to_owned(),
                count: h.len(),
                p50_ms: ms(h.value_at_quantile(0.50)),
                p95_ms: ms(h.value_at_quantile(0.95)),
                p99_ms: ms(h.value_at_quantile(0.99)),
                max_ms: ms(h.max()),
            })
            .collect();
        // Pipeline order, `total` last.
        out.sort_by_key(|p| stage_rank(&p.stage));
        out
    }
}

/// Where `stage` comes in pipeline order: the stages, then `total`, then any other name.
fn stage_rank(stage: &str) -> usize {
    Stage::ALL
        .iter()
        .position(|s| s.as_str() == stage)
        .unwrap_or(Stage::ALL.len() + usize::from(stage != TOTAL))
}

fn new_histogram() -> Histogram<u64> {
    // Two significant digits keep each histogram at a few kilobytes.
    Histogram::new_with_bounds(1, MAX_MICROS, 2).expect("constant bounds are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn trace(id: &str, at: DateTime<Utc>, total_ms: f64) -> BatchTrace {
        BatchTrace {
            trace_id: id.to_owned(),
            batch_id: None,
            status: 200,
            records: 1,
            started_at: at,
            total_ms,
            stages: vec![StageTiming {
                name: "commit".to_owned(),
                start_ms: 0.0,
                duration_ms: total_ms / 2.0,
            }],
        }
    }

    #[test]
    fn keeps_the_last_traces_and_finds_the_slowest() {
        let store = TraceStore::new(3);
        let t0 = Utc.timestamp_opt(1_700_000_000, 0).single().expect("time");
        for (i, ms) in [5.0, 50.0, 1.0, 7.0].into_iter().enumerate() {
            store.record(trace(&format!("t{i}"), t0, ms));
        }
        let recent: Vec<_> = store.recent(10).into_iter().map(|t| t.trace_id).collect();
        assert_eq!(recent, vec!["t3", "t2", "t1"]);
        assert_eq!(store.slowest(1)[0].trace_id, "t1");
        assert!(store.get("t0").is_none(), "evicted");
        assert_eq!(store.get("t2").map(|t| t.total_ms), Some(1.0));
    }

    #[test]
    fn windows_cover_only_their_minutes() {
        let store = TraceStore::new(100);
        let now = Utc.timestamp_opt(1_700_000_000, 0).single().expect("time");
        store.record(trace("old", now - chrono::TimeDelta::minutes(10), 1000.0));
        store.record(trace("new", now, 10.0));
        let last_minute = store.percentiles(1, now);
        let total = last_minute
            .iter()
            .find(|p| p.stage == "total")
            .expect("total");
        assert_eq!(total.count, 1);
        assert!((total.p99_ms - 10.0).abs() < 0.2, "{total:?}");
        let quarter = store.percentiles(15, now);
        let total = quarter.iter().find(|p| p.stage == "total").expect("total");
        assert_eq!(total.count, 2);
        assert!(total.max_ms >= 990.0, "{total:?}");
        assert_eq!(quarter.first().map(|p| p.stage.as_str()), Some("commit"));
    }
}
