//! Binding changes reach every instance within about a second: each instance reads the new
//! rows of `t_binding_change` once a second and forgets what it (and Redis) cached of those
//! devices, so the next upload, wherever it lands, maps the device anew.
//!
//! Row ids are given out before their transactions commit, and they commit in any order: a
//! row may become visible after rows with higher ids. So the watch reads again everything
//! above the highest id it had seen ten seconds ago, and skips the ids it has handled.

use super::DeviceDirectory;
use crate::store::Store;
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// How often the changes are read.
const POLL: Duration = Duration::from_secs(1);
/// How long a change may take from its id to its commit and still be seen.
const SETTLE: Duration = Duration::from_secs(10);

/// Owns the task that watches binding changes; [`BindingWatch::shutdown`] stops it.
pub struct BindingWatch {
    handle: JoinHandle<()>,
    stop: CancellationToken,
}

impl BindingWatch {
    /// Watches the changes of `store` for `devices`, from those after the newest one now.
    pub async fn start(store: Store, devices: DeviceDirectory) -> Self {
        let floor = match store.last_binding_change().await {
            Ok(last) => last,
            Err(err) => {
                warn!(error = %err, "Binding changes could not be read; watching from the start.");
                0
            }
        };
        let stop = CancellationToken::new();
        let handle = tokio::spawn(run(store, devices, floor, stop.clone()));
        Self { handle, stop }
    }

    /// Stops the watch and waits for it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.handle.await;
    }
}

/// What the watch has handled: every id up to `floor`, and those in `seen` above it.
struct Handled {
    floor: i64,
    seen: BTreeSet<i64>,
    /// The highest id seen at each poll of the last [`SETTLE`].
    marks: VecDeque<(Instant, i64)>,
}

impl Handled {
    /// Takes the changes read, returns the devices not handled before, and moves the floor to
    /// the highest id seen [`SETTLE`] ago.
    fn take(&mut self, changes: Vec<(i64, String)>, now: Instant) -> Vec<String> {
        let mut fresh = Vec::new();
        for (id, device) in changes {
            if id > self.floor && self.seen.insert(id) {
                fresh.push(device);
            }
        }
        let highest = self.seen.last().copied().unwrap_or(self.floor);
        self.marks.push_back((now, highest));
        while let Some(&(at, mark)) = self.marks.front() {
            if now.duration_since(at) < SETTLE {
                break;
            }
            self.floor = self.floor.max(mark);
            self.marks.pop_front();
        }
        let floor = self.floor;
        self.seen.retain(|&id| id > floor);
        fresh.sort_unstable();
        fresh.dedup();
        fresh
    }
}

async fn run(store: Store, devices: DeviceDirectory, floor: i64, stop: CancellationToken) {
    let mut handled = Handled {
        floor,
        seen: BTreeSet::new(),
        marks: VecDeque::new(),
    };
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        match store.binding_changes_after(handled.floor).await {
            Ok(changes) => {
                let fresh = handled.take(changes, Instant::now());
                if !fresh.is_empty() {
                    debug!(
                        devices = fresh.len(),
                        "Binding changes: cached mappings dropped."
                    );
                    devices.invalidate(&fresh).await;
                }
            }
            Err(err) => warn!(error = %err, "Binding changes could not be read; trying again."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_committed_late_is_still_handled_once() {
        let start = Instant::now();
        let mut handled = Handled {
            floor: 10,
            seen: BTreeSet::new(),
            marks: VecDeque::new(),
        };
        // Id 12 commits before id 11.
        let devices = handled.take(vec![(12, "B".into())], start);
        assert_eq!(devices, vec!["B".to_owned()]);
        let devices = handled.take(vec![(11, "A".into()), (12, "B".into())], start + POLL);
        assert_eq!(devices, vec!["A".to_owned()]);
        // Ten seconds on, everything up to 12 is settled and not read again.
        let devices = handled.take(Vec::new(), start + SETTLE + POLL);
        assert!(devices.is_empty());
        assert_eq!(handled.floor, 12);
        assert!(handled.seen.is_empty());
    }
}
