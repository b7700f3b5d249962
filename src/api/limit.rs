//! Per-client rate limit on the upload endpoints (the seed's nginx `limit_req`): a token
//! bucket per client address, 429 with `Retry-After` when it is empty.

use super::wire::ErrorBody;
use crate::config::RateLimitConfig;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::http::StatusCode;
use poem::{IntoResponse, Request, Response};
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
    trust_forwarded_for: bool,
    checks: Arc<AtomicU64>,
}

impl UploadRateLimit {
    /// A limiter for `config`, or `None` when rate limiting is off.
    pub fn new(config: &RateLimitConfig) -> Option<Self> {
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
            trust_forwarded_for: config.trust_forwarded_for,
            checks: Arc::default(),
        })
    }

    /// `Some(429 response)` when the client of `req` is over its rate.
    pub fn check(&self, req: &Request) -> Option<Response> {
        let client = self.client(req)?;
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        let not_until = self.limiter.check_key(&client).err()?;
        let wait = not_until.wait_time_from(self.clock.now());
        let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(
            poem::web::Json(ErrorBody::new(
                "rate_limited",
                "too many requests from this client; retry after the given seconds",
            ))
            .with_status(StatusCode::TOO_MANY_REQUESTS)
            .with_header("Retry-After", retry_after.max(1))
            .into_response(),
        )
    }

    fn client(&self, req: &Request) -> Option<IpAddr> {
        client_address(req, self.trust_forwarded_for)
    }
}

/// The client's address: the peer, or with `trust_forwarded_for` (behind nginx) the first
/// `X-Forwarded-For` / `X-Real-IP` address when there is one.
pub fn client_address(req: &Request, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = req
            .header("x-forwarded-for")
            .and_then(|v| v.split(',').next())
            .or_else(|| req.header("x-real-ip"))
            .and_then(|v| v.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    req.remote_addr().as_socket_addr().map(|a| a.ip())
}

/// Whether `path` is an upload endpoint (only those are limited).
pub fn is_upload(path: &str) -> bool {
    matches!(path, "/upload_health_data_batch" | "/upload_health_data")
}
