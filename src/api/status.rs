//! `GET /api/health` and `GET /api/stats` (DESIGN §2).

use super::ApiTags;
use super::admin::{Observers, ViewError, Viewer};
use super::wire::ErrorBody;
use crate::devices::DeviceDirectory;
use crate::health;
use crate::ingest::Writer;
use crate::ingest::activity::Activity;
use crate::monitor::{Monitor, MonitorReport};
use crate::store::{Store, StoreError};
use crate::zone::Zone;
use chrono::Utc;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use tracing::{error, warn};

/// Service status endpoints.
pub struct StatusApi {
    store: Store,
    writer: Writer,
    devices: DeviceDirectory,
    activity: Activity,
    monitor: Monitor,
    zone: Zone,
    observers: Observers,
}

impl StatusApi {
    /// Status of the service's parts, with days counted in `zone`.
    pub fn new(
        store: Store,
        writer: Writer,
        devices: DeviceDirectory,
        activity: Activity,
        monitor: Monitor,
        zone: Zone,
        observers: Observers,
    ) -> Self {
        Self {
            store,
            writer,
            devices,
            activity,
            monitor,
            zone,
            observers,
        }
    }
}

/// State of one component.
#[derive(Object)]
pub struct ComponentStatus {
    /// `up`, `down`, or `degraded` (the cache without its Redis level: uploads continue).
    pub status: String,
    /// What the component is (`sqlite`, `in_process`, `group_commit x4`).
    pub kind: String,
    /// Round-trip time of the check in milliseconds, where one is made.
    #[oai(skip_serializing_if_is_none)]
    pub latency_ms: Option<f64>,
    /// Writer only: rows waiting for or inside a commit.
    #[oai(skip_serializing_if_is_none)]
    pub queued_rows: Option<u64>,
    /// Writer only: most rows the queue holds; uploads beyond get 503.
    #[oai(skip_serializing_if_is_none)]
    pub queue_capacity: Option<u64>,
    /// Replica only: seconds it is behind the primary, where the server reports it.
    #[oai(skip_serializing_if_is_none)]
    pub lag_seconds: Option<f64>,
}

/// Components the service needs.
#[derive(Object)]
pub struct Components {
    /// The database (`SELECT 1`).
    pub database: ComponentStatus,
    /// The device mapping cache.
    pub cache: ComponentStatus,
    /// The path that commits uploads.
    pub writer: ComponentStatus,
    /// The read replica (`database.read_url`), when one is configured: `down` means the
    /// dashboard, statistics and alert listings read from the primary meanwhile. Not needed
    /// for `healthy`.
    #[oai(skip_serializing_if_is_none)]
    pub replica: Option<ComponentStatus>,
}

/// Health of the service.
#[derive(Object)]
pub struct HealthReport {
    /// `healthy` when every component is up, else `unhealthy`.
    pub status: String,
    /// When the check ran (RFC 3339, service time zone).
    pub timestamp: String,
    /// Each component's state.
    pub components: Components,
}

/// Answers of `GET /api/health`.
#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Every component is up.
    #[oai(status = 200)]
    Healthy(Json<HealthReport>),
    /// A required component is down; uploads are answered 503 meanwhile.
    #[oai(status = 503)]
    Unhealthy(Json<HealthReport>),
}

/// Answers of `GET /api/monitor`.
#[derive(ApiResponse)]
pub enum MonitorResponse {
    /// The samples and threshold events.
    #[oai(status = 200)]
    Ok(Json<MonitorReport>),
}

/// Today's ingest statistics. "Today" is the calendar day in the service's time zone, counted
/// by commit time; a commit reaches these counts within about a second (`writer.fold_ms`).
#[derive(Object)]
pub struct StatsReport {
    /// Samples committed to `t_user_health_data` today.
    pub today_records: u64,
    /// Devices with at least one sample committed today.
    pub active_devices: u64,
    /// Wearers of those devices.
    pub active_users: u64,
    /// Samples stored per second, averaged over the last 10 seconds (all instances when
    /// Redis is configured, else this instance).
    pub records_per_second: f64,
    /// Devices with samples stored in the last 5 minutes (all instances when Redis is
    /// configured, else this instance; approximate with Redis).
    pub active_devices_5m: u64,
    /// The day counted (`YYYY-MM-DD`).
    pub date: String,
    /// When the statistics were read (RFC 3339, service time zone).
    pub timestamp: String,
}

