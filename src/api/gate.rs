//! The edge every request passes before its endpoint.
//!
//! Uploads, in order: the per-client rate limit (429), their trace (so every later answer
//! carries a `traceparent`), the device key when `devices.auth` asks for one (401), and room
//! in the writer's queue (503) — all before the body is read, so a refused upload costs
//! almost nothing. Every other request has its body read here within `server.max_form_bytes`
//! (413) at the server's minimum pace (408), before any endpoint sees it.

use super::body::{self, BodyError, Pace};
use super::limit::UploadRateLimit;
use super::payload::discard_body;
use super::upload::{BYTES_PER_RECORD, UploadResponse, overloaded, storage_unavailable};
use super::wire::ErrorBody;
use crate::config::DeviceAuth;
use crate::devices::DeviceKeys;
use crate::domain::DeviceKey;
use crate::ingest::Writer;
use crate::telemetry::traces::RequestTrace;
use poem::http::StatusCode;
use poem::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use poem_openapi::payload::Json;
use std::sync::Arc;
use tracing::{Instrument, warn};

/// Realm named in `WWW-Authenticate`.
const REALM: &str = "ljwx-bigscreen";

/// Whether `path` is an upload endpoint.
pub fn is_upload(path: &str) -> bool {
    matches!(path, "/upload_health_data_batch" | "/upload_health_data")
}

/// The edge middleware.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<GateConfig>,
}

/// What the gate checks against.
pub struct GateConfig {
    /// The per-client upload rate limit, when enabled.
    pub rate_limit: Option<UploadRateLimit>,
    /// Whether uploads need a device key.
    pub auth: DeviceAuth,
    /// The keys.
    pub keys: DeviceKeys,
    /// The writer, for room in its queue.
    pub writer: Writer,
    /// Largest body of any request but an upload.
    pub max_form_bytes: usize,
    /// The pace every body must keep.
    pub pace: Pace,
}

impl Gate {
    /// A gate checking against `config`.
    pub fn new(config: GateConfig) -> Self {
        Self {
            inner: Arc::new(config),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Gate {
    type Output = GateEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        GateEndpoint {
            ep,
            gate: Arc::clone(&self.inner),
        }
    }
}

/// An endpoint behind the [`Gate`].
pub struct GateEndpoint<E> {
    ep: E,
    gate: Arc<GateConfig>,
}

impl<E: Endpoint> Endpoint for GateEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        if is_upload(req.uri().path()) {
            self.upload(req).await
        } else {
            self.other(req).await
        }
    }
}

impl<E: Endpoint> GateEndpoint<E> {
    async fn upload(&self, mut req: Request) -> Result<Response> {
        let gate = &self.gate;
        if let Some(limit) = &gate.rate_limit
            && let Some(retry_after) = limit.check(&req)
        {
            return Ok(refuse(req, rate_limited(retry_after)).await);
        }
        let trace = RequestTrace::start(req.uri().path(), req.header("traceparent"));
        let traceparent = trace.context.traceparent();
        let span = trace.span.clone();
        let answer = async {
            match self.authenticate(&req).await {
                Ok(Some(key)) => {
                    req.extensions_mut().insert(key);
                }
                Ok(None) => {}
                Err(refused) => return Ok(refuse(req, refused).await),
            }
            let rows = req
                .header(CONTENT_LENGTH.as_str())
                .and_then(|v| v.parse::<usize>().ok())
                .map_or(1, |len| len / BYTES_PER_RECORD);
            if !gate.writer.has_room(rows).await {
                return Ok(overloaded(req).await);
            }
            req.extensions_mut().insert(trace);
            self.ep.call(req).await.map(IntoResponse::into_response)
        }
        .instrument(span)
        .await;
        let mut response = answer?;
        if let Ok(value) = traceparent.parse() {
            response.headers_mut().insert("traceparent", value);
        }
        Ok(response)
    }

    /// The key an upload presents, as `devices.auth` wants it: `Ok(None)` for an upload
    /// that may go without one, the refusal for a missing (when required), unknown or revoked
    /// key.
    async fn authenticate(&self, req: &Request) -> Result<Option<DeviceKey>, Response> {
        let auth = self.gate.auth;
        if auth == DeviceAuth::Off {
            return Ok(None);
        }
        let Some(header) = req.headers().get(AUTHORIZATION) else {
            return match auth {
                DeviceAuth::Required => Err(unauthorized(false)),
                _ => Ok(None),
            };
        };
        let Some(presented) = header.to_str().ok().and_then(bearer) else {
            return Err(unauthorized(true));
        };
        match self.gate.keys.check(presented).await {
            Ok(Some(key)) => Ok(Some(key)),
            Ok(None) => Err(unauthorized(true)),
            Err(err) => {
                warn!(error = %err, "Device key check failed; upload answered 503.");
                Err(storage_unavailable().into_response())
            }
        }
    }

    async fn other(&self, mut req: Request) -> Result<Response> {
        let limit = self.gate.max_form_bytes;
        let declared = req
            .header(CONTENT_LENGTH.as_str())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Ok(refuse(req, too_large(limit)).await);
        }
        let read = body::read(req.take_body(), limit, limit, self.gate.pace, None).await;
        match read {
            Ok(read) => req.set_body(read.bytes),
            Err(err) => {
                return Ok(match err {
                    BodyError::TooLarge => too_large(limit),
                    BodyError::TooSlow => body_timeout(),
                    BodyError::Broken | BodyError::Busy => error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "the request body could not be read",
                    ),
                });
            }
        }
        self.ep.call(req).await.map(IntoResponse::into_response)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `answer`, after reading what the client still sends (see [`discard_body`]).
async fn refuse(req: Request, answer: Response) -> Response {
    discard_body(req.into_body()).await;
    answer
}

/// 401 for an upload without a valid device key.
fn unauthorized(sent: bool) -> Response {
    let challenge = if sent {
        format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"")
    } else {
        format!("Bearer realm=\"{REALM}\"")
    };
    UploadResponse::Unauthorized(
        Json(ErrorBody::new(
            "unauthorized",
            "a valid device key is required: Authorization: Bearer <key>; nothing was stored",
        )),
        challenge,
    )
    .into_response()
}

/// 429 for a client over its upload rate.
fn rate_limited(retry_after: u64) -> Response {
    UploadResponse::TooManyRequests(
        Json(ErrorBody::new(
            "rate_limited",
            "too many requests from this client; retry after the given seconds",
        )),
        retry_after,
    )
    .into_response()
}

/// 413 for a body over `limit` bytes.
fn too_large(limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        &format!("the request body is larger than {limit} bytes"),
    )
}

/// 408 for a body slower than the minimum pace; the connection is closed.
pub fn body_timeout() -> Response {
    error(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        "the request body arrived too slowly",
    )
    .with_header("connection", "close")
    .into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    poem::web::Json(ErrorBody::new(code, message))
        .with_status(status)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
