//! The upload request body: documented as JSON of type `T`, read by us.
//!
//! poem-openapi's `Json<T>` would fail the whole request on the first wrong field and would
//! answer a missing `Content-Type` with 415. Devices must not lose a batch to either, so the
//! body is read here as bytes (within the size limit, with or without a content type) and
//! parsed by [`crate::ingest`], while the OpenAPI document still shows the schema of `T`.

use crate::config::IngestConfig;
use crate::error::IngestError;
use poem::http::header::CONTENT_LENGTH;
use bytes::Bytes;
use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use std::marker::PhantomData;
use std::time::Instant;

/// A JSON upload body, documented as `T`.
pub struct JsonUpload<T> {
    /// The raw body, or why it could not be read (too large, unreadable).
    pub body: Result<Bytes, IngestError>,
    /// When reading the request began, for `processing_time_ms`.
    pub started: Instant,
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
        let limit = request
            .data::<IngestConfig>()
            .map_or_else(|| IngestConfig::default().max_body_bytes, |c| c.max_body_bytes);
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = if declared.is_some_and(|len| len > limit as u64) {
            Err(IngestError::BodyTooLarge { limit })
        } else {
            match body.take() {
                Ok(body) => body.into_bytes_limit(limit).await.map_err(|err| match err {
                    poem::error::ReadBodyError::PayloadTooLarge => {
                        IngestError::BodyTooLarge { limit }
                    }
                    _ => IngestError::InvalidRequest(
                        "the request body could not be read".to_owned(),
                    ),
                }),
                Err(_) => Err(IngestError::InvalidRequest(
                    "the request body could not be read".to_owned(),
                )),
            }
        };
        Ok(Self {
            body,
            started,
            _schema: PhantomData,
        })
    }
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
