//! `POST /upload_health_data_batch` and `POST /upload_health_data` (DESIGN §2).

use super::ApiTags;
use super::payload::{JsonUpload, discard_body};
use super::wire::{BatchDoc, ErrorBody, HealthDataDoc, UploadResult};
use crate::domain::{DeviceKey, Stage};
use crate::ingest::IngestError;
use crate::ingest::{Ingest, Upload, WriteError, parse_batch, parse_single};
use crate::store::StoreError;
use crate::telemetry::traces::{RequestTrace, TraceStore};
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, SecurityScheme};
use std::time::Instant;
use tracing::{error, warn};

/// Seconds a client is told to wait when storage is unavailable or the server restarts.
const RETRY_AFTER_SECS: u32 = 5;
/// Seconds a client is told to wait when the writer queue is full.
const OVERLOADED_RETRY_AFTER_SECS: u32 = 1;

/// The device upload endpoints.
pub struct UploadApi {
    ingest: Ingest,
    max_records: usize,
    traces: TraceStore,
}

impl UploadApi {
    /// Endpoints running uploads through `ingest`, accepting at most `max_records` per batch,
    /// keeping each request's trace in `traces`.
    pub fn new(ingest: Ingest, max_records: usize, traces: TraceStore) -> Self {
        Self {
            ingest,
            max_records,
            traces,
        }
    }

    /// Runs one upload: read body → parse → the pipeline, inside the request's span, and
    /// keeps its trace.
    async fn run(
        &self,
        req: &Request,
        body: JsonUpload<impl Send>,
        route: &'static str,
        parse: impl FnOnce(&[u8]) -> Result<Upload, IngestError> + Send,
    ) -> UploadResponse {
        // Set by the tracing middleware; the handler runs inside its span.
        let mut trace = req
            .extensions()
            .get::<RequestTrace>()
            .cloned()
            .unwrap_or_else(|| RequestTrace::start(route, None));
        let span = trace.span.clone();
        let key = req.extensions().get::<DeviceKey>();
        let work = async {
            trace.stage(Stage::Admission, trace.arrived, body.started);
            trace.stage(Stage::Read, body.started, body.read);
            // Parsing and committing hold one of the writer's upload slots; reading did not,
            // so slow senders never keep an upload that has arrived from its slot.
            let waiting = Instant::now();
            let slot = match body.body {
                Ok(read) => match self.ingest.slot().await {
                    Some(slot) => Ok((read, slot)),
                    None => Err(IngestError::Write(WriteError::Overloaded)),
                },
                Err(err) => Err(err),
            };
            trace.stage(Stage::Slot, waiting, Instant::now());
            let upload = slot.and_then(|(read, slot)| {
                let parsing = Instant::now();
                let upload = tracing::info_span!("parse", bytes = read.bytes.len())
                    .in_scope(|| parse(&read.bytes));
                trace.stage(Stage::Parse, parsing, Instant::now());
                upload.map(|upload| (upload, slot))
            });
            let records = upload.as_ref().map_or(0, |(u, _)| u.records.len());
            let result = match upload {
                Ok((upload, _slot)) => {
                    self.ingest
                        .upload(upload, key, body.started, &mut trace)
                        .await
                }
                Err(err) => Err(err),
            };
            let batch_id = result.as_ref().ok().map(|r| r.batch.batch_id.clone());
            let response = respond(result);
            let status = response_status(&response);
            span.record("records", records);
            span.record("http.response.status_code", status);
            if let Some(id) = &batch_id {
                span.record("batch_id", id.as_str());
            }
            (response, batch_id, status, records)
        };
        let (response, batch_id, status, records) = work.await;
        self.traces.record(trace.finish(
            batch_id,
            status,
            u32::try_from(records).unwrap_or(u32::MAX),
        ));
        response
    }
}

/// A device key or gateway key (`devices.auth`), as `Authorization: Bearer ljwx_…`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "ljwx_ and 64 hex digits")]
pub struct DeviceKeyAuth(pub Bearer);

/// The upload's key, when it sends one. The edge has checked it already (`api::gate`): this
/// only tells the OpenAPI document that uploads may carry one.
#[derive(SecurityScheme)]
pub enum DeviceCredential {
    /// A device or gateway key.
    Key(DeviceKeyAuth),
    /// No key (accepted while `devices.auth` is `off` or `optional`).
    #[oai(fallback)]
    None,
}

