//! FHIR Bulk Data export (https://hl7.org/fhir/uv/bulkdata/export.html): the system-level and
//! patient-level `$export` kick-offs, the status URL they answer with (polled: 202 with
//! `X-Progress` and `Retry-After` while planning, then the manifest; `DELETE` cancels), and
//! the NDJSON files, streamed from the database a chunk of samples at a time.

use super::ApiTags;
use super::fhir::{Fhir, FhirError, base_url};
use super::read::ReadToken;
use crate::access::Admin;
use crate::domain::Vital;
use crate::exports::Exports;
use crate::interop::fhir::{self, OperationOutcome, instant};
use crate::store::{ExportStatus, SampleKey, SampleOwner, SampleQuery, Store};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tracing::error;

/// The NDJSON media type of the files.
pub const FHIR_NDJSON: &str = "application/fhir+ndjson";
/// Samples read per query while a file streams.
const CHUNK_SAMPLES: u64 = 1000;
/// A planning job that has not moved for this long lost its instance.
const STALE_SECS: i64 = 60;

/// An NDJSON file of FHIR resources, one per line.
pub struct Ndjson(pub poem::Body);

impl Payload for Ndjson {
    const CONTENT_TYPE: &'static str = FHIR_NDJSON;

    fn schema_ref() -> MetaSchemaRef {
        let line = super::fhir::example_observation()
            .and_then(|o| serde_json::to_string(&o).ok())
            .unwrap_or_default();
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            ty: "string",
            description: Some("FHIR R4 Observations, one JSON object per line."),
            example: Some(serde_json::Value::String(format!("{line}\n"))),
            ..MetaSchema::ANY
        }))
    }
}

impl poem::IntoResponse for Ndjson {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type(FHIR_NDJSON)
            .body(self.0)
    }
}

/// A file of the manifest.
#[derive(Object)]
pub struct ManifestFile {
    /// The resource type of its lines.
    #[oai(rename = "type")]
    pub kind: String,
    /// Where to fetch it (with the same bearer token).
    pub url: String,
}

/// The manifest of a finished export.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct Manifest {
    /// Samples stored up to this instant are in the export.
    pub transaction_time: String,
    /// The kick-off request.
    pub request: String,
    /// The files need the bearer token of the kick-off.
    pub requires_access_token: bool,
    /// The NDJSON files.
    pub output: Vec<ManifestFile>,
    /// Files of errors (none: an export either completes or fails as a whole).
    pub error: Vec<ManifestFile>,
}

impl Example for Manifest {
    fn example() -> Self {
        Self {
            transaction_time: "2026-12-05T08:00:00Z".to_owned(),
            request: "https://bigscreen.example/fhir/$export?_type=Observation".to_owned(),
            requires_access_token: true,
            output: vec![ManifestFile {
                kind: "Observation".to_owned(),
                url: "https://bigscreen.example/fhir/$export-file/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/1"
                    .to_owned(),
            }],
            error: Vec::new(),
        }
    }
}

/// Answers of a kick-off.
#[derive(ApiResponse)]
pub enum KickOffResponse {
    /// Accepted: poll the `Content-Location` URL for its progress and manifest.
    #[oai(status = 202)]
    Accepted(#[oai(header = "Content-Location")] String),
}

/// Answers of a status poll.
#[derive(ApiResponse)]
pub enum StatusResponse {
    /// Still planning: `X-Progress` says how far; poll again after `Retry-After` seconds.
    #[oai(status = 202)]
    InProgress(
        #[oai(header = "X-Progress")] String,
        #[oai(header = "Retry-After")] u64,
    ),
    /// Done: the manifest.
    #[oai(status = 200)]
    Complete(Json<Manifest>),
}

/// Answers of a cancellation.
#[derive(ApiResponse)]
pub enum CancelResponse {
    /// Cancelled: its status and files are gone.
    #[oai(status = 202)]
    Accepted,
}

/// Answers of a file.
#[derive(ApiResponse)]
pub enum FileResponse {
    /// The file, streamed.
    #[oai(status = 200)]
    Ok(Ndjson),
}

/// Bulk export endpoints.
pub struct ExportApi {
    store: Store,
    exports: Exports,
    admin: Admin,
    public_url: Option<String>,
}

impl ExportApi {
    /// Export endpoints over `store`, planning through `exports`.
    pub fn new(store: Store, exports: Exports, admin: Admin, public_url: Option<String>) -> Self {
        Self {
            store,
            exports,
            admin,
            public_url,
        }
    }

