//! Notifiers: where an alert that opened or escalated is announced. The outbox calls every
//! configured notifier for each pending notification and retries the ones that fail.

use crate::config::Secret;
use crate::domain::Alert;
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
/// without a webhook: its id, type and level, never the value or the wearer.
#[derive(Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        // Ids, type and level only: the value and the wearer are health data, and logs go
        // where health data must not (the webhook and the dashboard carry them).
        let a = &n.alert;
        warn!(
            notification = n.notification_id,
            event = %n.event,
            alert = a.id,
            alert_type = %a.alert_type,
            level = %a.level,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects what the log writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_log_names_the_alert_but_not_the_value_or_the_wearer() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let now = Utc::now();
        let notification = Notification {
            notification_id: 77,
            event: "opened".to_owned(),
            created_at: now,
            alert: Alert {
                id: 42,
                user_id: Some(90_210),
                device_sn: "SECRETWATCH9".to_owned(),
                alert_type: "heart_rate_abnormal".to_owned(),
                level: "major".to_owned(),
                status: "NEW".to_owned(),
                value: Some("187".to_owned()),
                last_value: Some("193".to_owned()),
                occurrences: 3,
                occur_at: Some(now),
                last_occur_at: Some(now),
                create_time: now,
                acknowledged_at: None,
                resolved_at: None,
            },
        };
        LogNotifier.notify(&notification).await.expect("logged");
        let line = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf8");
        for shown in [
            "notification=77",
            "alert=42",
            "heart_rate_abnormal",
            "major",
        ] {
            assert!(line.contains(shown), "{shown} missing: {line}");
        }
        for hidden in ["SECRETWATCH9", "90210", "187", "193"] {
            assert!(!line.contains(hidden), "{hidden} leaked: {line}");
        }
    }
}