/// Answers of `GET /api/stats`.
#[derive(ApiResponse)]
pub enum StatsResponse {
    /// Today's counts.
    #[oai(status = 200)]
    Ok(Json<StatsReport>),
    /// An unexpected server error; the detail is in the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable; retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u32,
    ),
}

#[OpenApi(tag = "ApiTags::Status")]
impl StatusApi {
    /// Service health
    ///
    /// Checks each component: the database with a round trip, the device cache and the
    /// upload commit path. Load balancers can use the status code alone.
    #[oai(path = "/api/health", method = "get")]
    async fn health(&self) -> HealthResponse {
        let checked = health::check(&self.store, &self.writer, &self.devices).await;
        let up = |up: bool| if up { "up" } else { "down" }.to_owned();
        let report = HealthReport {
            status: if checked.healthy() {
                "healthy"
            } else {
                "unhealthy"
            }
            .to_owned(),
            timestamp: self.zone.format(Utc::now()),
            components: Components {
                database: ComponentStatus {
                    status: up(checked.database_up),
                    kind: format!("{:?}", self.store.backend()).to_lowercase(),
                    latency_ms: Some(checked.database_ms),
                    queued_rows: None,
                    queue_capacity: None,
                    lag_seconds: None,
                },
                cache: ComponentStatus {
                    status: if checked.cache_degraded() {
                        "degraded".to_owned()
                    } else {
                        up(true)
                    },
                    kind: match checked.redis_up {
                        Some(_) => "in_process+redis",
                        None => "in_process",
                    }
                    .to_owned(),
                    latency_ms: None,
                    queued_rows: None,
                    queue_capacity: None,
                    lag_seconds: None,
                },
                // The writer commits through the database: it is up when the database is.
                writer: ComponentStatus {
                    status: up(checked.database_up),
                    kind: format!("group_commit x{}", checked.writers),
                    latency_ms: None,
                    queued_rows: Some(checked.queued_rows as u64),
                    queue_capacity: Some(checked.queue_capacity as u64),
                    lag_seconds: None,
                },
                replica: checked.replica.map(|replica| ComponentStatus {
                    status: up(replica.up),
                    kind: if replica.up {
                        "read_replica"
                    } else {
                        "read_replica (reads from the primary)"
                    }
                    .to_owned(),
                    latency_ms: Some(replica.latency_ms),
                    queued_rows: None,
                    queue_capacity: None,
                    lag_seconds: replica.lag_seconds,
                }),
            },
        };
        if checked.healthy() {
            HealthResponse::Healthy(Json(report))
        } else {
            HealthResponse::Unhealthy(Json(report))
        }
    }

    /// System monitor
    ///
    /// Host CPU, memory, disk and network and this service's CPU and memory, sampled every
    /// `monitor.interval_ms` (default 10 s), the last `monitor.history` points (default 100),
    /// and the threshold events (CPU above 80 %, memory above 85 % by default). Needs the
    /// admin token or a dashboard session unless `observability.public` is set.
    #[oai(path = "/api/monitor", method = "get")]
    async fn monitor(&self, viewer: Viewer) -> Result<MonitorResponse, ViewError> {
        self.observers.allow(&viewer).await?;
        Ok(MonitorResponse::Ok(Json(self.monitor.report())))
    }

    /// Today's statistics
    ///
    /// Samples stored today, active devices and active users. Read from per-device daily
    /// counters kept in the same transaction as the samples, so the cost does not grow with
    /// the number of stored rows.
    #[oai(path = "/api/stats", method = "get")]
    async fn stats(&self) -> StatsResponse {
        let now = Utc::now();
        let day = self.zone.day(now);
        match self.store.day_stats(day).await {
            Ok(stats) => StatsResponse::Ok(Json(StatsReport {
                today_records: stats.records,
                active_devices: stats.devices,
                active_users: stats.users,
                records_per_second: {
                    let last = self.activity.per_second(10).await;
                    last.iter().map(|(_, n)| *n as f64).sum::<f64>() / 10.0
                },
                active_devices_5m: self.activity.active_devices().await,
                date: day.to_string(),
                timestamp: self.zone.format(now),
            })),
            Err(StoreError::Unavailable(err)) => {
                warn!(error = %err, "Stats: database unavailable.");
                StatsResponse::Unavailable(
                    Json(ErrorBody::new(
                        "storage_unavailable",
                        "storage is temporarily unavailable; retry later",
                    )),
                    5,
                )
            }
            Err(StoreError::Database(err)) => {
                error!(error = %err, "Stats query failed.");
                StatsResponse::Internal(Json(ErrorBody::new("internal", "internal server error")))
            }
        }
    }
}
