//! `GET /api/traces…`: the recent-trace store (DESIGN §8) — where each recent upload spent its
//! time, the slowest ones, and per-stage percentiles over 1, 5 and 15 minutes. Traces carry
//! batch ids: they need the admin token or a dashboard session unless
//! `observability.public` is set.

use super::ApiTags;
use super::admin::{Observers, ViewError, Viewer};
use super::wire::ErrorBody;
use crate::telemetry::traces::{BatchTrace, StagePercentiles, TraceStore};
use chrono::Utc;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

/// Trace endpoints.
pub struct TracesApi {
    traces: TraceStore,
    observers: Observers,
}

impl TracesApi {
    /// Endpoints reading `traces`, for those `observers` let in.
    pub fn new(traces: TraceStore, observers: Observers) -> Self {
        Self { traces, observers }
    }
}

/// Stage latency over a window.
#[derive(Object)]
pub struct StageReport {
    /// The window, in minutes.
    pub window_minutes: u32,
    /// One entry per stage, in pipeline order, then `total`.
    pub stages: Vec<StagePercentiles>,
}

/// Answers of the trace lists.
#[derive(ApiResponse)]
pub enum TracesResponse {
    /// The traces, newest (or slowest) first.
    #[oai(status = 200)]
    Ok(Json<Vec<BatchTrace>>),
}

/// Answers of the stage percentiles.
#[derive(ApiResponse)]
pub enum StagesResponse {
    /// Percentiles per stage.
    #[oai(status = 200)]
    Ok(Json<StageReport>),
}

/// Answers of `GET /api/traces/{trace_id}`.
#[derive(ApiResponse)]
pub enum TraceResponse {
    /// The trace.
    #[oai(status = 200)]
    Ok(Json<BatchTrace>),
    /// Not among the kept traces (`not_found`): unknown, or evicted by newer ones.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
}

#[OpenApi(tag = "ApiTags::Traces")]
impl TracesApi {
    /// Recent uploads
    ///
    /// The last uploads with their stage timings, newest first.
    #[oai(path = "/api/traces", method = "get")]
    async fn recent(
        &self,
        viewer: Viewer,
        /// How many, 1–500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<usize>,
    ) -> Result<TracesResponse, ViewError> {
        self.observers.allow(&viewer).await?;
        Ok(TracesResponse::Ok(Json(self.traces.recent(limit.0))))
    }

    /// Slowest recent uploads
    ///
    /// The slowest of the kept uploads, slowest first.
    #[oai(path = "/api/traces/slowest", method = "get")]
    async fn slowest(
        &self,
        viewer: Viewer,
        /// How many, 1–100.
        #[oai(
            default = "default_slowest",
            validator(minimum(value = "1"), maximum(value = "100"))
        )]
        limit: Query<usize>,
    ) -> Result<TracesResponse, ViewError> {
        self.observers.allow(&viewer).await?;
        Ok(TracesResponse::Ok(Json(self.traces.slowest(limit.0))))
    }

    /// Stage percentiles
    ///
    /// p50/p95/p99 and maximum per stage over the last 1, 5 or 15 minutes.
    #[oai(path = "/api/traces/stages", method = "get")]
    async fn stages(
        &self,
        viewer: Viewer,
        /// Window in minutes, 1–15.
        #[oai(
            default = "default_window",
            validator(minimum(value = "1"), maximum(value = "15"))
        )]
        window_minutes: Query<u32>,
    ) -> Result<StagesResponse, ViewError> {
        self.observers.allow(&viewer).await?;
        Ok(StagesResponse::Ok(Json(StageReport {
            window_minutes: window_minutes.0,
            stages: self.traces.percentiles(window_minutes.0, Utc::now()),
        })))
    }

    /// One upload's trace
    #[oai(path = "/api/traces/:trace_id", method = "get")]
    async fn one(
        &self,
        viewer: Viewer,
        /// The trace id (32 hex digits), as answered in `trace_id`.
        trace_id: Path<String>,
    ) -> Result<TraceResponse, ViewError> {
        self.observers.allow(&viewer).await?;
        Ok(match self.traces.get(&trace_id.0) {
            Some(trace) => TraceResponse::Ok(Json(trace)),
            None => TraceResponse::NotFound(Json(ErrorBody::new(
                "not_found",
                "no such trace among the recent ones",
            ))),
        })
    }
}

fn default_limit() -> usize {
    50
}

fn default_slowest() -> usize {
    10
}

fn default_window() -> u32 {
    5
}
