//! Health alerts: rules, hysteresis, notifications.

use super::Secret;
use crate::domain::AlertRule;
use serde::{Deserialize, Serialize};

/// Health alerts (DESIGN §7): the rules, episode hysteresis and notifications.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Whether committed samples are checked against the rules. Default on.
    pub enabled: bool,
    /// The rules. Default: the seed's (heart rate > 120 or < 50 minor, > 140 or < 40 major;
    /// blood oxygen < 90 major, < 85 critical). Setting `[[alerts.rules]]` in the config
    /// file replaces the whole list.
    pub rules: Vec<AlertRule>,
    /// An open alert resolves by itself when a normal reading of its field arrives at least
    /// this many seconds (sample time) after its last breach. `0` (default): alerts stay
    /// open until resolved through the admin API.
    pub resolve_after_secs: u64,
    /// Webhook that receives a JSON POST when an alert opens or escalates
    /// (`LJWX_ALERTS__WEBHOOK_URL`). Unset (default): notifications are only logged.
    pub webhook_url: Option<Secret>,
    /// Longest wait for one webhook call, in milliseconds.
    pub webhook_timeout_ms: u64,
    /// First wait before a failed notification is retried, in milliseconds; doubled after
    /// each failure up to `retry_max_ms`. Notifications are retried until delivered.
    pub retry_initial_ms: u64,
    /// Longest wait between two attempts of one notification, in milliseconds.
    pub retry_max_ms: u64,
    /// How often the notifier looks for pending notifications written by other instances or
    /// due for a retry, in milliseconds (its own instance's new alerts wake it at once).
    pub poll_interval_ms: u64,
    /// Days a delivered notification is kept in the outbox; `0` keeps them forever.
    /// Undelivered ones are never deleted. Default 7.
    pub outbox_retention_days: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rules: AlertRule::seed_defaults(),
            resolve_after_secs: 0,
            webhook_url: None,
            webhook_timeout_ms: 5_000,
            retry_initial_ms: 1_000,
            retry_max_ms: 300_000,
            poll_interval_ms: 2_000,
            outbox_retention_days: 7,
        }
    }
}
