//! Device keys through the admin API (DESIGN §10): issue, list and revoke the keys of a device,
//! and the gateway keys of a customer. A key is shown once, in the answer that issues it.

use super::ApiTags;
use super::admin::{AdminError, AdminToken};
use super::wire::ErrorBody;
use crate::access::Admin;
use crate::devices::DeviceKeys;
use crate::devices::keys::MAX_ACTIVE_KEYS;
use crate::domain::KeyOwner;
use crate::domain::is_valid_device_sn;
use crate::store::KeyInfo;
use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tracing::info;

/// Key endpoints.
pub struct KeysApi {
    keys: DeviceKeys,
    admin: Admin,
}

impl KeysApi {
    /// Key endpoints over `keys`, open to callers `admin` lets in.
    pub fn new(keys: DeviceKeys, admin: Admin) -> Self {
        Self { keys, admin }
    }
}

/// A device key or gateway key, without the key itself (only its hash is stored).
#[derive(Object)]
pub struct KeyView {
    /// Key id, to revoke it by.
    pub id: i64,
    /// The device a device key covers (absent for a gateway key).
    #[oai(skip_serializing_if_is_none)]
    pub device_sn: Option<String>,
    /// The customer whose devices a gateway key covers (absent for a device key).
    #[oai(skip_serializing_if_is_none)]
    pub customer_id: Option<i64>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was revoked (absent while it is valid).
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyInfo> for KeyView {
    fn from(k: KeyInfo) -> Self {
        let (device_sn, customer_id) = match k.owner {
            KeyOwner::Device(device) => (Some(device), None),
            KeyOwner::Customer(customer) => (None, Some(customer)),
        };
        Self {
            id: k.id,
            device_sn,
            customer_id,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just issued: the only time the key itself is shown.
#[derive(Object)]
pub struct IssuedKey {
    /// The key: devices send it as `Authorization: Bearer <key>`. Store it now; it cannot be
    /// shown again.
    pub key: String,
    /// Its record, as listings show it.
    #[oai(flatten)]
    pub issued: KeyView,
}

/// Answers of issuing a key.
#[derive(ApiResponse)]
pub enum IssueResponse {
    /// The key was issued.
    #[oai(status = 201)]
    Created(Json<IssuedKey>),
}

/// Answers of listing keys.
#[derive(ApiResponse)]
pub enum ListResponse {
    /// Every key of the device (or customer), revoked ones too, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<KeyView>>),
}

/// Answers of revoking a key.
#[derive(ApiResponse)]
pub enum RevokeResponse {
    /// The key is revoked: this instance refuses it at once, every other within seconds.
    #[oai(status = 200)]
    Ok(Json<KeyView>),
}

fn device(sn: String) -> Result<KeyOwner, AdminError> {
    if is_valid_device_sn(&sn) {
        Ok(KeyOwner::Device(sn))
    } else {
        Err(AdminError::BadRequest(Json(ErrorBody::new(
            "invalid_request",
            "the device serial number must be 5–64 printable ASCII characters without spaces",
        ))))
    }
}

#[OpenApi(tag = "ApiTags::Keys")]
impl KeysApi {
    /// Issue a device key
    ///
    /// A new key for the device, shown once in this answer (only its SHA-256 is kept). A
    /// device holds at most two valid keys, so that a key can be rotated: issue the new one,
    /// put it on the watch, revoke the old one.
    #[oai(path = "/api/devices/:sn/keys", method = "post")]
    async fn issue_device(
        &self,
        auth: AdminToken,
        /// Serial number of the device: 5–64 printable ASCII characters, no spaces.
        #[oai(validator(min_length = 5, max_length = 64, pattern = "^[!-~]+$"))]
        sn: Path<String>,
    ) -> Result<IssueResponse, AdminError> {
        auth.check(&self.admin)?;
        self.issue(device(sn.0)?).await
    }

    /// List a device's keys
    #[oai(path = "/api/devices/:sn/keys", method = "get")]
    async fn list_device(
        &self,
        auth: AdminToken,
        /// Serial number of the device: 5–64 printable ASCII characters, no spaces.
        #[oai(validator(min_length = 5, max_length = 64, pattern = "^[!-~]+$"))]
        sn: Path<String>,
    ) -> Result<ListResponse, AdminError> {
        auth.check(&self.admin)?;
        self.list(&device(sn.0)?).await
    }

    /// Revoke a device key
    ///
    /// Uploads with the key are refused from now on, on every instance within a few seconds.
    #[oai(path = "/api/devices/:sn/keys/:id", method = "delete")]
    async fn revoke_device(
        &self,
        auth: AdminToken,
        /// Serial number of the device: 5–64 printable ASCII characters, no spaces.
        #[oai(validator(min_length = 5, max_length = 64, pattern = "^[!-~]+$"))]
        sn: Path<String>,
        /// Key id.
        id: Path<i64>,
    ) -> Result<RevokeResponse, AdminError> {
        auth.check(&self.admin)?;
        self.revoke(&device(sn.0)?, id.0).await
    }

    /// Issue a gateway key
    ///
    /// A key that may upload for every device bound to the customer (a gateway relaying its
    /// watches), shown once in this answer. A customer holds at most two valid gateway keys.
    #[oai(path = "/api/customers/:customer_id/keys", method = "post")]
    async fn issue_gateway(
        &self,
        auth: AdminToken,
        /// The customer (`customer_id` of the bindings).
        customer_id: Path<i64>,
    ) -> Result<IssueResponse, AdminError> {
        auth.check(&self.admin)?;
        self.issue(KeyOwner::Customer(customer_id.0)).await
    }

    /// List a customer's gateway keys
    #[oai(path = "/api/customers/:customer_id/keys", method = "get")]
    async fn list_gateway(
        &self,
        auth: AdminToken,
        /// The customer.
        customer_id: Path<i64>,
    ) -> Result<ListResponse, AdminError> {
        auth.check(&self.admin)?;
        self.list(&KeyOwner::Customer(customer_id.0)).await
    }

    /// Revoke a gateway key
    #[oai(path = "/api/customers/:customer_id/keys/:id", method = "delete")]
    async fn revoke_gateway(
        &self,
        auth: AdminToken,
        /// The customer.
        customer_id: Path<i64>,
        /// Key id.
        id: Path<i64>,
    ) -> Result<RevokeResponse, AdminError> {
        auth.check(&self.admin)?;
        self.revoke(&KeyOwner::Customer(customer_id.0), id.0).await
    }
}

impl KeysApi {
    async fn issue(&self, owner: KeyOwner) -> Result<IssueResponse, AdminError> {
        let Some((key, info)) = self.keys.issue(&owner).await? else {
            return Err(AdminError::conflict(
                "too_many_keys",
                format!("{MAX_ACTIVE_KEYS} valid keys exist already; revoke one first"),
            ));
        };
        info!(key_id = info.id, "Device key issued through the admin API.");
        Ok(IssueResponse::Created(Json(IssuedKey {
            key,
            issued: info.into(),
        })))
    }

    async fn list(&self, owner: &KeyOwner) -> Result<ListResponse, AdminError> {
        let keys = self.keys.list(owner).await?;
        Ok(ListResponse::Ok(Json(
            keys.into_iter().map(KeyView::from).collect(),
        )))
    }

    async fn revoke(&self, owner: &KeyOwner, id: i64) -> Result<RevokeResponse, AdminError> {
        match self.keys.revoke(owner, Some(id)).await?.pop() {
            Some(revoked) => {
                info!(key_id = id, "Device key revoked through the admin API.");
                Ok(RevokeResponse::Ok(Json(revoked.into())))
            }
            None => Err(AdminError::not_found(format!("no valid key {id} here"))),
        }
    }
}
