//! ljwx-bigscreen: ingest service for smartwatch health data.
//!
//! Watches POST batches of vital signs; the service validates them, maps each device to its
//! wearer, stores them durably in SQL (SQLite, MySQL/MariaDB or PostgreSQL) and answers
//! `accepted` only once they are committed.
//!
//! # Layout, in layers
//! Each module uses only those of the layers below it (and of its own), never one above:
//! no two modules depend on each other.
//!
//! 1. [`domain`] — the types and rules every layer shares: the sample and its wearer, device
//!    serials, the vital signs, alert levels, statuses, rules and episodes, batch results,
//!    device keys, trace stages. It imports nothing else of the crate.
//! 2. [`config`] — the one typed configuration (defaults < `bigscreen.toml` < `LJWX_*` env);
//!    [`zone`] — which calendar day "today" is; [`telemetry`] — logging, OTLP export,
//!    Prometheus metrics, W3C trace context and the recent-trace store; [`redis`] — the
//!    optional Redis (node or cluster) shared by the cache and counters; [`monitor`] — host
//!    and process CPU, memory, disk and network, sampled periodically; [`interop`] — samples as
//!    FHIR R4 resources and Open mHealth data points.
//! 3. [`store`] — every SQL statement: the group commit, lookups, statistics, keys, sessions,
//!    the health table's monthly partitions.
//! 4. [`devices`] — device → wearer mapping cache (L1 quick_cache, L2 Redis, L3 SQL), the
//!    bindings import, device keys; [`alerts`] — the alert engine and its notification outbox;
//!    [`access`] — who may do what: client addresses behind proxies, the admin token, the
//!    dashboard password and sessions; [`housekeeping`] — keeping the monthly partitions and
//!    deleting side-table rows past their retention, one instance at a time; [`exports`] —
//!    planning FHIR Bulk Data exports.
//! 5. [`ingest`] — body → records (lenient per record) → validation → the upload pipeline and
//!    its group-commit writer; [`health`] — the components as `/api/health` and the
//!    dashboard report them.
//! 6. [`api`] — poem-openapi endpoints, wire types and the edge gate; maps domain errors to
//!    status codes; [`dashboard`] — the supervisor dashboard: pages, live feed, login.
//! 7. [`app`] — wiring: open and migrate storage, build the pipeline, serve HTTP.
//!
//! # Data flow
//! `POST /upload_health_data_batch` → [`api::UploadApi`] reads the body within its limit →
//! [`ingest::parse_batch`] → [`ingest::Ingest::upload`] validates each record, answers a
//! known `batchId` from the batch log, resolves devices through [`devices::DeviceDirectory`],
//! and commits samples, quarantine, daily counters and the batch record in one transaction
//! through the group-commit writer ([`ingest::Writer`], [`store::Store::commit_group`]) before
//! the response is sent. The same transaction raises the alerts the newly stored samples
//! call for ([`domain::rules`], [`domain::episode`]) and queues their notifications, which
//! the outbox task of [`alerts`] delivers.

pub mod access;
pub mod alerts;
pub mod api;
pub mod app;
pub mod config;
pub mod dashboard;
pub mod devices;
pub mod domain;
pub mod exports;
pub mod health;
pub mod housekeeping;
pub mod ingest;
pub mod interop;
pub mod monitor;
pub mod redis;
pub mod store;
pub mod telemetry;
pub mod zone;

pub use app::App;
pub use config::Config;
