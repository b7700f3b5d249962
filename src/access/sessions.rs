//! Dashboard login: password check, login rate limit, sessions in `HttpOnly; SameSite=Strict`
//! cookies backed by `t_admin_session`, and the CSRF token of each session.
//!
//! A session ends at logout, after `admin.session_ttl_hours` without use, after
//! `admin.session_max_hours` whatever the use, and when the admin password changes (each
//! session records which password it was opened with).

use super::client::Clients;
use super::password;
use crate::config::AdminConfig;
use crate::store::{Store, StoreError};
use crate::telemetry::traceparent::hex;
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::Request;
use poem::web::cookie::{Cookie, SameSite};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// How long a login waits for a free password check before it is answered 503.
const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(10);

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "ljwx_session";
/// Name of the cookie that carries the login form's CSRF token (before any session exists).
pub const LOGIN_CSRF_COOKIE: &str = "ljwx_login_csrf";

/// The dashboard's authentication. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    password_hash: String,
    /// Which password sessions must have been opened with: a short hash of its hash.
    credential: String,
    ttl: Duration,
    max_age: chrono::Duration,
    secure: bool,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    clients: Clients,
    /// Password checks that may run at once.
    checks: Semaphore,
}

/// A logged-in supervisor's session, put into each authenticated request.
#[derive(Debug, Clone)]
pub struct Session {
    token_hash: String,
    /// The token this session's forms carry.
    pub csrf_token: String,
}

/// The password could not be checked now: too many checks are running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct ChecksBusy;

impl Session {
    /// Whether a form's `csrf` field is this session's token (constant-time compare).
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.csrf_token.as_bytes())))
    }
}

impl Auth {
    /// Authentication against `password_hash` (see [`password::resolve`]); login attempts
    /// are counted per client address as `clients` tells it.
    pub fn new(
        config: &AdminConfig,
        clients: Clients,
        store: Store,
        password_hash: String,
    ) -> Self {
        let per_minute =
            NonZeroU32::new(config.login_attempts_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let max_hours = i64::try_from(config.session_max_hours.max(1)).unwrap_or(i64::MAX);
        Self {
            inner: Arc::new(Inner {
                store,
                credential: hex(&Sha256::digest(password_hash.as_bytes()))[..16].to_owned(),
                password_hash,
                ttl: Duration::from_secs(config.session_ttl_hours.max(1) * 3600),
                max_age: chrono::Duration::try_hours(max_hours)
                    .unwrap_or(chrono::Duration::days(7)),
                secure: config.secure_cookie,
                limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
                clock: DefaultClock::default(),
                clients,
                checks: Semaphore::new(config.password_checks.max(1)),
            }),
        }
    }

    /// `Err(seconds to wait)` when the client of `req` used up its login attempts.
    pub fn login_allowed(&self, req: &Request) -> Result<(), u64> {
        let Some(client) = self.client(req) else {
            return Ok(());
        };
        self.inner.limiter.retain_recent();
        match self.inner.limiter.check_key(&client) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.inner.clock.now());
                Err((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
            }
        }
    }

    /// The client's address, as the login rate limit counts it.
    pub fn client(&self, req: &Request) -> Option<IpAddr> {
        self.inner.clients.of(req)
    }

    /// Whether `password` is the admin password. Argon2 is slow (and takes memory) on
    /// purpose: it runs off the async workers, `admin.password_checks` at a time.
    pub async fn password_ok(&self, password: String) -> Result<bool, ChecksBusy> {
        let _check = tokio::time::timeout(PASSWORD_CHECK_WAIT, self.inner.checks.acquire())
            .await
            .map_err(|_| ChecksBusy)?
            .map_err(|_| ChecksBusy)?;
        let phc = self.inner.password_hash.clone();
        Ok(
            tokio::task::spawn_blocking(move || password::verify(&password, &phc))
                .await
                .unwrap_or(false),
        )
    }

    /// Opens a session for `client`; returns the cookie that carries it.
    pub async fn login(&self, client: Option<IpAddr>) -> Result<Cookie, StoreError> {
        let token = random_token();
        let now = Utc::now();
        self.inner
            .store
            .create_session(
                &token_hash(&token),
                &random_token(),
                &self.inner.credential,
                client.map(|c| c.to_string()),
                now,
                self.expiry(now, now),
            )
            .await?;
        Ok(self.cookie(SESSION_COOKIE, &token, Some(self.inner.ttl)))
    }

