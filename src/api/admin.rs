//! The admin API's bearer token (`LJWX_ADMIN__TOKEN`) as the OpenAPI document declares it,
//! and the answers shared by every admin endpoint.

use super::wire::ErrorBody;
use crate::access::{Admin, Auth, Denied};
use crate::store::StoreError;
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, SecurityScheme};
use tracing::{error, warn};

/// The admin API token, sent as `Authorization: Bearer <token>` (`LJWX_ADMIN__TOKEN`).
#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
pub struct AdminToken(pub Bearer);

impl AdminToken {
    /// Whether this is the token `admin` accepts.
    pub fn check(&self, admin: &Admin) -> Result<(), Denied> {
        admin.check(&self.0.token)
    }
}

/// 401 body: the token is missing or wrong.
pub fn unauthorized() -> Json<ErrorBody> {
    Json(ErrorBody::new(
        "unauthorized",
        "missing or wrong bearer token",
    ))
}

/// 403 body: no admin token is configured.
pub fn disabled() -> Json<ErrorBody> {
    Json(ErrorBody::new(
        "admin_disabled",
        "the admin API is disabled: no admin token is configured (set LJWX_ADMIN__TOKEN)",
    ))
}

/// The answer to a storage failure: `(true, …)` for 503 (retry later), `(false, …)` for 500.
/// The detail goes to the log only.
pub fn storage_answer(err: StoreError) -> (bool, Json<ErrorBody>) {
    match err {
        StoreError::Unavailable(err) => {
            warn!(error = %err, "Admin API: database unavailable.");
            (
                true,
                Json(ErrorBody::new(
                    "storage_unavailable",
                    "storage is temporarily unavailable; retry later",
                )),
            )
        }
        StoreError::Database(err) => {
            error!(error = %err, "Admin API: query failed.");
            (
                false,
                Json(ErrorBody::new("internal", "internal server error")),
            )
        }
    }
}

/// Error answers of the admin endpoints that read or change one alert or key.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "admin_bad_request")]
pub enum AdminError {
    /// A malformed path or query parameter (`invalid_request`, naming it: a serial number
    /// that is not 5–64 printable ASCII characters, an id that is not a number).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or wrong bearer token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The admin API is disabled: no token is configured (`admin_disabled`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such alert, or no such valid key of this device or customer (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The change conflicts with the current state; nothing changed: `illegal_transition`
    /// (acknowledging a resolved alert), `too_many_keys` (two valid keys exist already:
    /// revoke one first).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// An unexpected server error; the detail is in the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable (`storage_unavailable`); retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl AdminError {
    /// 404 `not_found` saying `what`.
    pub fn not_found(what: String) -> Self {
        Self::NotFound(Json(ErrorBody::new("not_found", what)))
    }

    /// 409 with `code` and `message`.
    pub fn conflict(code: &str, message: String) -> Self {
        Self::Conflict(Json(ErrorBody::new(code, message)))
    }
}

/// `From<Denied>` (401, 403) and `From<StoreError>` (503, 500) for an admin error answer
/// with the variants `Unauthorized`, `Forbidden`, `Unavailable` and `Internal`.
macro_rules! admin_error_answers {
    ($answer:ident) => {
        impl From<$crate::access::Denied> for $answer {
            fn from(denied: $crate::access::Denied) -> Self {
                match denied {
                    $crate::access::Denied::Disabled => {
                        Self::Forbidden($crate::api::admin::disabled())
                    }
                    $crate::access::Denied::WrongToken => {
                        Self::Unauthorized($crate::api::admin::unauthorized())
                    }
                }
            }
        }

        impl From<$crate::store::StoreError> for $answer {
            fn from(err: $crate::store::StoreError) -> Self {
                match $crate::api::admin::storage_answer(err) {
                    (true, body) => Self::Unavailable(body),
                    (false, body) => Self::Internal(body),
                }
            }
        }
    };
}
pub(super) use admin_error_answers;

admin_error_answers!(AdminError);

fn admin_bad_request(err: poem::Error) -> AdminError {
    AdminError::BadRequest(Json(ErrorBody::invalid_parameter(&err)))
}

/// A dashboard session, as its cookie carries it.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "ljwx_session", key_in = "cookie")]
pub struct SessionCookie(ApiKey);

/// Who reads the observability endpoints (traces carry batch ids): the admin token or a
/// dashboard session, or anyone when `observability.public` is set.
#[derive(SecurityScheme)]
pub enum Viewer {
    /// `Authorization: Bearer <admin token>`.
    Admin(AdminToken),
    /// The dashboard's session cookie.
    Session(SessionCookie),
    /// Neither.
    #[oai(fallback)]
    Anonymous,
}

/// Decides who may read the observability endpoints. Cheap to clone.
#[derive(Clone)]
pub struct Observers {
    /// The admin token.
    pub admin: Admin,
    /// Dashboard sessions.
    pub auth: Auth,
    /// Everyone may read (`observability.public`).
    pub public: bool,
}

/// Why an observability call was refused.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "viewerror_bad_request")]
pub enum ViewError {
    /// A malformed path or query parameter (`invalid_request`, naming it).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Neither the admin token nor a live dashboard session was presented
    /// (`unauthorized`); set `observability.public` to open these endpoints.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The session could not be checked: the database is unavailable
    /// (`storage_unavailable`); retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl Observers {
    /// `Ok` when `viewer` may read.
    pub async fn allow(&self, viewer: &Viewer) -> Result<(), ViewError> {
        let allowed = match viewer {
            _ if self.public => true,
            Viewer::Admin(token) => token.check(&self.admin).is_ok(),
            Viewer::Session(cookie) => match self.auth.token_is_live(&cookie.0.key).await {
                Ok(live) => live,
                Err(err) => {
                    let (_, body) = storage_answer(err);
                    return Err(ViewError::Unavailable(body));
                }
            },
            Viewer::Anonymous => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(ViewError::Unauthorized(Json(ErrorBody::new(
                "unauthorized",
                "the admin token (Authorization: Bearer) or a dashboard session is required",
            ))))
        }
    }
}

fn viewerror_bad_request(err: poem::Error) -> ViewError {
    ViewError::BadRequest(Json(ErrorBody::invalid_parameter(&err)))
}