/// Answers of the upload endpoints.
#[derive(ApiResponse)]
pub enum UploadResponse {
    /// Every valid record is committed (stored, a duplicate, or quarantined); rejected
    /// records are counted and listed in `error_details`.
    #[oai(status = 200)]
    Accepted(
        Json<UploadResult>,
        /// `true` when the same batch (its `batchId` and records) was committed before and
        /// this is the first result (nothing was written now).
        #[oai(header = "Idempotent-Replayed")]
        bool,
    ),
    /// Malformed JSON (`malformed_json`, with line and column), a body of the wrong shape
    /// (`invalid_request`), an empty batch (`empty_batch`), or no valid record
    /// (`no_valid_records`, with the reasons in `details`). Nothing was stored.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// With device keys on (`devices.auth`): the key is missing (when required), unknown or
    /// revoked (`unauthorized`). Nothing was stored.
    #[oai(status = 401)]
    Unauthorized(
        Json<ErrorBody>,
        /// `Bearer`, and `error="invalid_token"` when a key was sent.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// The body arrived slower than the server's minimum pace and was cut off
    /// (`body_timeout`). Nothing was stored; the connection is closed.
    #[oai(status = 408)]
    RequestTimeout(
        Json<ErrorBody>,
        /// `close`.
        #[oai(header = "Connection")]
        String,
    ),
    /// Body larger than the limit (default 10 MiB, `body_too_large`) or more records than the
    /// limit (default 10 000, `too_many_records`). Nothing was stored.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// This client sent more uploads than the per-client rate limit allows
    /// (`rate_limited`, when `rate_limit.enabled`). Nothing was stored; retry after
    /// `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(
        Json<ErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u64,
    ),
    /// An unexpected server error. Nothing was stored; the detail is in the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Storage is unavailable (`storage_unavailable`), the writer queue is full
    /// (`overloaded`), or the server is restarting (`shutting_down`). Nothing was stored;
    /// retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u32,
    ),
}

#[OpenApi(tag = "ApiTags::Upload")]
impl UploadApi {
    /// Upload a batch of health samples
    ///
    /// Validates every record on its own, maps each device to its wearer, stores the samples
    /// and answers `accepted` only after they are committed. A record with a missing or
    /// invalid `deviceSn` or `timestamp`, or a field of the wrong JSON type, is rejected and
    /// listed in `error_details`; the other records are still stored. Re-sent samples (same
    /// `deviceSn` and `timestamp`) are counted as `duplicates`, not stored twice. Samples of
    /// devices bound to no user are kept in quarantine and counted as `unknown_device`.
    ///
    /// A W3C `traceparent` request header is continued; the response names the trace in
    /// `trace_id` and in its own `traceparent` header. With device keys on
    /// (`devices.auth`), the upload carries `Authorization: Bearer <key>`, and records of
    /// devices the key does not cover are rejected (`deviceSn: not allowed for this key`).
    ///
    /// The same `batchId` with the same records is a retry: the first result is answered
    /// (`Idempotent-Replayed: true`) and nothing is written. Other records under a `batchId`
    /// used before are stored as a new batch, and `error_details` says so first.
    #[oai(path = "/upload_health_data_batch", method = "post")]
    async fn upload_batch(
        &self,
        req: &Request,
        _key: DeviceCredential,
        body: JsonUpload<BatchDoc>,
    ) -> UploadResponse {
        let max_records = self.max_records;
        self.run(req, body, "/upload_health_data_batch", |bytes| {
            parse_batch(bytes, max_records)
        })
        .await
    }

    /// Upload one health sample
    ///
    /// The single-record form kept for older firmware: the body is one `HealthData` object,
    /// processed as a batch of one with a generated batch id.
    #[oai(path = "/upload_health_data", method = "post")]
    async fn upload_one(
        &self,
        req: &Request,
        _key: DeviceCredential,
        body: JsonUpload<HealthDataDoc>,
    ) -> UploadResponse {
        self.run(req, body, "/upload_health_data", parse_single)
            .await
    }
}

