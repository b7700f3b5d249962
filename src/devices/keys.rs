//! Device credentials (DESIGN §10): keys of 256 random bits, shown once when issued, stored
//! only as SHA-256, and checked on uploads through the cache levels: L1 in process, L2 Redis
//! (when configured), L3 SQL.
//!
//! Revocation reaches every instance within about a second: each instance watches how many
//! keys were ever revoked (one small query a second). When the count changes, every cached
//! answer of the old count is dropped, in L1 at once and in Redis by naming entries after the
//! count, so no instance can read an answer given before the revocation.

use crate::domain::{DeviceKey, KeyOwner};
use crate::redis::Redis;
use crate::store::{KeyInfo, Store, StoreError};
use crate::telemetry::traceparent::hex;
use chrono::Utc;
use moka::Expiry;
use moka::future::Cache;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

/// Unrevoked keys a device (or a customer's gateways) may hold at once: the one in use and
/// its successor during a rotation.
pub const MAX_ACTIVE_KEYS: u64 = 2;
/// What every key starts with, so a leaked one is recognised (by secret scanners, in logs).
pub const KEY_PREFIX: &str = "ljwx_";
/// How long a valid key is trusted from a cache level (revocation does not wait for it).
const KNOWN_TTL: Duration = Duration::from_secs(300);
/// How long "no such key" is trusted.
const UNKNOWN_TTL: Duration = Duration::from_secs(60);
/// How often each instance looks for revocations.
const REVOCATION_POLL: Duration = Duration::from_secs(1);
/// Keys kept in L1.
const CACHE_CAPACITY: u64 = 200_000;

/// Checks, issues and revokes device keys. Cheap to clone.
#[derive(Clone)]
pub struct DeviceKeys {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    redis: Option<Redis>,
    /// L1, by key hash. Entries answered under another revocation count are stale.
    cache: Cache<[u8; 32], Cached>,
    /// Keys ever revoked, as last read.
    revocations: AtomicU64,
}

#[derive(Clone)]
struct Cached {
    revocations: u64,
    key: Option<DeviceKey>,
}

struct CachedExpiry;

impl Expiry<[u8; 32], Cached> for CachedExpiry {
    fn expire_after_create(&self, _: &[u8; 32], value: &Cached, _: Instant) -> Option<Duration> {
        Some(if value.key.is_some() {
            KNOWN_TTL
        } else {
            UNKNOWN_TTL
        })
    }
}

/// Owns the task that watches for revocations; [`KeysTask::shutdown`] stops it.
pub struct KeysTask {
    handle: JoinHandle<()>,
    stop: CancellationToken,
}

impl KeysTask {
    /// Stops the watch and waits for it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.handle.await;
    }
}

/// A new key: `ljwx_` and 256 random bits in hex.
pub fn generate() -> String {
    format!("{KEY_PREFIX}{}", hex(&rand::random::<[u8; 32]>()))
}

/// SHA-256 of a key, as stored.
pub fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl DeviceKeys {
    /// Keys of `store`, shared through `redis` when configured, with the task that watches
    /// for revocations.
    pub async fn start(store: Store, redis: Option<Redis>) -> Result<(Self, KeysTask), StoreError> {
        let revocations = store.revoked_key_count().await?;
        let keys = Self {
            inner: Arc::new(Inner {
                store,
                redis,
                cache: Cache::builder()
                    .max_capacity(CACHE_CAPACITY)
                    .expire_after(CachedExpiry)
                    .build(),
                revocations: AtomicU64::new(revocations),
            }),
        };
        let stop = CancellationToken::new();
        let handle = tokio::spawn(keys.clone().watch(stop.clone()));
        Ok((keys, KeysTask { handle, stop }))
    }

    /// The valid key `presented` is, or `None` when it is unknown or revoked.
    pub async fn check(&self, presented: &str) -> Result<Option<DeviceKey>, StoreError> {
        let inner = &self.inner;
        let hash = hash(presented);
        let revocations = inner.revocations.load(Ordering::Acquire);
        if let Some(cached) = inner.cache.get(&hash).await
            && cached.revocations == revocations
        {
            return Ok(cached.key);
        }
        let redis_key = inner
            .redis
            .as_ref()
            .map(|r| r.key(&format!("key:{revocations}:{}", hex(&hash))));
        let from_redis = match (&inner.redis, &redis_key) {
            (Some(redis), Some(k)) => redis
                .query::<Option<String>>(redis::cmd("GET").arg(k))
                .await
                .flatten()
                .and_then(|v| serde_json::from_str::<Option<DeviceKey>>(&v).ok()),
            _ => None,
        };
        let key = match from_redis {
            Some(key) => key,
            None => {
                let key = inner.store.key_by_hash(&hex(&hash)).await?;
                if let (Some(redis), Some(k)) = (&inner.redis, &redis_key) {
                    let ttl = if key.is_some() {
                        KNOWN_TTL
                    } else {
                        UNKNOWN_TTL
                    };
                    if let Ok(value) = serde_json::to_string(&key) {
                        let cmd = redis::cmd("SET")
                            .arg(k)
                            .arg(value)
                            .arg("EX")
                            .arg(ttl.as_secs())
                            .clone();
                        redis.query::<()>(&cmd).await;
                    }
                }
                key
            }
        };
        inner
            .cache
            .insert(
                hash,
                Cached {
                    revocations,
                    key: key.clone(),
                },
            )
            .await;
        Ok(key)
    }

    /// Issues a key to `owner`: the key (shown once, never stored) and its record; `None`
    /// when `owner` holds [`MAX_ACTIVE_KEYS`] unrevoked keys already.
    pub async fn issue(&self, owner: &KeyOwner) -> Result<Option<(String, KeyInfo)>, StoreError> {
        issue(&self.inner.store, owner).await
    }

    /// Every key of `owner`, revoked ones too, oldest first.
    pub async fn list(&self, owner: &KeyOwner) -> Result<Vec<KeyInfo>, StoreError> {
        self.inner.store.keys_of(owner).await
    }

    /// Revokes key `id` of `owner` (every unrevoked key of `owner` when `None`); this
    /// instance stops accepting it at once, the others within about a second.
    pub async fn revoke(
        &self,
        owner: &KeyOwner,
        id: Option<i64>,
    ) -> Result<Vec<KeyInfo>, StoreError> {
        let revoked = self.inner.store.revoke_keys(owner, id, Utc::now()).await?;
        if !revoked.is_empty() {
            self.refresh().await?;
        }
        Ok(revoked)
    }

    /// Reads the revocation count; when it changed, cached answers are dropped.
    async fn refresh(&self) -> Result<(), StoreError> {
        let count = self.inner.store.revoked_key_count().await?;
        if self.inner.revocations.swap(count, Ordering::AcqRel) != count {
            self.inner.cache.invalidate_all();
            info!(
                revoked_keys = count,
                "Device keys revoked; cached keys dropped."
            );
        }
        Ok(())
    }

    async fn watch(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(REVOCATION_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            // The database being away is reported by uploads and the health check; cached
            // keys stay as they were meanwhile.
            if let Err(err) = self.refresh().await {
                debug!(error = %err, "Cannot read device key revocations.");
            }
        }
    }
}

/// Issues a key to `owner` in `store` (also for the command line, which has no cache).
pub async fn issue(
    store: &Store,
    owner: &KeyOwner,
) -> Result<Option<(String, KeyInfo)>, StoreError> {
    let key = generate();
    let issued = store
        .issue_key(owner, &hex(&hash(&key)), Utc::now(), MAX_ACTIVE_KEYS)
        .await?;
    Ok(issued.map(|info| (key, info)))
}
