//! Device → wearer mapping (DESIGN §6): L1 in process (quick_cache), L2 Redis (optional, shared
//! by instances), L3 the batched SQL lookup; the bindings file import for standalone
//! deployments; the watch that makes binding changes reach every instance ([`BindingWatch`]);
//! and the device keys that uploads may have to present ([`keys`]).
//!
//! Both "bound to user X" and "bound to nobody" are cached, the latter for a shorter time so
//! a binding written by ljwx-boot is picked up soon. Concurrent misses for the same device
//! share one lookup. Redis failures never fail an upload: the lookup goes on to SQL.

mod import;
pub mod keys;
mod watch;

pub use import::{ImportError, parse_bindings_csv};
pub use keys::{DeviceKeys, KeysTask};
pub use watch::BindingWatch;

use crate::config::DevicesConfig;
use crate::domain::Binding;
use crate::redis::Redis;
use crate::store::{Store, StoreError};
use futures_util::future::{BoxFuture, FutureExt, Shared, join_all};
use quick_cache::sync::Cache;
use sea_orm::DbErr;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::warn;

/// What one lookup found: every device asked about, bound (`Some`) or not (`None`).
type Found = Arc<HashMap<String, Option<Binding>>>;
/// A lookup under way, awaited by every request that needs one of its devices.
type Pending = Shared<BoxFuture<'static, Result<Found, Arc<StoreError>>>>;

/// Resolves device serials to wearers through the cache levels. Cheap to clone.
#[derive(Clone)]
pub struct DeviceDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    redis: Option<Redis>,
    /// L1: what each device is bound to, until when. `None` caches an unknown device, with
    /// its shorter lifetime. A lookup costs a hash and a shard's read lock (an upload of
    /// 100 devices asks 100 times: moka's bookkeeping per read was ~4 % of the service's
    /// CPU per record).
    cache: Cache<String, Cached>,
    /// Devices being looked up right now, so concurrent misses share one lookup.
    pending: Mutex<HashMap<String, Pending>>,
    /// Devices already reported as bound to several users, so each is logged once.
    reported: Mutex<HashSet<String>>,
    known_ttl: Duration,
    unknown_ttl: Duration,
    stats: CacheStats,
}

/// Where device lookups were answered, since start.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Devices answered by the in-process cache.
    pub l1_hits: AtomicU64,
    /// Devices answered by Redis.
    pub l2_hits: AtomicU64,
    /// Devices answered by SQL.
    pub l3_lookups: AtomicU64,
}

/// An L1 entry: the binding (or none), and when it stops counting.
#[derive(Debug, Clone, Copy)]
struct Cached {
    binding: Option<Binding>,
    until: Instant,
}

impl DeviceDirectory {
    /// A directory over `store` (and `redis`, when configured) with the cache sizes and
    /// lifetimes of `config`.
    pub fn new(store: Store, redis: Option<Redis>, config: &DevicesConfig) -> Self {
        let known_ttl = Duration::from_secs(config.cache_ttl_secs);
        let unknown_ttl = Duration::from_secs(config.unknown_ttl_secs);
        let cache = Cache::new(usize::try_from(config.cache_capacity).unwrap_or(usize::MAX));
        Self {
            inner: Arc::new(Inner {
                store,
                redis,
                cache,
                pending: Mutex::default(),
                reported: Mutex::default(),
                known_ttl,
                unknown_ttl,
                stats: CacheStats::default(),
            }),
        }
    }

    /// The binding of each of `devices`, in order; `None` for a device bound to no user.
    pub async fn resolve(&self, devices: &[&str]) -> Result<Vec<Option<Binding>>, StoreError> {
        let inner = &self.inner;
        let mut found = vec![None; devices.len()];
        let mut misses: Vec<usize> = Vec::new();
        let now = Instant::now();
        for (i, &device) in devices.iter().enumerate() {
            match inner.cache.get(device).filter(|c| c.until > now) {
                Some(cached) => found[i] = cached.binding,
                None => misses.push(i),
            }
        }
        inner
            .stats
            .l1_hits
            .fetch_add((devices.len() - misses.len()) as u64, Ordering::Relaxed);
        // Recorded on the caller's `resolve` span, where it declared these fields.
        let span = tracing::Span::current();
        span.record("l1_hits", devices.len() - misses.len());
        span.record("misses", misses.len());
        if misses.is_empty() {
            return Ok(found);
        }
        let wanted = misses.iter().map(|&i| devices[i].to_owned()).collect();
        let mut answered = HashMap::new();
        for (wanted, lookup) in self.join_or_start(wanted, &mut answered) {
            let answers = lookup.await.map_err(|err| copy_error(&err))?;
            for device in wanted {
                if let Some(Some(binding)) = answers.get(&device) {
                    answered.insert(device, *binding);
                }
            }
        }
        for i in misses {
            found[i] = answered.get(devices[i]).copied();
        }
        Ok(found)
    }

    /// Forgets what L1 and L2 know of `devices`, so the next upload reads their binding anew.
    pub async fn invalidate(&self, devices: &[String]) {
        for device in devices {
            self.inner.cache.remove(device.as_str());
        }
        if let Some(redis) = &self.inner.redis {
            join_all(devices.iter().map(|d| {
                let cmd = redis::cmd("DEL")
                    .arg(redis.key(&format!("dev:{d}")))
                    .clone();
                async move { redis.query::<i64>(&cmd).await }
            }))
            .await;
        }
    }

