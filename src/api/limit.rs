//! Per-client rate limit on the upload endpoints (the seed's nginx `limit_req`): a token
//! bucket per client address, 429 with `Retry-After` when it is empty.

use crate::access::Clients;
use crate::config::RateLimitConfig;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::Request;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Checks between two sweeps of idle clients out of the limiter's table.
const SWEEP_EVERY: u64 = 10_000;

/// The upload rate limiter. Cheap to clone.
#[derive(Clone)]
pub struct UploadRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
    clients: Clients,
    checks: Arc<AtomicU64>,
}

impl UploadRateLimit {
    /// A limiter for `config` counting per client of `clients`, or `None` when rate
    /// limiting is off.
    pub fn new(config: &RateLimitConfig, clients: Clients) -> Option<Self> {
        if !config.enabled {
            return None;
        }
        let rate = NonZeroU32::new(config.per_second.max(1))?;
        // nginx `burst=N nodelay` lets N requests through above the rate: the bucket holds
        // N + 1.
        let capacity = NonZeroU32::new(config.burst.saturating_add(1))?;
        Some(Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(capacity),
            )),
            clock: DefaultClock::default(),
            clients,
            checks: Arc::default(),
        })
    }

    /// `Some(seconds to wait)` when the client of `req` is over its rate.
    pub fn check(&self, req: &Request) -> Option<u64> {
        let client = self.clients.of(req)?;
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        let not_until = self.limiter.check_key(&client).err()?;
        let wait = not_until.wait_time_from(self.clock.now());
        let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(retry_after.max(1))
    }
}
