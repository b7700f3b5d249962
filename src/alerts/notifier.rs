//! Notifiers: where an alert that opened or escalated is announced. The outbox calls every
//! configured notifier for each pending notification and retries the ones that fail.

use super::Alert;
use crate::config::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tracing::warn;

/// One notification as notifiers receive it (the webhook's JSON body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Outbox id: the same notification delivered twice (at-least-once) has the same id.
    pub notification_id: i64,
    /// `opened` or `escalated`.
    pub event: String,
    /// When the event was committed.
    pub created_at: DateTime<Utc>,
    /// The alert as it was when the event happened.
    pub alert: Alert,
}

/// Why a notifier could not deliver; the outbox retries later.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// Something that announces alerts.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Delivers `notification`; an error means "try again later".
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError>;
}

/// Writes every notification to the log (warning level), so an alert is visible even
/// without a webhook.
#[derive(Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let a = &n.alert;
        warn!(
            notification = n.notification_id,
            event = %n.event,
            alert = a.id,
            device = %a.device_sn,
            user = ?a.user_id,
            alert_type = %a.alert_type,
            level = %a.level,
            value = ?a.last_value,
            occurrences = a.occurrences,
            "Health alert."
        );
        Ok(())
    }
}

/// POSTs each notification as JSON to a URL; any 2xx answer is a delivery.
#[derive(Debug)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: Secret,
}

impl WebhookNotifier {
    /// A webhook to `url` whose calls give up after `timeout`.
    pub fn new(url: Secret, timeout: Duration) -> Result<Self, NotifyError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("ljwx-bigscreen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| NotifyError(format!("cannot build the webhook client: {err}")))?;
        Ok(Self { client, url })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let response = self
            .client
            .post(self.url.expose())
            .json(n)
            .send()
            .await
            // Without the URL: it may carry a credential.
            .map_err(|err| NotifyError(format!("webhook call failed: {}", err.without_url())))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(NotifyError(format!("webhook answered {status}")))
        }
    }
}
