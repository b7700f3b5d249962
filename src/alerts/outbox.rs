//! The outbox notifier: delivers the notifications committed to `t_alert_outbox` through
//! every notifier, retrying failures with exponential backoff until they are delivered.
//!
//! Rows are written in the transaction that raised the alert, so nothing is lost to a crash
//! or restart: what was pending is delivered after it. Several instances may drain one
//! outbox; a row is claimed with a lease first, so each delivery attempt happens once (a
//! crash mid-delivery can repeat it: delivery is at least once, and every notification
//! carries its id).

use super::notifier::{Notification, Notifier};
use crate::config::AlertsConfig;
use crate::domain::Alert;
use crate::store::Store;
use chrono::{TimeDelta, Utc};
use entity::alert_outbox;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Notifications fetched per round.
const BATCH: u64 = 100;
/// How long a claimed notification stays with its sender beyond the webhook timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Wakes the notifier when new notifications were committed. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    /// Tells the notifier that notifications are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Owns the notifier task; [`OutboxTask::shutdown`] stops and joins it. Undelivered
/// notifications stay in the outbox for the next start.
pub struct OutboxTask {
    handle: JoinHandle<()>,
    stop: CancellationToken,
}

impl OutboxTask {
    /// Stops after the notification being sent now, and waits for it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(err) = self.handle.await {
            error!(error = %err, "Alert notifier task failed.");
        }
    }
}

/// Retry timing.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// Wait after the `attempts`-th failure: initial, doubled each time, capped.
    fn after(self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.initial
            .saturating_mul(1u32 << doublings)
            .min(self.max)
            .max(Duration::from_millis(1))
    }
}

/// Starts delivering the outbox of `store` through `notifiers`.
pub fn start(
    store: Store,
    notifiers: Vec<Box<dyn Notifier>>,
    config: &AlertsConfig,
) -> (Outbox, OutboxTask) {
    let outbox = Outbox::default();
    let stop = CancellationToken::new();
    let worker = Worker {
        store,
        notifiers,
        backoff: Backoff {
            initial: Duration::from_millis(config.retry_initial_ms),
            max: Duration::from_millis(config.retry_max_ms.max(config.retry_initial_ms)),
        },
        lease: Duration::from_millis(config.webhook_timeout_ms) * 2 + LEASE_MARGIN,
        poll: Duration::from_millis(config.poll_interval_ms.max(10)),
    };
    let names: Vec<_> = worker.notifiers.iter().map(|n| n.name()).collect();
    info!(notifiers = ?names, "Alert notifier started.");
    let handle = tokio::spawn(worker.run(Arc::clone(&outbox.wake), stop.clone()));
    (outbox, OutboxTask { handle, stop })
}

struct Worker {
    store: Store,
    notifiers: Vec<Box<dyn Notifier>>,
    backoff: Backoff,
    lease: Duration,
    poll: Duration,
}

impl Worker {
    async fn run(self, wake: Arc<Notify>, stop: CancellationToken) {
        let mut store_failing = false;
        loop {
            let more = match self.deliver_due(&stop).await {
                Ok(more) => {
                    if store_failing {
                        info!("Alert outbox readable again.");
                        store_failing = false;
                    }
                    more
                }
                Err(err) => {
                    if !store_failing {
                        warn!(error = %err, "Cannot read the alert outbox; retrying.");
                        store_failing = true;
                    }
                    false
                }
            };
            if stop.is_cancelled() {
                break;
            }
            if more {
                continue;
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
                () = stop.cancelled() => break,
            }
        }
        info!("Alert notifier stopped.");
    }

    /// Delivers what is due; `true` when a full batch was found (more may be waiting).
    async fn deliver_due(
        &self,
        stop: &CancellationToken,
    ) -> Result<bool, crate::store::StoreError> {
        let due = self.store.due_notifications(Utc::now(), BATCH).await?;
        let full = due.len() as u64 == BATCH;
        for row in due {
            if stop.is_cancelled() {
                return Ok(false);
            }
            let now = Utc::now();
            let lease = TimeDelta::from_std(self.lease).unwrap_or(TimeDelta::MAX);
            if !self
                .store
                .claim_notification(row.id, now, now + lease)
                .await?
            {
                continue;
            }
            self.deliver(row).await?;
        }
        Ok(full)
    }

    async fn deliver(&self, row: alert_outbox::Model) -> Result<(), crate::store::StoreError> {
        let alert: Alert = match serde_json::from_str(&row.payload) {
            Ok(alert) => alert,
            Err(err) => {
                // Written by this service, so this means a bug or a hand-edited row: keep it
                // out of the way instead of retrying forever.
                error!(notification = row.id, error = %err, "Unreadable alert notification; marked sent without delivery.");
                return self.store.notification_sent(row.id, Utc::now()).await;
            }
        };
        let notification = Notification {
            notification_id: row.id,
            event: row.event,
            created_at: row.created_at,
            alert,
        };
        let mut failure = None;
        for notifier in &self.notifiers {
            if let Err(err) = notifier.notify(&notification).await {
                failure = Some((notifier.name(), err));
                break;
            }
        }
        match failure {
            None => self.store.notification_sent(row.id, Utc::now()).await,
            Some((name, err)) => {
                let attempts = row.attempts.saturating_add(1);
                let wait = self.backoff.after(attempts);
                warn!(notification = row.id, notifier = name, attempts, retry_in_ms = wait.as_millis() as u64, error = %err, "Alert notification not delivered; will retry.");
                let retry_at = Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
                self.store
                    .notification_failed(row.id, attempts, retry_at)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let waits: Vec<u128> = (1..=6).map(|n| b.after(n).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.after(1000).as_millis(), 1000);
    }
}
