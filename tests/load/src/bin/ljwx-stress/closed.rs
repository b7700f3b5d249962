//! Closed loop: the seed's workload. A fixed number of users, each sending a batch, waiting
//! for the answer, thinking, and sending again.
//!
//! The offered load depends on how fast the server answers (a slow server gets fewer
//! requests), so this measures "how does the server behave under N devices", not a fixed
//! rate; the open loop (`open.rs`) does that.

use crate::send::post;
use crate::shared::{Shared, drain};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::rc::Rc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

/// Settings of a closed-loop run.
#[derive(Debug, Clone)]
pub struct ClosedConfig {
    /// Concurrent users.
    pub users: u32,
    /// Shortest think time between a user's requests, in seconds.
    pub think_min: f64,
    /// Longest think time, in seconds.
    pub think_max: f64,
    /// Users started per ramp step.
    pub ramp_per_step: u32,
    /// Pause between ramp steps.
    pub ramp_step: Duration,
}

/// Runs the closed loop until `deadline`, then waits for in-flight requests up to
/// `drain_limit`. Returns how many users were started (fewer than configured when the ramp
/// outlasts the run).
pub async fn run(
    shared: Rc<Shared>,
    config: &ClosedConfig,
    deadline: Instant,
    drain_limit: Instant,
    rng: &mut SmallRng,
) -> u32 {
    let mut tasks = JoinSet::new();
    let mut started = 0u32;
    // The seed started users in steps so that connection setup does not come as one spike.
    while started < config.users && Instant::now() < deadline {
        let step = config.ramp_per_step.min(config.users - started);
        for _ in 0..step {
            started += 1;
            let user_rng = SmallRng::from_rng(rng);
            tasks.spawn_local(user(
                Rc::clone(&shared),
                started,
                user_rng,
                config.clone(),
                deadline,
            ));
        }
        if started < config.users {
            sleep_until((Instant::now() + config.ramp_step).min(deadline)).await;
        }
    }
    drain(&mut tasks, drain_limit, &shared.stats).await;
    started
}

/// One user: send, record, think, until `deadline`.
async fn user(
    shared: Rc<Shared>,
    user: u32,
    mut rng: SmallRng,
    config: ClosedConfig,
    deadline: Instant,
) {
    let mut body = shared.body_buffer();
    let mut seq = 0u64;
    while Instant::now() < deadline {
        seq += 1;
        let (payload, records) = shared.user_batch(&mut body, &mut rng, user, seq);
        let sent = Instant::now();
        let outcome = post(&shared.client, &shared.url, payload).await;
        let latency = sent.elapsed();
        shared
            .stats
            .borrow_mut()
            .record(&outcome, latency, records as u64);
        let think = rng.random_range(config.think_min..=config.think_max);
        // Never sleep past the deadline: the run must end on time.
        sleep_until((Instant::now() + Duration::from_secs_f64(think)).min(deadline)).await;
    }
}