    /// Lookup counters per level.
    pub fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    /// Whether Redis is configured, and whether it answered its last call.
    pub fn redis_status(&self) -> Option<bool> {
        self.inner.redis.as_ref().map(Redis::is_healthy)
    }

    /// Groups `misses` by the lookup that answers them: lookups already under way for some,
    /// and one new lookup for the rest. A miss that a lookup answered since it was missed
    /// (the lookup fills L1 before it leaves `pending`) goes into `found` instead.
    fn join_or_start(
        &self,
        misses: Vec<String>,
        found: &mut HashMap<String, Binding>,
    ) -> Vec<(Vec<String>, Pending)> {
        let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut groups: Vec<(Vec<String>, Pending)> = Vec::new();
        let mut mine = Vec::new();
        let now = Instant::now();
        for device in misses {
            match pending.get(&device) {
                Some(lookup) => match groups.iter_mut().find(|(_, l)| l.ptr_eq(lookup)) {
                    Some((devices, _)) => devices.push(device),
                    None => groups.push((vec![device], lookup.clone())),
                },
                None => match self
                    .inner
                    .cache
                    .get(device.as_str())
                    .filter(|c| c.until > now)
                {
                    Some(cached) => {
                        if let Some(binding) = cached.binding {
                            found.insert(device, binding);
                        }
                    }
                    None => mine.push(device),
                },
            }
        }
        if !mine.is_empty() {
            let this = self.clone();
            let devices = mine.clone();
            let lookup: Pending = async move {
                let result = this.lookup(&devices).await;
                let mut pending = this.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
                for device in &devices {
                    pending.remove(device);
                }
                result.map(Arc::new).map_err(Arc::new)
            }
            .boxed()
            .shared();
            for device in &mine {
                pending.insert(device.clone(), lookup.clone());
            }
            groups.push((mine, lookup));
        }
        groups
    }

    /// L2 then L3 for `devices`, filling the levels above with what was found.
    async fn lookup(
        &self,
        devices: &[String],
    ) -> Result<HashMap<String, Option<Binding>>, StoreError> {
        let inner = &self.inner;
        let mut answers = HashMap::with_capacity(devices.len());
        let mut from_sql: Vec<String> = devices.to_vec();
        if let Some(redis) = &inner.redis {
            let keys: Vec<String> = devices
                .iter()
                .map(|d| redis.key(&format!("dev:{d}")))
                .collect();
            let mut mget = redis::cmd("MGET");
            mget.arg(&keys);
            if let Some(values) = redis.query::<Vec<Option<String>>>(&mget).await {
                from_sql.clear();
                for (device, value) in devices.iter().zip(values) {
                    match value.and_then(|v| serde_json::from_str::<Option<Binding>>(&v).ok()) {
                        Some(binding) => {
                            inner.stats.l2_hits.fetch_add(1, Ordering::Relaxed);
                            answers.insert(device.clone(), binding);
                        }
                        None => from_sql.push(device.clone()),
                    }
                }
            }
        }
        if !from_sql.is_empty() {
            inner
                .stats
                .l3_lookups
                .fetch_add(from_sql.len() as u64, Ordering::Relaxed);
            let lookup = inner.store.lookup_bindings(&from_sql).await?;
            self.report_ambiguous(&lookup.ambiguous);
            for device in &from_sql {
                answers.insert(device.clone(), lookup.bindings.get(device).copied());
            }
            self.write_redis(&from_sql, &answers).await;
        }
        let now = Instant::now();
        for (device, &binding) in &answers {
            let ttl = if binding.is_some() {
                inner.known_ttl
            } else {
                inner.unknown_ttl
            };
            let until = now + ttl;
            inner
                .cache
                .insert(device.clone(), Cached { binding, until });
        }
        Ok(answers)
    }

    /// Shares what SQL answered with the other instances through Redis.
    async fn write_redis(&self, devices: &[String], answers: &HashMap<String, Option<Binding>>) {
        let Some(redis) = &self.inner.redis else {
            return;
        };
        let writes = devices.iter().filter_map(|device| {
            let binding = answers.get(device).copied().flatten();
            let ttl = if binding.is_some() {
                self.inner.known_ttl
            } else {
                self.inner.unknown_ttl
            };
            if ttl.is_zero() {
                return None;
            }
            let value = serde_json::to_string(&binding).ok()?;
            let cmd = redis::cmd("SET")
                .arg(redis.key(&format!("dev:{device}")))
                .arg(value)
                .arg("EX")
                .arg(ttl.as_secs())
                .clone();
            Some(async move { redis.query::<()>(&cmd).await })
        });
        // One command per key: in a cluster the keys live on different nodes.
        join_all(writes).await;
    }

    fn report_ambiguous(&self, devices: &[String]) {
        if devices.is_empty() {
            return;
        }
        let mut reported = self
            .inner
            .reported
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for device in devices {
            if reported.insert(device.clone()) {
                warn!(device_sn = %device, "Device is bound to several live users; the newest user (highest id) gets its samples.");
            }
        }
    }
}

/// A shared lookup's error, for one of the requests that waited on it.
fn copy_error(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable(e) => StoreError::Unavailable(DbErr::Custom(e.to_string())),
        StoreError::Database(e) => StoreError::Database(DbErr::Custom(e.to_string())),
    }
}
