//! The HTTP API: poem-openapi endpoints, their wire types, and the OpenAPI document.

mod admin;
mod alerts;
pub mod body;
mod errors;
mod gate;
mod keys;
mod limit;
mod metrics;
mod payload;
mod status;
mod traces;
mod upload;
pub mod wire;

pub use admin::Observers;
pub use alerts::AlertsApi;
pub use errors::{error_to_json, panic_to_json};
pub use gate::{Gate, GateConfig, body_timeout, is_upload};
pub use keys::KeysApi;
pub use limit::UploadRateLimit;
pub use metrics::{MetricsSources, scrape};
pub use payload::UploadBodies;
pub use status::StatusApi;
pub use traces::TracesApi;
pub use upload::{BYTES_PER_RECORD, DeviceCredential, DeviceKeyAuth, UploadApi, overloaded};

use poem_openapi::{OpenApiService, Tags};

/// Groups of endpoints in the OpenAPI document.
#[derive(Tags)]
pub enum ApiTags {
    /// Health data uploads from watches and gateways.
    Upload,
    /// Service health and statistics.
    Status,
    /// Health alerts and their lifecycle (admin token required).
    Alerts,
    /// Where recent uploads spent their time (admin token or dashboard session).
    Traces,
    /// Device keys and gateway keys (admin token required).
    Keys,
}

/// The documented API.
pub type ApiService = OpenApiService<(UploadApi, StatusApi, AlertsApi, TracesApi, KeysApi), ()>;

/// Title of the OpenAPI document.
pub const TITLE: &str = "LJWX BigScreen API";

/// Assembles the documented API from its parts.
pub fn service(
    upload: UploadApi,
    status: StatusApi,
    alerts: AlertsApi,
    traces: TracesApi,
    keys: KeysApi,
) -> ApiService {
    OpenApiService::new(
        (upload, status, alerts, traces, keys),
        TITLE,
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Ingest of smartwatch health data. Devices upload batches of samples; a sample is \
         acknowledged (`status: accepted`) only after it is committed to the database. \
         Error bodies are JSON `{\"error\", \"message\", \"details\"}`.",
    )
}