    async fn kick_off(
        &self,
        req: &Request,
        prefer: Option<String>,
        output_format: Option<String>,
        since: Option<String>,
        types: Option<String>,
    ) -> Result<KickOffResponse, FhirError> {
        if !prefer.as_deref().is_some_and(|p| {
            p.split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("respond-async"))
        }) {
            return Err(FhirError::invalid(
                "Prefer: respond-async is required (the export runs asynchronously)",
            ));
        }
        if let Some(format) = output_format.as_deref().filter(|f| !f.is_empty())
            && !matches!(
                format,
                "application/fhir+ndjson" | "application/ndjson" | "ndjson"
            )
        {
            return Err(FhirError::invalid(format!(
                "_outputFormat: {format:?} is not offered (application/fhir+ndjson)"
            )));
        }
        if let Some(types) = types.as_deref().filter(|t| !t.is_empty())
            && let Some(other) = types
                .split(',')
                .map(str::trim)
                .find(|t| *t != "Observation")
        {
            return Err(FhirError::BadRequest(Fhir(OperationOutcome::error(
                "not-supported",
                format!("_type: {other} is not exported; this server exports Observation"),
            ))));
        }
        let since = match since.as_deref().filter(|s| !s.is_empty()) {
            Some(text) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        FhirError::invalid(format!("_since: {text:?} is not a FHIR instant"))
                    })?,
            ),
            None => None,
        };
        let base = base_url(self.public_url.as_deref(), req);
        let request = format!("{base}{}", req.uri());
        let job = self.exports.kick_off(&request, since).await?;
        Ok(KickOffResponse::Accepted(format!(
            "{base}/fhir/$export-status/{job}"
        )))
    }
}

#[OpenApi(tag = "ApiTags::Fhir")]
impl ExportApi {
    /// Bulk export (system)
    ///
    /// Starts an export of every Observation (`Prefer: respond-async` required; `_since`: only
    /// samples stored from then on; `_type=Observation`). Answers 202 with the status URL in
    /// `Content-Location`.
    #[oai(path = "/fhir/$export", method = "get")]
    async fn export_system(
        &self,
        req: &Request,
        auth: ReadToken,
        /// Must hold `respond-async`.
        #[oai(name = "Prefer")]
        prefer: Header<Option<String>>,
        /// `application/fhir+ndjson` (the default and only format).
        #[oai(name = "_outputFormat")]
        output_format: Query<Option<String>>,
        /// FHIR instant: only resources stored from then on.
        #[oai(name = "_since")]
        since: Query<Option<String>>,
        /// Resource types: `Observation`.
        #[oai(name = "_type")]
        types: Query<Option<String>>,
    ) -> Result<KickOffResponse, FhirError> {
        auth.check(&self.admin)?;
        self.kick_off(req, prefer.0, output_format.0, since.0, types.0)
            .await
    }

    /// Bulk export (patients)
    ///
    /// Starts an export of the Observations of every patient (every wearer); as the system
    /// export, since every stored sample belongs to a wearer.
    #[oai(path = "/fhir/Patient/$export", method = "get")]
    async fn export_patients(
        &self,
        req: &Request,
        auth: ReadToken,
        /// Must hold `respond-async`.
        #[oai(name = "Prefer")]
        prefer: Header<Option<String>>,
        /// `application/fhir+ndjson` (the default and only format).
        #[oai(name = "_outputFormat")]
        output_format: Query<Option<String>>,
        /// FHIR instant: only resources stored from then on.
        #[oai(name = "_since")]
        since: Query<Option<String>>,
        /// Resource types: `Observation`.
        #[oai(name = "_type")]
        types: Query<Option<String>>,
    ) -> Result<KickOffResponse, FhirError> {
        auth.check(&self.admin)?;
        self.kick_off(req, prefer.0, output_format.0, since.0, types.0)
            .await
    }

