//! JSON bodies for errors raised outside the endpoints (unknown route, wrong method, panic),
//! so every response of the service is JSON and none carries internal text.

use super::wire::ErrorBody;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use std::any::Any;
use tracing::error;

/// Turns any error that escaped an endpoint into a JSON error body.
pub async fn error_to_json(err: poem::Error) -> Response {
    // An endpoint's documented error answer (`Err(ApiResponse)`): already a JSON body of ours.
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "method not allowed on this endpoint".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "request body too large".to_owned()),
        // The admin API's bearer token is missing or malformed.
        StatusCode::UNAUTHORIZED => ("unauthorized", "missing or wrong bearer token".to_owned()),
        s if s.is_client_error() => ("invalid_request", err.to_string()),
        _ => {
            error!(status = status.as_u16(), error = %err, "Request failed.");
            ("internal", "internal server error".to_owned())
        }
    };
    poem::web::Json(ErrorBody::new(code, message))
        .with_status(status)
        .into_response()
}

/// The answer after a handler panicked: a generic 500, the panic goes to the log.
pub fn panic_to_json(panic: Box<dyn Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    error!(panic = %text, "Handler panicked.");
    poem::web::Json(ErrorBody::new("internal", "internal server error"))
        .with_status(StatusCode::INTERNAL_SERVER_ERROR)
        .into_response()
}
