//! Wiring: from a [`Config`] to a running HTTP server.

mod conn;
mod listen;
mod server;

pub use listen::listen;
pub use server::Stop;

use crate::access::password::{self, PasswordError};
use crate::access::{Admin, Auth, Clients};
use crate::alerts::outbox::OutboxTask;
use crate::alerts::{self, AlertsError};
use crate::api::body::{Pace, ReadBudget};
use crate::api::{
    self, AlertsApi, ApiParts, ApiService, BindingsApi, ExportApi, FhirApi, Gate, GateConfig,
    KeysApi, MetricsSources, Observers, OmhApi, SamplesApi, StatusApi, TracesApi, UploadApi,
    UploadBodies, UploadRateLimit,
};
use crate::config::Config;
use crate::dashboard::{Dashboard, Feed, FeedTask, Sources};
use crate::devices::{BindingWatch, DeviceDirectory, DeviceKeys, KeysTask};
use crate::exports::{ExportTasks, Exports};
use crate::health::ReplicaWatch;
use crate::housekeeping::{self, HousekeepingTask};
use crate::ingest::activity::{Activity, ActivityTask};
use crate::ingest::{Ingest, Writer, WriterTasks};
use crate::monitor::{Monitor, MonitorTask};
use crate::redis::Redis;
use crate::store::{self, Store};
use crate::telemetry::metrics as telemetry;
use crate::telemetry::traces::TraceStore;
use crate::zone::{UnknownZone, Zone};
use poem::endpoint::BoxEndpoint;
use poem::middleware::{CatchPanic, CookieJarManager, Cors};
use poem::{Endpoint, EndpointExt, Route};
use sea_orm::DbErr;
use std::future::Future;
use std::time::Duration;
use tracing::info;

