//! Backlog: the reconnect storm. Every user comes back at once after an outage with a backlog
//! of batches and sends them one after another as fast as answers allow. A batch that is
//! refused (503, 429) or whose answer is lost (a broken connection, a timeout) is sent again
//! with the same batch id — the server stores it once — after `Retry-After` (a second when
//! the answer had none), plus up to a second of jitter so that refused users do not come back
//! in step. Nothing is given up before the deadline: the run measures how long the backlog
//! takes to drain.

use crate::send::post;
use crate::shared::{Shared, drain};
use crate::stats::Outcome;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

/// Settings of a backlog run.
#[derive(Debug, Clone, Copy)]
pub struct BacklogConfig {
    /// Users, all starting at once.
    pub users: u32,
    /// Batches each user has to deliver.
    pub batches: u32,
}

/// What a backlog run found.
#[derive(Debug, Clone, Copy)]
pub struct BacklogSummary {
    /// Users that delivered their whole backlog before the deadline.
    pub users_drained: u32,
    /// Seconds from the start until the last user delivered its last batch; `None` when some
    /// user did not before the deadline.
    pub drained_s: Option<f64>,
}

/// Runs the backlog until every user delivered it or `deadline` passed, then waits for
/// requests in flight up to `drain_limit`.
pub async fn run(
    shared: Rc<Shared>,
    config: BacklogConfig,
    start: Instant,
    deadline: Instant,
    drain_limit: Instant,
    rng: &mut SmallRng,
) -> BacklogSummary {
    let drained = Rc::new(Cell::new(0u32));
    let last = Rc::new(Cell::new(start));
    let mut tasks = JoinSet::new();
    for user in 1..=config.users {
        tasks.spawn_local(deliver(
            Rc::clone(&shared),
            user,
            SmallRng::from_rng(rng),
            config.batches,
            deadline,
            (Rc::clone(&drained), Rc::clone(&last)),
        ));
    }
    drain(&mut tasks, drain_limit, &shared.stats).await;
    let users_drained = drained.get();
    BacklogSummary {
        users_drained,
        drained_s: (users_drained == config.users)
            .then(|| last.get().duration_since(start).as_secs_f64()),
    }
}

/// One user: its batches in order, each until it is acknowledged or `deadline` passes.
async fn deliver(
    shared: Rc<Shared>,
    user: u32,
    mut rng: SmallRng,
    batches: u32,
    deadline: Instant,
    (drained, last): (Rc<Cell<u32>>, Rc<Cell<Instant>>),
) {
    let mut body = shared.body_buffer();
    for seq in 1..=batches {
        let (payload, records) = shared.user_batch(&mut body, &mut rng, user, u64::from(seq));
        loop {
            if Instant::now() >= deadline {
                return;
            }
            let sent = Instant::now();
            let outcome = post(&shared.client, &shared.url, payload.clone()).await;
            shared
                .stats
                .borrow_mut()
                .record(&outcome, sent.elapsed(), records as u64);
            let wait_s = match outcome {
                Outcome::Accepted(_) => break,
                Outcome::Status {
                    code: 503 | 429,
                    retry_after,
                } => retry_after.unwrap_or(1) as f64,
                // Refused for good (the report counts it); sending it again would not help.
                Outcome::Status { .. } => break,
                Outcome::Failed(_) => 1.0,
            };
            let jitter = rng.random_range(0.0..1.0);
            sleep_until((Instant::now() + Duration::from_secs_f64(wait_s + jitter)).min(deadline))
                .await;
        }
    }
    drained.set(drained.get() + 1);
    last.set(last.get().max(Instant::now()));
}
