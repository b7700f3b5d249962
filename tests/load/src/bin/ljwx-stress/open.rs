//! Open loop: requests on a fixed schedule, whatever the server does.
//!
//! Request `i` is due at `start + i / rate`. Its latency is measured from that due time, not
//! from when it actually left: if the server (or this client) stalls, the requests that should
//! have gone out meanwhile are charged the wait. A closed loop hides exactly that wait
//! ("coordinated omission"), which is how a stalled server can still show a good P99.

use crate::send::post;
use crate::shared::{Shared, drain};
use crate::stats::KIND_CLIENT_OVERLOAD;
use bytes::Bytes;
use rand::rngs::SmallRng;
use std::rc::Rc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

/// Settings of an open-loop run.
#[derive(Debug, Clone, Copy)]
pub struct OpenConfig {
    /// Requests per second.
    pub rate: f64,
    /// Most requests outstanding at once; a due request beyond it is not sent.
    pub max_in_flight: usize,
}

/// What the scheduler saw, beyond the per-request statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenSummary {
    /// Requests that came due before the deadline.
    pub scheduled: u64,
    /// Largest delay between a request's due time and its actual send. Large values mean this
    /// client could not keep the schedule (CPU-bound): the latencies include that delay.
    pub max_send_lag: Duration,
}

/// Sends requests at `config.rate` from `start` until `deadline`, then waits for in-flight
/// requests up to `drain_limit`.
pub async fn run(
    shared: Rc<Shared>,
    config: OpenConfig,
    start: Instant,
    deadline: Instant,
    drain_limit: Instant,
    rng: &mut SmallRng,
) -> OpenSummary {
    let mut tasks = JoinSet::new();
    let mut body = shared.body_buffer();
    let mut summary = OpenSummary::default();
    let period = 1.0 / config.rate;
    for i in 0u64.. {
        // Computed from `start` each time, not by adding periods, so rounding never drifts.
        let due = start + Duration::from_secs_f64(i as f64 * period);
        if due >= deadline {
            break;
        }
        // When behind schedule this returns at once: overdue requests go out in a burst.
        sleep_until(due).await;
        summary.scheduled += 1;
        // Reap finished tasks so that `len` is the number actually in flight.
        while tasks.try_join_next().is_some() {}
        if tasks.len() >= config.max_in_flight {
            shared
                .stats
                .borrow_mut()
                .record_unsent(KIND_CLIENT_OVERLOAD);
            continue;
        }
        let batch_id = format!("{}_o_{}", shared.run_id, i + 1);
        let records = shared
            .workload
            .write_batch(&mut body, rng, &batch_id, shared.batch_size);
        let payload = Bytes::copy_from_slice(body.as_bytes());
        summary.max_send_lag = summary.max_send_lag.max(due.elapsed());
        let task_shared = Rc::clone(&shared);
        tasks.spawn_local(async move {
            let outcome = post(&task_shared.client, &task_shared.url, payload).await;
            // From the due time: see the module docs.
            let latency = due.elapsed();
            task_shared
                .stats
                .borrow_mut()
                .record(&outcome, latency, records as u64);
        });
    }
    drain(&mut tasks, drain_limit, &shared.stats).await;
    summary
}
