//! The binding API (DESIGN §12): which wearer a watch is bound to, binding it, unbinding it.
//! Written as `devices import` writes (`sys_user.device_sn` and `customer_id`, the user's one
//! organisation in `sys_user_org`); every instance and Redis forget the old mapping within
//! about a second. Reading takes the read token; changing, the admin token.

use super::ApiTags;
use super::admin::{AdminError, AdminToken, admin_error_answers};
use super::read::{ReadError, ReadToken};
use super::samples::device_param;
use super::wire::ErrorBody;
use crate::access::Admin;
use crate::devices::DeviceDirectory;
use crate::domain::Binding;
use crate::store::{DeviceImport, Store};
use crate::zone::Zone;
use chrono::Utc;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tracing::info;

/// Binding endpoints.
pub struct BindingsApi {
    store: Store,
    devices: DeviceDirectory,
    admin: Admin,
    zone: Zone,
}

impl BindingsApi {
    /// Binding endpoints over `store`, forgetting old mappings in `devices`.
    pub fn new(store: Store, devices: DeviceDirectory, admin: Admin, zone: Zone) -> Self {
        Self {
            store,
            devices,
            admin,
            zone,
        }
    }
}

/// A watch's wearer.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "Binding", rename_all = "camelCase", example)]
pub struct BindingView {
    /// Serial number of the watch.
    pub device_sn: String,
    /// The wearer (`sys_user.id`).
    pub user_id: i64,
    /// Tenant of the wearer.
    #[oai(skip_serializing_if_is_none)]
    pub customer_id: Option<i64>,
    /// Organisation of the wearer.
    #[oai(skip_serializing_if_is_none)]
    pub org_id: Option<i64>,
}

impl BindingView {
    fn new(device_sn: String, b: Binding) -> Self {
        Self {
            device_sn,
            user_id: b.user_id,
            customer_id: b.customer_id,
            org_id: b.org_id,
        }
    }
}

impl Example for BindingView {
    fn example() -> Self {
        Self {
            device_sn: "WATCH0001".to_owned(),
            user_id: 1001,
            customer_id: Some(1),
            org_id: Some(10),
        }
    }
}

/// The wearer to bind a watch to.
#[derive(Object, Debug)]
#[oai(rename = "BindingRequest", rename_all = "camelCase", example)]
pub struct BindRequest {
    /// The wearer (`sys_user.id`); created when missing. The watch is unbound from any
    /// other user.
    pub user_id: i64,
    /// Tenant of the wearer.
    pub customer_id: Option<i64>,
    /// Organisation of the wearer: replaces the user's other organisations.
    pub org_id: Option<i64>,
    /// Also move the watch's quarantined samples (sent while it was bound to nobody) into
    /// the wearer's samples, in this call. Default `false`.
    #[oai(default)]
    pub replay_quarantine: bool,
}

impl Example for BindRequest {
    fn example() -> Self {
        Self {
            user_id: 1001,
            customer_id: Some(1),
            org_id: Some(10),
            replay_quarantine: true,
        }
    }
}

/// A binding made.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct BoundView {
    /// The binding now in force.
    #[oai(flatten)]
    pub binding: BindingView,
    /// Quarantined samples moved into the wearer's samples (with `replayQuarantine`).
    pub replayed: u64,
}

impl Example for BoundView {
    fn example() -> Self {
        Self {
            binding: BindingView::example(),
            replayed: 12,
        }
    }
}

