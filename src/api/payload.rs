//! The upload request body: documented as JSON of type `T`, read by us.
//!
//! poem-openapi's `Json<T>` would fail the whole request on the first wrong field and would
//! answer a missing `Content-Type` with 415. Devices must not lose a batch to either, so the
//! body is read here as bytes (within the size limit, at the server's minimum pace and
//! within the read budget, with or without a content type) and parsed by [`crate::ingest`],
//! while the OpenAPI document still shows the schema of `T`.

use super::body::{self, BodyError, Pace, ReadBody, ReadBudget};
use crate::ingest::IngestError;
use crate::ingest::WriteError;
use futures_util::StreamExt;
use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use std::marker::PhantomData;
use std::time::Instant;

/// How upload bodies are read; request data of the upload routes.
#[derive(Debug, Clone)]
pub struct UploadBodies {
    /// Largest body, in bytes (`ingest.max_body_bytes`).
    pub max_bytes: usize,
    /// The pace a body must keep.
    pub pace: Pace,
    /// Room for bodies being received.
    pub budget: ReadBudget,
}

/// A JSON upload body, documented as `T`.
pub struct JsonUpload<T> {
    /// The raw body, or why it could not be read (too large, too slow, unreadable).
    pub body: Result<ReadBody, IngestError>,
    /// When reading the request began, for `processing_time_ms`.
    pub started: Instant,
    /// When the body was read.
    pub read: Instant,
    _schema: PhantomData<fn() -> T>,
}

impl<T: Type> Payload for JsonUpload<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(_content_type: &str) -> bool {
        // Firmware sends what it sends; the body is JSON whatever the header claims.
        true
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> ParsePayload for JsonUpload<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let started = Instant::now();
        let body = match (request.data::<UploadBodies>(), body.take()) {
            (Some(rules), Ok(body)) => {
                let limit = rules.max_bytes;
                // Up to the limit again is read and dropped before a 413 (see `body::read`).
                body::read(
                    body,
                    limit,
                    limit.saturating_mul(2),
                    rules.pace,
                    Some(&rules.budget),
                )
                .await
                .map_err(|err| match err {
                    BodyError::TooLarge => IngestError::BodyTooLarge { limit },
                    BodyError::TooSlow => IngestError::BodyTimeout,
                    BodyError::Busy => IngestError::Write(WriteError::Overloaded),
                    BodyError::Broken => unreadable(),
                })
            }
            _ => Err(unreadable()),
        };
        Ok(Self {
            body,
            started,
            read: Instant::now(),
            _schema: PhantomData,
        })
    }
}

/// Most bytes of a refused request's body read (and dropped) before answering.
const DISCARD_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Longest time spent reading a refused request's body.
const DISCARD_MAX_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads `body` to its end and drops it, within [`DISCARD_MAX_BYTES`] and
/// [`DISCARD_MAX_TIME`] (beyond them the connection is closed with the answer). Reading is
/// cheap next to parsing: the CPU an overloaded server saves by refusing early is kept.
pub async fn discard_body(body: poem::Body) {
    let mut stream = body.into_bytes_stream();
    let mut seen = 0usize;
    let drain = async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen = seen.saturating_add(chunk.len());
            if seen > DISCARD_MAX_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_MAX_TIME, drain).await;
}

fn unreadable() -> IngestError {
    IngestError::InvalidRequest("the request body could not be read".to_owned())
}

impl<'a, T: Type> ApiExtractor<'a> for JsonUpload<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        <Self as ParsePayload>::from_request(request, body).await
    }
}
