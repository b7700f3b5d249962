//! Health alerts (DESIGN §7, seed `check_health_alert_single` / `send_health_alert`).
//!
//! - [`crate::domain::rules`]: which sample values breach, at which level (configurable, seed
//!   defaults).
//! - [`crate::domain::episode`]: one alert per episode — how readings open, update, escalate
//!   and (after a quiet period, if configured) resolve the open alert of a device and type.
//! - The store applies the episode plan inside the transaction that commits the samples, so
//!   only committed samples raise alerts and an acknowledged sample's alert cannot be lost;
//!   the unique key `uk_alert_open` keeps one open alert per device and type across
//!   instances.
//! - [`outbox`] and [`notifier`]: notifications on open and escalation, committed to an
//!   outbox table with the alert and delivered (log, webhook) with retries.

pub mod notifier;
pub mod outbox;

use crate::config::AlertsConfig;
use crate::domain::{RuleError, Rules};
use crate::store::Store;
use notifier::{LogNotifier, Notifier, NotifyError, WebhookNotifier};
use outbox::{Outbox, OutboxTask};
use std::sync::Arc;
use std::time::Duration;

/// Why the alert engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// A rule is malformed.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The webhook client could not be built.
    #[error(transparent)]
    Notifier(#[from] NotifyError),
}

/// What the writer needs to raise alerts: the rules, and the outbox to wake after a commit
/// that queued notifications. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AlertEngine {
    rules: Arc<Rules>,
    outbox: Outbox,
}

impl AlertEngine {
    /// The rules applied to committed samples.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Tells the notifier that a commit queued notifications.
    pub fn notify_committed(&self) {
        self.outbox.wake();
    }
}

/// Starts the alert engine of `config`: `None` when alerts are disabled (or no rule is
/// configured). The notifier task is returned to its owner, who shuts it down.
pub fn start(
    store: &Store,
    config: &AlertsConfig,
) -> Result<Option<(AlertEngine, OutboxTask)>, AlertsError> {
    let rules = Rules::new(&config.rules, config.resolve_after_secs)?;
    if !config.enabled || rules.is_empty() {
        return Ok(None);
    }
    let mut notifiers: Vec<Box<dyn Notifier>> = vec![Box::new(LogNotifier)];
    if let Some(url) = config
        .webhook_url
        .as_ref()
        .filter(|u| !u.expose().is_empty())
    {
        // A malformed URL is a configuration error at start, not a failure per notification.
        if reqwest::Url::parse(url.expose()).is_err() {
            return Err(AlertsError::Notifier(NotifyError(
                "alerts.webhook_url is not a valid URL".to_owned(),
            )));
        }
        notifiers.push(Box::new(WebhookNotifier::new(
            url.clone(),
            Duration::from_millis(config.webhook_timeout_ms),
        )?));
    }
    let (outbox, task) = outbox::start(store.clone(), notifiers, config);
    Ok(Some((
        AlertEngine {
            rules: Arc::new(rules),
            outbox,
        },
        task,
    )))
}
