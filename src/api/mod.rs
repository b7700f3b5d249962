//! The HTTP API: poem-openapi endpoints, their wire types, and the OpenAPI document.

mod admin;
mod alerts;
mod bindings;
pub mod body;
mod errors;
mod fhir;
mod fhir_export;
mod fhir_search;
mod gate;
mod keys;
mod limit;
mod metrics;
mod omh;
mod payload;
mod read;
mod samples;
mod status;
mod traces;
mod upload;
pub mod wire;

pub use admin::Observers;
pub use alerts::AlertsApi;
pub use bindings::BindingsApi;
pub use errors::{error_to_json, panic_to_json};
pub use fhir::{FhirApi, outcomes as fhir_outcomes};
pub use fhir_export::ExportApi;
pub use gate::{Gate, GateConfig, body_timeout, is_upload};
pub use keys::KeysApi;
pub use limit::UploadRateLimit;
pub use metrics::{MetricsSources, scrape};
pub use omh::OmhApi;
pub use payload::UploadBodies;
pub use samples::SamplesApi;
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
    /// What the watches wrote: samples of a device or a wearer, the latest sample, hourly and
    /// daily summaries (admin token or read token).
    Samples,
    /// Which wearer a watch is bound to; binding and unbinding (reading: admin or read token;
    /// changing: admin token).
    Bindings,
    /// FHIR R4: vital-signs Observations, search, Bulk Data export (admin or read token).
    Fhir,
}

/// The documented API.
pub type ApiService = OpenApiService<
    (
        UploadApi,
        StatusApi,
        AlertsApi,
        TracesApi,
        KeysApi,
        SamplesApi,
        BindingsApi,
        OmhApi,
        FhirApi,
        ExportApi,
    ),
    (),
>;

/// The parts of the documented API.
pub struct ApiParts {
    /// Uploads.
    pub upload: UploadApi,
    /// Health and statistics.
    pub status: StatusApi,
    /// Alerts.
    pub alerts: AlertsApi,
    /// Traces.
    pub traces: TracesApi,
    /// Device keys.
    pub keys: KeysApi,
    /// Samples.
    pub samples: SamplesApi,
    /// Bindings.
    pub bindings: BindingsApi,
    /// Open mHealth.
    pub omh: OmhApi,
    /// FHIR.
    pub fhir: FhirApi,
    /// FHIR Bulk Data export.
    pub export: ExportApi,
}

/// Title of the OpenAPI document.
pub const TITLE: &str = "LJWX BigScreen API";

/// Assembles the documented API from its parts.
pub fn service(parts: ApiParts) -> ApiService {
    let ApiParts {
        upload,
        status,
        alerts,
        traces,
        keys,
        samples,
        bindings,
        omh,
        fhir,
        export,
    } = parts;
    OpenApiService::new(
        (
            upload, status, alerts, traces, keys, samples, bindings, omh, fhir, export,
        ),
        TITLE,
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Ingest of smartwatch health data. Devices upload batches of samples; a sample is \
         acknowledged (`status: accepted`) only after it is committed to the database. \
         Error bodies are JSON `{\"error\", \"message\", \"details\"}`.",
    )
}
