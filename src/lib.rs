//! ljwx-bigscreen: ingest service for smartwatch health data.
//!
//! Watches POST batches of vital signs; the service validates them, maps each device to its
//! wearer, stores them durably in SQL (SQLite, MySQL/MariaDB or PostgreSQL) and answers
//! `accepted` only once they are committed.
//!
//! # Layout
//! - [`access`] — who may do what: client addresses behind proxies, the admin token, the
//!   dashboard password and sessions.
//! - [`alerts`] — health alert rules, one alert per episode, the notification outbox.
//! - [`config`] — the one typed configuration (defaults < `bigscreen.toml` < `LJWX_*` env).
//! - [`app`] — wiring: open and migrate storage, build the pipeline, serve HTTP.
//! - [`api`] — poem-openapi endpoints and wire types; maps domain errors to status codes.
//! - [`ingest`] — body → records (lenient per record) → validation → the upload pipeline.
//! - [`dashboard`] — the supervisor dashboard: pages, live feed, login.
//! - [`devices`] — device → wearer mapping cache (L1 moka, L2 Redis, L3 SQL) and the bindings
//!   file import.
//! - [`monitor`] — host and process CPU, memory, disk and network, sampled periodically.
//! - [`redis`] — the optional Redis (node or cluster) shared by the cache and counters.
//! - [`store`] — every SQL statement: the batch commit, lookups, statistics.
//! - [`telemetry`] — logging and Prometheus metrics.
//! - [`zone`] — which calendar day "today" is.
//!
//! # Data flow
//! `POST /upload_health_data_batch` → [`api::UploadApi`] reads the body within its limit →
//! [`ingest::parse_batch`] → [`ingest::Ingest::upload`] validates each record, answers a
//! known `batchId` from the batch log, resolves devices through [`devices::DeviceDirectory`],
//! and commits samples, quarantine, daily counters and the batch record in one transaction
//! through the group-commit writer ([`ingest::Writer`], [`store::Store::commit_group`]) before
//! the response is sent. The same transaction raises the alerts the newly stored samples
//! call for ([`alerts`]) and queues their notifications, which the outbox task delivers.

pub mod access;
pub mod alerts;
pub mod api;
pub mod app;
pub mod config;
pub mod dashboard;
pub mod devices;
pub mod error;
pub mod ingest;
pub mod monitor;
pub mod redis;
pub mod store;
pub mod telemetry;
pub mod zone;

pub use app::App;
pub use config::Config;
