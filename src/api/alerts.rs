//! The alert lifecycle API (DESIGN §7, §10): list, read, acknowledge and resolve alerts.
//! Every call needs `Authorization: Bearer <admin token>`; without a configured token the
//! admin API is disabled.

use super::ApiTags;
use super::admin::{AdminError, AdminToken, admin_error_answers};
use super::wire::ErrorBody;
use crate::access::Admin;
use crate::domain::{Alert, AlertLevel, AlertStatus};
use crate::store::{AlertFilter, Store, Transition, TransitionOutcome};
use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tracing::info;

/// Largest page of the alert list.
const MAX_PAGE_SIZE: u64 = 500;

/// Alert endpoints.
pub struct AlertsApi {
    store: Store,
    admin: Admin,
}

impl AlertsApi {
    /// Alert endpoints over `store`, open to callers `admin` lets in.
    pub fn new(store: Store, admin: Admin) -> Self {
        Self { store, admin }
    }
}

/// A page of alerts, newest first.
#[derive(Object)]
pub struct AlertPage {
    /// The alerts of this page.
    pub items: Vec<Alert>,
    /// Alerts matching the filters, on all pages.
    pub total: u64,
    /// This page (from 1).
    pub page: u64,
    /// Alerts per page.
    pub page_size: u64,
}

/// Error answers of the alert list.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "listerror_bad_request")]
pub enum ListError {
    /// A malformed path or query parameter (`invalid_request`, naming it).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or wrong bearer token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The admin API is disabled: no token is configured (`admin_disabled`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// An unexpected server error; the detail is in the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable (`storage_unavailable`); retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

admin_error_answers!(ListError);

/// Answers of the alert list.
#[derive(ApiResponse)]
pub enum ListResponse {
    /// A page of alerts.
    #[oai(status = 200)]
    Ok(Json<AlertPage>),
}

/// Answers of the single-alert endpoints.
#[derive(ApiResponse)]
pub enum AlertResponse {
    /// The alert (after the change, for `ack` and `resolve`; repeating a change that is
    /// already done answers 200 as well).
    #[oai(status = 200)]
    Ok(Json<Alert>),
}

fn not_found(id: i64) -> AdminError {
    AdminError::not_found(format!("no alert with id {id}"))
}

#[OpenApi(tag = "ApiTags::Alerts")]
impl AlertsApi {
    /// List alerts
    ///
    /// Alerts newest first, filtered by status, level, type, device and the time of the first
    /// breach (`from` inclusive, `to` exclusive), one page at a time. A malformed parameter
    /// (an unknown status, `page=0`) is answered 400 `invalid_request`.
    #[oai(path = "/api/alerts", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: AdminToken,
        /// Only alerts in this status.
        status: Query<Option<AlertStatus>>,
        /// Only alerts of this level.
        level: Query<Option<AlertLevel>>,
        /// Only alerts of this type (`heart_rate_abnormal`).
        #[oai(name = "type")]
        alert_type: Query<Option<String>>,
        /// Only alerts of this device serial number.
        device: Query<Option<String>>,
        /// First breach at or after this time (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// First breach before this time (RFC 3339).
        to: Query<Option<DateTime<Utc>>>,
        /// Page number, from 1.
        #[oai(default = "first_page", validator(minimum(value = "1")))]
        page: Query<u64>,
        /// Alerts per page, 1–500.
        #[oai(
            default = "default_page_size",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        page_size: Query<u64>,
    ) -> Result<ListResponse, ListError> {
        auth.check(&self.admin)?;
        let filter = AlertFilter {
            status: status.0,
            level: level.0,
            alert_type: alert_type.0,
            device_sn: device.0,
            from: from.0,
            to: to.0,
            open_only: false,
        };
        let page_size = page_size.0.min(MAX_PAGE_SIZE);
        let (items, total) = self.store.list_alerts(&filter, page.0, page_size).await?;
        Ok(ListResponse::Ok(Json(AlertPage {
            items: items.into_iter().map(Alert::from).collect(),
            total,
            page: page.0,
            page_size,
        })))
    }

    /// One alert
    #[oai(path = "/api/alerts/:id", method = "get")]
    async fn get(
        &self,
        auth: AdminToken,
        /// Alert id.
        id: Path<i64>,
    ) -> Result<AlertResponse, AdminError> {
        auth.check(&self.admin)?;
        match self.store.alert(id.0).await? {
            Some(alert) => Ok(AlertResponse::Ok(Json(alert.into()))),
            None => Err(not_found(id.0)),
        }
    }

    /// Acknowledge an alert
    ///
    /// NEW → ACKNOWLEDGED. The episode stays open: further breaches keep updating it.
    #[oai(path = "/api/alerts/:id/ack", method = "post")]
    async fn ack(
        &self,
        auth: AdminToken,
        /// Alert id.
        id: Path<i64>,
    ) -> Result<AlertResponse, AdminError> {
        auth.check(&self.admin)?;
        self.transition(id.0, Transition::Acknowledge).await
    }

    /// Resolve an alert
    ///
    /// NEW or ACKNOWLEDGED → RESOLVED. The episode ends: the next breach of the device and
    /// type opens a new alert.
    #[oai(path = "/api/alerts/:id/resolve", method = "post")]
    async fn resolve(
        &self,
        auth: AdminToken,
        /// Alert id.
        id: Path<i64>,
    ) -> Result<AlertResponse, AdminError> {
        auth.check(&self.admin)?;
        self.transition(id.0, Transition::Resolve).await
    }
}

impl AlertsApi {
    async fn transition(&self, id: i64, t: Transition) -> Result<AlertResponse, AdminError> {
        match self.store.transition_alert(id, t, Utc::now()).await? {
            TransitionOutcome::Done(alert) => {
                info!(alert = id, status = %alert.status, "Alert changed by an admin.");
                Ok(AlertResponse::Ok(Json(alert.into())))
            }
            TransitionOutcome::NotFound => Err(not_found(id)),
            TransitionOutcome::Illegal(alert) => {
                let action = match t {
                    Transition::Acknowledge => "acknowledged",
                    Transition::Resolve => "resolved",
                };
                Err(AdminError::conflict(
                    "illegal_transition",
                    format!("alert {id} is {} and cannot be {action}", alert.status),
                ))
            }
        }
    }
}

fn first_page() -> u64 {
    1
}

fn default_page_size() -> u64 {
    50
}

fn listerror_bad_request(err: poem::Error) -> ListError {
    ListError::BadRequest(Json(ErrorBody::invalid_parameter(&err)))
}