/// Error answers of binding.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "put_bad_request")]
pub enum PutError {
    /// A malformed serial number or body (`invalid_request`, naming what).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or wrong admin token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The admin API is disabled: no token is configured (`admin_disabled`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The body is not `application/json` (`invalid_request`).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// An unexpected server error; the detail is in the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable (`storage_unavailable`); retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

admin_error_answers!(PutError);

fn put_bad_request(err: poem::Error) -> PutError {
    PutError::BadRequest(Json(ErrorBody::invalid_parameter(&err)))
}

/// Answers of reading a binding.
#[derive(ApiResponse)]
pub enum GetResponse {
    /// The watch's wearer.
    #[oai(status = 200)]
    Ok(Json<BindingView>),
}

/// Answers of binding.
#[derive(ApiResponse)]
pub enum PutResponse {
    /// Bound. This instance maps the watch's next upload to the wearer at once, every other
    /// instance within about a second.
    #[oai(status = 200)]
    Ok(Json<BoundView>),
}

/// Answers of unbinding.
#[derive(ApiResponse)]
pub enum DeleteResponse {
    /// Unbound: the watch's next uploads go to the quarantine.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Bindings")]
impl BindingsApi {
    /// Wearer of a watch
    ///
    /// The user the watch is bound to (ljwx-boot's `sys_user`), with customer and
    /// organisation; 404 `not_found` when it is bound to nobody.
    #[oai(path = "/api/devices/:sn/binding", method = "get")]
    async fn get(
        &self,
        auth: ReadToken,
        /// Serial number of the watch.
        sn: Path<String>,
    ) -> Result<GetResponse, ReadError> {
        auth.check(&self.admin)?;
        let sn = device_param(sn.0)?;
        match self.store.binding_of(&sn).await? {
            Some(binding) => Ok(GetResponse::Ok(Json(BindingView::new(sn, binding)))),
            None => Err(ReadError::not_found(format!(
                "device {sn} is bound to nobody"
            ))),
        }
    }

    /// Bind a watch
    ///
    /// Binds the watch to the wearer as `devices import` does, unbinding it from anyone
    /// else; optionally moves its quarantined samples to the wearer in the same call.
    #[oai(path = "/api/devices/:sn/binding", method = "put")]
    async fn put(
        &self,
        auth: AdminToken,
        /// Serial number of the watch.
        sn: Path<String>,
        body: Json<BindRequest>,
    ) -> Result<PutResponse, PutError> {
        auth.check(&self.admin)?;
        let sn = device_param(sn.0).map_err(|_| PutError::BadRequest(invalid_device()))?;
        let request = body.0;
        let import = DeviceImport {
            device_sn: sn.clone(),
            user_id: request.user_id,
            customer_id: request.customer_id,
            org_id: request.org_id,
        };
        self.store
            .bind_devices(std::slice::from_ref(&import))
            .await?;
        // This instance at once; the others by the change noted with the binding.
        self.devices.invalidate(std::slice::from_ref(&sn)).await;
        let binding = Binding {
            user_id: request.user_id,
            customer_id: request.customer_id,
            org_id: request.org_id,
        };
        let replayed = if request.replay_quarantine {
            let now = Utc::now();
            self.store
                .replay_quarantine(&sn, binding, self.zone.day(now), now)
                .await?
                .stored
        } else {
            0
        };
        info!(device = %sn, user_id = binding.user_id, replayed, "Device bound through the API.");
        Ok(PutResponse::Ok(Json(BoundView {
            binding: BindingView::new(sn, binding),
            replayed,
        })))
    }

    /// Unbind a watch
    ///
    /// Unbinds the watch from its wearer; its next uploads go to the quarantine. 404
    /// `not_found` when it was bound to nobody.
    #[oai(path = "/api/devices/:sn/binding", method = "delete")]
    async fn delete(
        &self,
        auth: AdminToken,
        /// Serial number of the watch.
        sn: Path<String>,
    ) -> Result<DeleteResponse, AdminError> {
        auth.check(&self.admin)?;
        let sn = device_param(sn.0).map_err(|_| AdminError::BadRequest(invalid_device()))?;
        if !self.store.unbind_device(&sn).await? {
            return Err(AdminError::not_found(format!(
                "device {sn} is bound to nobody"
            )));
        }
        self.devices.invalidate(std::slice::from_ref(&sn)).await;
        info!(device = %sn, "Device unbound through the API.");
        Ok(DeleteResponse::NoContent)
    }
}

fn invalid_device() -> Json<ErrorBody> {
    Json(ErrorBody::new(
        "invalid_request",
        "the device serial number must be 5–64 printable ASCII characters without spaces",
    ))
}
