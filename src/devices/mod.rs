//! Device → wearer mapping (DESIGN §6): an in-process cache in front of the batched SQL
//! lookup, and the bindings file import for standalone deployments.
//!
//! Today the levels are L1 (moka, in process) and L3 (SQL); the Redis level slots in between
//! in [`DeviceDirectory::resolve`].

mod import;

pub use import::{ImportError, parse_bindings_csv};

use crate::config::DevicesConfig;
use crate::store::{Binding, Store, StoreError};
use moka::Expiry;
use moka::future::Cache;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::warn;

/// Resolves device serials to wearers, caching both bindings and "bound to nobody".
#[derive(Clone)]
pub struct DeviceDirectory {
    store: Store,
    /// `None` caches an unknown device, with its shorter lifetime.
    cache: Cache<String, Option<Binding>>,
    /// Devices already reported as bound to several users, so each is logged once.
    reported: Arc<Mutex<HashSet<String>>>,
}

struct BindingExpiry {
    known: Duration,
    unknown: Duration,
}

impl Expiry<String, Option<Binding>> for BindingExpiry {
    fn expire_after_create(
        &self,
        _device: &String,
        binding: &Option<Binding>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(if binding.is_some() {
            self.known
        } else {
            self.unknown
        })
    }
}

impl DeviceDirectory {
    /// A directory over `store` with the cache sizes and lifetimes of `config`.
    pub fn new(store: Store, config: &DevicesConfig) -> Self {
        let cache = Cache::builder()
            .max_capacity(config.cache_capacity)
            .expire_after(BindingExpiry {
                known: Duration::from_secs(config.cache_ttl_secs),
                unknown: Duration::from_secs(config.unknown_ttl_secs),
            })
            .build();
        Self {
            store,
            cache,
            reported: Arc::default(),
        }
    }

    /// Bindings of `devices`; devices bound to no user are absent. One SQL query (per 1000
    /// devices) answers every device the cache does not know.
    pub async fn resolve(&self, devices: &[&str]) -> Result<HashMap<String, Binding>, StoreError> {
        let mut found = HashMap::with_capacity(devices.len());
        let mut misses = Vec::new();
        for &device in devices {
            match self.cache.get(device).await {
                Some(Some(binding)) => {
                    found.insert(device.to_owned(), binding);
                }
                Some(None) => {}
                None => misses.push(device.to_owned()),
            }
        }
        if misses.is_empty() {
            return Ok(found);
        }
        let lookup = self.store.lookup_bindings(&misses).await?;
        self.report_ambiguous(&lookup.ambiguous);
        for device in misses {
            let binding = lookup.bindings.get(&device).copied();
            self.cache.insert(device.clone(), binding).await;
            if let Some(binding) = binding {
                found.insert(device, binding);
            }
        }
        Ok(found)
    }

    /// Forgets what the cache knows of `device`, so the next upload reads its binding anew.
    pub async fn invalidate(&self, device: &str) {
        self.cache.invalidate(device).await;
    }

    fn report_ambiguous(&self, devices: &[String]) {
        if devices.is_empty() {
            return;
        }
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for device in devices {
            if reported.insert(device.clone()) {
                warn!(device_sn = %device, "Device is bound to several live users; the newest user (highest id) gets its samples.");
            }
        }
    }
}