    /// Bulk export status
    ///
    /// 202 with `X-Progress` and `Retry-After` while the export is planned, then 200 with the
    /// manifest; 404 for an unknown or cancelled export; 500 with an OperationOutcome when it
    /// failed.
    #[oai(path = "/fhir/$export-status/:job", method = "get")]
    async fn status(
        &self,
        req: &Request,
        auth: ReadToken,
        /// The export.
        job: Path<String>,
    ) -> Result<StatusResponse, FhirError> {
        auth.check(&self.admin)?;
        let missing = || FhirError::not_found(format!("no export {}", job.0));
        let export = self.store.export(&job.0).await?.ok_or_else(missing)?;
        let stale = (Utc::now() - export.update_time).num_seconds() > STALE_SECS;
        match export.status {
            ExportStatus::Planning if !stale => {
                let percent = if export.parts_total > 0 {
                    export.parts_done * 100 / export.parts_total
                } else {
                    0
                };
                Ok(StatusResponse::InProgress(
                    format!(
                        "{percent}% ({} of {} parts counted)",
                        export.parts_done, export.parts_total
                    ),
                    1,
                ))
            }
            ExportStatus::Planning | ExportStatus::Failed => {
                Err(FhirError::Internal(Fhir(OperationOutcome::error(
                    "exception",
                    export.error.unwrap_or_else(|| {
                        "the instance planning the export stopped; start it again".to_owned()
                    }),
                ))))
            }
            ExportStatus::Cancelled => Err(missing()),
            ExportStatus::Complete => {
                let base = base_url(self.public_url.as_deref(), req);
                Ok(StatusResponse::Complete(Json(Manifest {
                    transaction_time: instant(export.transaction_time),
                    request: export.request,
                    requires_access_token: true,
                    output: (1..=export.parts.len())
                        .map(|n| ManifestFile {
                            kind: "Observation".to_owned(),
                            url: format!("{base}/fhir/$export-file/{}/{n}", export.id),
                        })
                        .collect(),
                    error: Vec::new(),
                })))
            }
        }
    }

    /// Cancel a bulk export
    ///
    /// Stops the export (its planning, if under way); its status and files are gone.
    #[oai(path = "/fhir/$export-status/:job", method = "delete")]
    async fn cancel(
        &self,
        auth: ReadToken,
        /// The export.
        job: Path<String>,
    ) -> Result<CancelResponse, FhirError> {
        auth.check(&self.admin)?;
        if self.store.cancel_export(&job.0).await? {
            Ok(CancelResponse::Accepted)
        } else {
            Err(FhirError::not_found(format!("no export {}", job.0)))
        }
    }

    /// A bulk export file
    ///
    /// File `n` of the manifest: Observations as NDJSON, streamed from the database.
    #[oai(path = "/fhir/$export-file/:job/:n", method = "get")]
    async fn file(
        &self,
        auth: ReadToken,
        /// The export.
        job: Path<String>,
        /// The file's number in the manifest, from 1.
        n: Path<usize>,
    ) -> Result<FileResponse, FhirError> {
        auth.check(&self.admin)?;
        let missing = || FhirError::not_found(format!("no file {} of export {}", n.0, job.0));
        let export = self.store.export(&job.0).await?.ok_or_else(missing)?;
        if export.status != ExportStatus::Complete {
            return Err(missing());
        }
        let part =
            *n.0.checked_sub(1)
                .and_then(|i| export.parts.get(i))
                .ok_or_else(missing)?;
        let stream = part_lines(self.store.clone(), part, export.since);
        Ok(FileResponse::Ok(Ndjson(poem::Body::from_bytes_stream(
            stream,
        ))))
    }
}

/// The NDJSON lines of the samples of `part` (`(after, last]` by row id) stored since
/// `since`: a chunk of samples per query, each chunk one piece of the body.
fn part_lines(
    store: Store,
    part: (i64, i64),
    since: Option<DateTime<Utc>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let start = Some(part.0);
    futures_util::stream::unfold(start, move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            let mut query = SampleQuery::of(SampleOwner::All, CHUNK_SAMPLES);
            query.after = Some(SampleKey {
                timestamp: DateTime::UNIX_EPOCH,
                id: after,
            });
            query.last_id = Some(part.1);
            query.stored_since = since;
            match store.samples(&query).await {
                Ok(samples) if samples.is_empty() => None,
                Ok(samples) => {
                    let next = samples.last().map(|s| s.id);
                    let mut chunk = Vec::with_capacity(samples.len() * 1400);
                    for stored in &samples {
                        for observation in fhir::observations(stored, &Vital::ALL) {
                            if serde_json::to_writer(&mut chunk, &observation).is_ok() {
                                chunk.push(b'\n');
                            }
                        }
                    }
                    let more = samples.len() as u64 == CHUNK_SAMPLES;
                    Some((Ok(Bytes::from(chunk)), next.filter(|_| more)))
                }
                Err(err) => {
                    error!(error = %err, "Export file: reading samples failed; the file is cut short.");
                    Some((Err(std::io::Error::other("reading samples failed")), None))
                }
            }
        }
    })
}
