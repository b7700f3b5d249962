//! The types and rules every layer shares — the sample and its wearer, device serials, the
//! vital signs, alert levels, statuses, rules and episodes, batch results, device keys, trace
//! stages — with nothing of HTTP, SQL or I/O. This module imports nothing else of the crate: `ingest`,
//! `store`, `alerts`, `devices` and `api` depend on it, never it on them.

mod alert;
mod batch;
pub mod episode;
mod keys;
pub mod rules;
mod sample;
mod stage;
mod vital;

pub use alert::{Alert, AlertLevel, AlertStatus};
pub use batch::{MAX_DETAILS, REUSED_BATCH_ID, StoredBatch, with_reused_note};
pub use keys::{DeviceKey, KeyOwner};
pub use rules::{AlertField, AlertRule, Reading, RuleError, Rules};
pub use sample::{Binding, MappedSample, Sample, StoredSample, is_valid_device_sn};
pub use stage::Stage;
pub use vital::Vital;