/// How long shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configured time zone is unknown.
    #[error(transparent)]
    Zone(#[from] UnknownZone),
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Database(#[source] DbErr),
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database: {0}")]
    Migration(#[source] DbErr),
    /// The Redis URL is malformed (an unreachable Redis is not an error).
    #[error("{0}")]
    Redis(String),
    /// The alert rules or notifiers are misconfigured.
    #[error("alerts: {0}")]
    Alerts(#[from] AlertsError),
    /// The dashboard password could not be set up.
    #[error("dashboard password: {0}")]
    Password(#[from] PasswordError),
    /// The device keys could not be read.
    #[error("cannot read the device keys: {0}")]
    Keys(#[source] crate::store::StoreError),
}

/// Opens the database of `config` and brings its schema up to date (partitioning a new
/// install's health table). The maintenance commands (`migrate`, `devices import`,
/// `partitions`) and `bench-db` need no more than this.
pub async fn open_storage(config: &Config) -> Result<Store, StartupError> {
    let _sqlite_lock = match store::sqlite_file(config.database.url.expose()) {
        Some(file) => Some(
            store::lock_sqlite(file)
                .await
                .map_err(StartupError::Migration)?,
        ),
        None => None,
    };
    let db = store::connect(&config.database)
        .await
        .map_err(StartupError::Database)?;
    let partition_ahead = config.partitions.enabled.then_some(config.partitions.ahead);
    store::migrate(&db, partition_ahead)
        .await
        .map_err(StartupError::Migration)?;
    Ok(Store::new(db))
}

/// A ready service: storage open and migrated, writer running, pipeline built.
pub struct App {
    config: Config,
    store: Store,
    zone: Zone,
    devices: DeviceDirectory,
    keys: DeviceKeys,
    keys_task: KeysTask,
    binding_watch: BindingWatch,
    exports: Exports,
    export_tasks: ExportTasks,
    clients: Clients,
    admin: Admin,
    writer: Writer,
    writer_tasks: WriterTasks,
    activity: Activity,
    activity_task: ActivityTask,
    outbox_task: Option<OutboxTask>,
    monitor: Monitor,
    monitor_task: MonitorTask,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    traces: TraceStore,
    dashboard: Dashboard,
    feed_task: FeedTask,
    housekeeping_task: HousekeepingTask,
    replica_watch: Option<ReplicaWatch>,
}

impl App {
    /// Opens and migrates the database of `config` and builds the service.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let zone = Zone::from_config(config.timezone.as_deref())?;
        let mut store = open_storage(&config).await?;
        if let Some(url) = &config.database.read_url {
            let replica = store::connect_replica(&config.database, url.expose())
                .await
                .map_err(StartupError::Database)?;
            store = store.with_replica(replica);
            // Reads go to the replica from the first request if it answers now.
            store.check_replica(crate::health::PING_TIMEOUT).await;
        }
        let replica_watch = crate::health::watch_replica(
            store.clone(),
            Duration::from_millis(config.database.replica_check_ms),
        );
        let redis = Redis::connect(&config.redis)
            .await
            .map_err(|err| StartupError::Redis(err.to_string()))?;
        let devices = DeviceDirectory::new(store.clone(), redis.clone(), &config.devices);
        let binding_watch = BindingWatch::start(store.clone(), devices.clone()).await;
        let (exports, export_tasks) = Exports::start(store.clone());
        let (keys, keys_task) = DeviceKeys::start(store.clone(), redis.clone())
            .await
            .map_err(StartupError::Keys)?;
        let (alert_engine, outbox_task) = alerts::start(&store, &config.alerts)?.unzip();
        let (writer, writer_tasks) =
            Writer::start(store.clone(), zone, &config.writer, alert_engine);
        let (activity, activity_task) = Activity::start(redis);
        let housekeeping_task = housekeeping::start(store.clone(), &config);
        let (monitor, monitor_task) = Monitor::start(&config.monitor);
        let metrics = telemetry::install();
        let traces = TraceStore::new(config.traces.recent);
        let password_hash = password::resolve(&config.admin, &store, &config.data_dir).await?;
        let clients = Clients::new(&config.server);
        let auth = Auth::new(&config.admin, clients.clone(), store.clone(), password_hash);
        let admin =
            Admin::new(config.admin.token.clone()).with_read_token(config.admin.read_token.clone());
        let sources = Sources {
            store: store.clone(),
            writer: writer.clone(),
            devices: devices.clone(),
            activity: activity.clone(),
            monitor: monitor.clone(),
            traces: traces.clone(),
            zone,
        };
        let (feed, feed_task) = Feed::start(
            sources.clone(),
            Duration::from_millis(config.dashboard.refresh_ms),
        );
        let dashboard = Dashboard {
            sources,
            auth,
            feed,
            page_size: config.dashboard.page_size.clamp(1, 500),
            rules: if config.alerts.enabled {
                config.alerts.rules.clone()
            } else {
                Vec::new()
            },
        };
        Ok(Self {
            config,
            store,
            zone,
            devices,
            keys,
            keys_task,
            binding_watch,
            exports,
            export_tasks,
            clients,
            admin,
            writer,
            writer_tasks,
            activity,
            activity_task,
            outbox_task,
            monitor,
            monitor_task,
            metrics,
            traces,
            dashboard,
            feed_task,
            housekeeping_task,
            replica_watch,
        })
    }

    /// The device directory (binding lookups and cache invalidation).
    pub fn devices(&self) -> &DeviceDirectory {
        &self.devices
    }

    /// The storage handle.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The device keys.
    pub fn keys(&self) -> &DeviceKeys {
        &self.keys
    }

    /// The documented API.
    pub fn api(&self) -> ApiService {
        let ingest = Ingest::new(
            self.devices.clone(),
            self.writer.clone(),
            self.activity.clone(),
        );
        let observers = Observers {
            admin: self.admin.clone(),
            auth: self.dashboard.auth.clone(),
            public: self.config.observability.public,
        };
        api::service(ApiParts {
            upload: UploadApi::new(ingest, self.config.ingest.max_records, self.traces.clone()),
            status: StatusApi::new(
                self.store.clone(),
                self.writer.clone(),
                self.devices.clone(),
                self.activity.clone(),
                self.monitor.clone(),
                self.zone,
                observers.clone(),
            ),
            alerts: AlertsApi::new(self.store.clone(), self.admin.clone()),
            traces: TracesApi::new(self.traces.clone(), observers),
            keys: KeysApi::new(self.keys.clone(), self.admin.clone()),
            samples: SamplesApi::new(self.store.clone(), self.admin.clone(), self.zone),
            bindings: BindingsApi::new(
                self.store.clone(),
                self.devices.clone(),
                self.admin.clone(),
                self.zone,
            ),
            omh: OmhApi::new(self.store.clone(), self.admin.clone(), self.zone),
            fhir: FhirApi::new(
                self.store.clone(),
                self.admin.clone(),
                self.config.server.public_url.clone(),
            ),
            export: ExportApi::new(
                self.store.clone(),
                self.exports.clone(),
                self.admin.clone(),
                self.config.server.public_url.clone(),
            ),
        })
    }

    /// Every route of the service, with its middleware.
    pub fn endpoint(&self) -> BoxEndpoint<'static> {
        let api = self.api();
        let route = Route::new()
            .at("/openapi.json", api.spec_endpoint())
            .at(
                "/metrics",
                poem::get(api::scrape).data(MetricsSources {
                    handle: self.metrics.clone(),
                    writer: self.writer.clone(),
                    devices: self.devices.clone(),
                    store: self.store.clone(),
                }),
            )
            .nest("/docs", api.swagger_ui())
            // The observability endpoints accept a dashboard session's cookie.
            .nest("/", api.with(CookieJarManager::new()));
        // After the API's nest at "/", which would otherwise take "/" itself.
        let route = self.dashboard.routes(route);
        let server = &self.config.server;
        let pace = Pace {
            grace: Duration::from_secs(server.body_timeout_secs.max(1)),
            min_bytes_per_sec: server.body_min_bytes_per_sec,
        };
        let max_body = self.config.ingest.max_body_bytes;
        let endpoint = route.data(UploadBodies {
            max_bytes: max_body,
            pace,
            // A body larger than the budget could never be received whole.
            budget: ReadBudget::new(
                server.read_memory_bytes.max(max_body),
                self.writer.queue_wait(),
            ),
        });
        let endpoint = endpoint
            .with(Gate::new(GateConfig {
                rate_limit: UploadRateLimit::new(&self.config.rate_limit, self.clients.clone()),
                auth: self.config.devices.auth,
                keys: self.keys.clone(),
                writer: self.writer.clone(),
                max_form_bytes: server.max_form_bytes,
                pace,
            }))
            .boxed();
        // Outside the gate: a browser's preflight is answered without a key or a body.
        let cors = &self.config.cors;
        let endpoint = if cors.allowed_origins.is_empty() {
            endpoint
        } else {
            endpoint
                .with(Cors::new().allow_origins(cors.allowed_origins.iter().cloned()))
                .boxed()
        };
        let activity = self.activity.clone();
        endpoint
            .catch_all_error(api::error_to_json)
            .with(CatchPanic::new().with_handler(api::panic_to_json))
            .around(api::fhir_outcomes)
            // Outermost, so every answer is counted: shed uploads, 429s and 404s included.
            .around(move |ep, req| {
                let activity = activity.clone();
                async move {
                    let started = std::time::Instant::now();
                    let route = telemetry::route_label(req.uri().path());
                    let method = req.method().clone();
                    let upload = api::is_upload(req.uri().path());
                    let response = ep.get_response(req).await;
                    if upload {
                        activity.request();
                    }
                    telemetry::http_request(
                        route,
                        method.as_str(),
                        response.status().as_u16(),
                        started.elapsed(),
                    );
                    Ok(response)
                }
            })
            .boxed()
    }

    /// Stops the background tasks — the writer first, committing what it holds — and closes
    /// the pool. Undelivered alert notifications stay in the outbox for the next start.
    pub async fn close(self) {
        self.feed_task.shutdown().await;
        self.housekeeping_task.shutdown().await;
        if let Some(watch) = self.replica_watch {
            watch.shutdown().await;
        }
        self.writer_tasks.shutdown().await;
        self.keys_task.shutdown().await;
        self.binding_watch.shutdown().await;
        self.export_tasks.shutdown().await;
        self.activity_task.shutdown().await;
        self.monitor_task.shutdown().await;
        if let Some(task) = self.outbox_task {
            task.shutdown().await;
        }
        if let Err(err) = self.store.connection().clone().close().await {
            tracing::warn!(error = %err, "Closing the database pool failed.");
        }
    }

    /// Serves on `listener` until `shutdown` completes; drains first when it says so
    /// ([`Stop::Drain`]: `server.drain_secs` more of serving, every answer closing its
    /// connection). Then it stops accepting, finishes the requests of the connections it
    /// took (up to 30 s), stops the writer once it committed what is queued, and closes the
    /// database pool.
    pub async fn serve(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = Stop>,
    ) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        info!(address = %listener.local_addr()?, "Listening.");
        let feed = self.dashboard.feed.clone();
        // Open dashboards hold streams: end them so the connections can close. The writer
        // goes on committing until the last request is answered (`close`, below, stops it):
        // an upload read after the drain is stored, not refused.
        let stopping = move || feed.stop();
        server::serve(
            listener,
            self.endpoint(),
            &self.config.server,
            shutdown,
            stopping,
            SHUTDOWN_GRACE,
        )
        .await;
        info!("HTTP server stopped; draining the writer.");
        self.close().await;
        Ok(())
    }
}