    /// The session whose token the request's cookie carries, if it is live. A session used
    /// in the second half of its life is renewed; the renewed cookie is returned with it.
    pub async fn session(
        &self,
        req: &Request,
    ) -> Result<Option<(Session, Option<Cookie>)>, StoreError> {
        let Some(token) = req.cookie().get(SESSION_COOKIE) else {
            return Ok(None);
        };
        let hash = token_hash(token.value_str());
        let now = Utc::now();
        let Some(stored) = self.live(&hash, now).await? else {
            return Ok(None);
        };
        let expiry = self.expiry(stored.created_at, now);
        let renewed =
            if stored.expires_at - now < half(self.inner.ttl) && expiry > stored.expires_at {
                self.inner.store.renew_session(&hash, expiry).await?;
                let left = (expiry - now).to_std().unwrap_or(Duration::ZERO);
                Some(self.cookie(SESSION_COOKIE, token.value_str(), Some(left)))
            } else {
                None
            };
        Ok(Some((
            Session {
                token_hash: hash,
                csrf_token: stored.csrf_token,
            },
            renewed,
        )))
    }

    /// Whether the session whose cookie value is `token` is live (for callers that only
    /// read, such as the observability API: it is not renewed).
    pub async fn token_is_live(&self, token: &str) -> Result<bool, StoreError> {
        Ok(self.live(&token_hash(token), Utc::now()).await?.is_some())
    }

    /// Whether `session` is still live: not logged out, expired, past its lifetime, or of
    /// an older password. Open live feeds ask now and then, and end when it is not.
    pub async fn is_live(&self, session: &Session) -> Result<bool, StoreError> {
        Ok(self.live(&session.token_hash, Utc::now()).await?.is_some())
    }

    /// The stored session of `hash`, if it is live at `now`.
    async fn live(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::store::AdminSession>, StoreError> {
        let stored = self.inner.store.session(hash, now).await?;
        Ok(stored.filter(|s| {
            // Same length, so the comparison time says nothing about where they differ.
            bool::from(
                s.credential
                    .as_bytes()
                    .ct_eq(self.inner.credential.as_bytes()),
            ) && now < s.created_at + self.inner.max_age
        }))
    }

    /// Ends `session`; returns the cookie that clears it in the browser.
    pub async fn logout(&self, session: &Session) -> Result<Cookie, StoreError> {
        self.inner.store.delete_session(&session.token_hash).await?;
        Ok(self.cookie(SESSION_COOKIE, "", Some(Duration::ZERO)))
    }

    /// A new CSRF token for the login form and the cookie that carries it.
    pub fn login_csrf(&self) -> (String, Cookie) {
        let token = random_token();
        let cookie = self.cookie(LOGIN_CSRF_COOKIE, &token, Some(Duration::from_secs(3600)));
        (token, cookie)
    }

    /// Whether the login form's `csrf` field matches its cookie.
    pub fn login_csrf_ok(req: &Request, presented: Option<&str>) -> bool {
        let Some(cookie) = req.cookie().get(LOGIN_CSRF_COOKIE) else {
            return false;
        };
        presented.is_some_and(|p| {
            !p.is_empty() && bool::from(p.as_bytes().ct_eq(cookie.value_str().as_bytes()))
        })
    }

    /// When a session opened at `created` and used at `now` ends unless used again: `ttl`
    /// from now, but never past its lifetime.
    fn expiry(&self, created: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        let idle =
            now + chrono::Duration::from_std(self.inner.ttl).unwrap_or(chrono::Duration::hours(12));
        idle.min(created + self.inner.max_age)
    }

    fn cookie(&self, name: &str, value: &str, max_age: Option<Duration>) -> Cookie {
        let mut cookie = Cookie::new_with_str(name, value);
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Strict);
        cookie.set_path("/");
        cookie.set_secure(self.inner.secure);
        if let Some(age) = max_age {
            cookie.set_max_age(age);
        }
        cookie
    }
}

fn half(ttl: Duration) -> chrono::Duration {
    chrono::Duration::from_std(ttl / 2).unwrap_or(chrono::Duration::hours(6))
}

/// 256 random bits, hex.
fn random_token() -> String {
    hex(&rand::random::<[u8; 32]>())
}

/// What `t_admin_session` stores of a token: a stolen table does not log anyone in.
fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Secret};

    #[tokio::test]
    async fn password_checks_wait_for_a_free_slot_then_give_up() {
        let mut config = Config::default();
        config.database.url = Secret::new("sqlite::memory:");
        let db = crate::store::connect(&config.database).await.expect("db");
        crate::store::migrate(&db, None).await.expect("schema");
        let store = Store::new(db);
        let admin = AdminConfig {
            password_checks: 1,
            ..AdminConfig::default()
        };
        let phc = password::hash("right").expect("hash");
        let auth = Auth::new(&admin, Clients::default(), store, phc);
        let busy = auth.inner.checks.acquire().await.expect("the only check");
        // Time stands still but for the waits, which pass at once.
        tokio::time::pause();
        assert_eq!(auth.password_ok("right".to_owned()).await, Err(ChecksBusy));
        drop(busy);
        assert_eq!(auth.password_ok("right".to_owned()).await, Ok(true));
        assert_eq!(auth.password_ok("wrong".to_owned()).await, Ok(false));
    }
}
