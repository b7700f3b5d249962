//! The task that folds committed counts into the daily counters (see `store::daily`).
//!
//! It runs every `writer.fold_ms`, folding until nothing is pending, and once more after
//! the writers drained at shutdown, so a clean stop leaves nothing pending. A database error
//! is logged and tried again at the next tick: the counts wait in their table.

use crate::store::{Store, StoreError};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Pending commits folded per transaction.
const FOLD_LIMIT: usize = 500;
/// Most transactions of one final fold at shutdown (bounds the stop when the database is
/// failing; what is left is folded at the next start).
const FINAL_ROUNDS: usize = 1000;

/// Owns the fold task; [`FoldTask::shutdown`] runs the last fold and waits for it.
pub struct FoldTask {
    handle: JoinHandle<()>,
    stop: CancellationToken,
}

/// Starts folding the pending counts of `store` every `interval`.
pub fn start(store: Store, interval: Duration) -> FoldTask {
    let stop = CancellationToken::new();
    let handle = tokio::spawn(run(
        store,
        interval.max(Duration::from_millis(10)),
        stop.clone(),
    ));
    FoldTask { handle, stop }
}

impl FoldTask {
    /// Folds what is pending one last time and stops. Call after the writers drained.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(err) = self.handle.await {
            error!(error = %err, "Daily counter task failed.");
        }
    }
}

async fn run(store: Store, interval: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        match fold_all(&store, usize::MAX).await {
            Ok(()) if failing => {
                info!("Daily counters folding again.");
                failing = false;
            }
            Ok(()) => {}
            Err(err) if !failing => {
                warn!(error = %err, "Cannot fold counts into the daily counters; retrying.");
                failing = true;
            }
            Err(_) => {}
        }
    }
    if let Err(err) = fold_all(&store, FINAL_ROUNDS).await {
        warn!(error = %err, "Counts left pending at shutdown; the next start folds them.");
    }
}

/// Folds what is pending, in at most `rounds` transactions. Stops at the first transaction
/// that was not full: under load, commits keep arriving, and folding them a tick later
/// aggregates more of them per counter row.
async fn fold_all(store: &Store, rounds: usize) -> Result<(), StoreError> {
    for _ in 0..rounds {
        if store.fold_daily_counts(FOLD_LIMIT).await? < FOLD_LIMIT {
            break;
        }
    }
    Ok(())
}