/// Bytes of JSON per record, as the seed's firmware sends them (about 250): the writer room
/// an upload needs is estimated from its `Content-Length` before the body is read.
pub const BYTES_PER_RECORD: usize = 250;

/// The 503 for an upload the writer has no room for, answered before parsing its body.
///
/// The body is read and discarded first (see [`discard_body`]): closing a connection with
/// unread request data makes TCP reset it, and the reset can destroy the 503 before the
/// client has read it — the client would see a broken connection instead of `Retry-After`.
pub async fn overloaded(req: poem::Request) -> poem::Response {
    use poem::IntoResponse;
    discard_body(req.into_body()).await;
    poem::web::Json(ErrorBody::overloaded())
        .with_status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
        .with_header("Retry-After", OVERLOADED_RETRY_AFTER_SECS)
        .into_response()
}

/// 503 while storage is unavailable.
pub(super) fn storage_unavailable() -> UploadResponse {
    UploadResponse::Unavailable(
        Json(ErrorBody::new(
            "storage_unavailable",
            "storage is temporarily unavailable; nothing was stored, retry later",
        )),
        RETRY_AFTER_SECS,
    )
}

/// The status code an answer carries.
fn response_status(response: &UploadResponse) -> u16 {
    match response {
        UploadResponse::Accepted(..) => 200,
        UploadResponse::BadRequest(_) => 400,
        UploadResponse::Unauthorized(..) => 401,
        UploadResponse::RequestTimeout(..) => 408,
        UploadResponse::PayloadTooLarge(_) => 413,
        UploadResponse::TooManyRequests(..) => 429,
        UploadResponse::Internal(_) => 500,
        UploadResponse::Unavailable(..) => 503,
    }
}

fn respond(result: Result<crate::ingest::BatchResult, IngestError>) -> UploadResponse {
    use UploadResponse as R;
    let err = match result {
        Ok(batch) => {
            let replayed = batch.replayed;
            return R::Accepted(Json(batch.into()), replayed);
        }
        Err(err) => err,
    };
    let bad = |code: &str, message: String| R::BadRequest(Json(ErrorBody::new(code, message)));
    match err {
        IngestError::MalformedJson(message) => bad("malformed_json", message),
        IngestError::InvalidRequest(message) => bad("invalid_request", message),
        IngestError::EmptyBatch => bad("empty_batch", "`data` has no records".to_owned()),
        IngestError::NoValidRecords { details } => R::BadRequest(Json(ErrorBody {
            error: "no_valid_records".to_owned(),
            message: "no record in the batch is valid; nothing was stored".to_owned(),
            details,
        })),
        IngestError::BodyTooLarge { limit } => R::PayloadTooLarge(Json(ErrorBody::new(
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        ))),
        IngestError::BodyTimeout => R::RequestTimeout(
            Json(ErrorBody::new(
                "body_timeout",
                "the request body arrived too slowly; nothing was stored",
            )),
            "close".to_owned(),
        ),
        IngestError::TooManyRecords { count, limit } => R::PayloadTooLarge(Json(ErrorBody::new(
            "too_many_records",
            format!("the batch has {count} records; at most {limit} are accepted per request"),
        ))),
        IngestError::Store(StoreError::Unavailable(err)) => {
            warn!(error = %err, "Storage unavailable; upload answered 503.");
            storage_unavailable()
        }
        IngestError::Write(WriteError::Failed { unavailable: true }) => storage_unavailable(),
        IngestError::Write(WriteError::Failed { unavailable: false }) => R::Internal(Json(
            ErrorBody::new("internal", "internal server error; nothing was stored"),
        )),
        IngestError::Write(WriteError::Overloaded) => {
            R::Unavailable(Json(ErrorBody::overloaded()), OVERLOADED_RETRY_AFTER_SECS)
        }
        IngestError::Write(WriteError::Stopped) => R::Unavailable(
            Json(ErrorBody::new(
                "shutting_down",
                "the server is restarting; nothing was stored, retry later",
            )),
            RETRY_AFTER_SECS,
        ),
        IngestError::Store(StoreError::Database(err)) => {
            error!(error = %err, "Upload failed in storage; nothing was stored.");
            R::Internal(Json(ErrorBody::new(
                "internal",
                "internal server error; nothing was stored",
            )))
        }
    }
}
