//! The upload pipeline: validate → resolve devices → commit (or replay) → result.

use super::IngestError;
use super::Upload;
use super::Writer;
use super::activity::{Activity, device_hash};
use super::validate::{Checked, check};
use crate::devices::DeviceDirectory;
use crate::domain::{
    Binding, DeviceKey, KeyOwner, MAX_DETAILS, MappedSample, Sample, Stage, StoredBatch,
    with_reused_note,
};
use crate::store::{CommitBatch, Committed};
use crate::telemetry::metrics as telemetry;
use crate::telemetry::traces::RequestTrace;
use chrono::Utc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;
use tracing::{Instrument, debug, field, info_span};

/// Runs uploads from parsed body to committed rows.
#[derive(Clone)]
pub struct Ingest {
    devices: DeviceDirectory,
    writer: Writer,
    activity: Activity,
}

/// What an accepted upload answers: the batch record (the seed's fields plus ours), and
/// whether it is the record of an earlier request with the same `batchId`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResult {
    /// The counts answered, as stored in the batch log.
    pub batch: StoredBatch,
    /// `true` when the batch id was committed before and this is that first result.
    pub replayed: bool,
}

impl Ingest {
    /// A pipeline resolving devices through `devices` and committing through `writer`.
    pub fn new(devices: DeviceDirectory, writer: Writer, activity: Activity) -> Self {
        Self {
            devices,
            writer,
            activity,
        }
    }

    /// One of the writer's upload slots, held from parsing a body until its answer (see
    /// [`Writer::slot`]).
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        self.writer.slot().await
    }

    /// Stores the valid records of `upload` and answers once they are committed. With a
    /// device `key`, records of devices it does not cover are rejected. `started` is when
    /// reading the request began; the stages are added to `trace`.
    pub async fn upload(
        &self,
        upload: Upload,
        key: Option<&DeviceKey>,
        started: Instant,
        trace: &mut RequestTrace,
    ) -> Result<BatchResult, IngestError> {
        let trace_id = trace.context.trace_id_hex();
        let validating = Instant::now();
        let validate_span = info_span!("validate", records = upload.records.len()).entered();
        let total = upload.records.len();
        let now = Utc::now();
        let mut checked = Checks::with_capacity(total);
        for (index, record) in upload.records.into_iter().enumerate() {
            match record.map(|raw| check(index, raw, now)) {
                Ok(Checked::Valid(sample, warnings)) => match key.map(|k| &k.owner) {
                    Some(KeyOwner::Device(device)) if *device != sample.device_sn => {
                        checked.reject(index, vec![not_covered(index)]);
                    }
                    _ => checked.keep(index, sample, warnings),
                },
                Ok(Checked::Rejected(errors)) => checked.reject(index, errors),
                Err(error) => checked.reject(index, vec![error]),
            }
        }
        drop(validate_span);
        trace.stage(Stage::Validate, validating, Instant::now());

        let resolving = Instant::now();
        let resolve_span = info_span!("resolve", l1_hits = field::Empty, misses = field::Empty);
        if !checked.samples.is_empty() {
            checked.wearers = self
                .wearers(&checked.samples)
                .instrument(resolve_span)
                .await?;
        }
        if let Some(KeyOwner::Customer(customer)) = key.map(|k| &k.owner) {
            // A gateway key covers the devices bound to its customer.
            checked.reject_where(not_covered, |wearer| {
                wearer.is_none_or(|b| b.customer_id != Some(*customer))
            });
        }
        trace.stage(Stage::Resolve, resolving, Instant::now());
        metrics::histogram!(telemetry::BATCH_RECORDS).record(total as f64);
        let Checks {
            samples,
            wearers,
            rejected,
            warning_count,
            details,
            ..
        } = checked.finish();
        if rejected > 0 {
            metrics::counter!(telemetry::RECORDS, "outcome" => "rejected")
                .increment(rejected as u64);
        }
        if samples.is_empty() {
            return Err(IngestError::NoValidRecords { details });
        }

        // A client's batch id is looked up by the writer, once for its whole group: a replay
        // comes back as `Committed::Replayed` below.
        let client_batch_id = upload.batch_id.is_some();
        let batch_id = upload.batch_id.unwrap_or_else(generate_batch_id);
        let (mapped, unknown) = split(samples, wearers);
        let (valid, unknown_count) = (mapped.len() + unknown.len(), unknown.len());
        // The devices for the activity counters, before the samples go to the writer.
        let active: Vec<u64> = mapped
            .iter()
            .map(|m| device_hash(&m.sample.device_sn))
            .collect();
        let submitted = Instant::now();
        let commit_span = info_span!(
            "commit",
            queue_wait_ms = field::Empty,
            commit_ms = field::Empty,
            group_batches = field::Empty,
            group_rows = field::Empty
        );
        let receipt = self
            .writer
            .submit(CommitBatch {
                batch_id: batch_id.clone(),
                client_batch_id,
                fingerprint: upload.fingerprint,
                mapped,
                unknown,
                total_records: total,
                errors: rejected,
                warnings: warning_count,
                error_details: details.clone(),
                processing_time_ms: elapsed_ms(started),
                trace_id: Some(trace_id.clone()),
            })
            .instrument(commit_span.clone())
            .await?;
        // The wait and the commit happen in a writer task shared by the whole group: their
        // durations come back with the receipt.
        commit_span.record("queue_wait_ms", receipt.queue_wait.as_secs_f64() * 1e3);
        commit_span.record("commit_ms", receipt.commit.as_secs_f64() * 1e3);
        commit_span.record("group_batches", receipt.group_batches);
        commit_span.record("group_rows", receipt.group_rows);
        trace.stage_for(Stage::QueueWait, submitted, receipt.queue_wait);
        trace.stage_for(
            Stage::Commit,
            submitted + receipt.queue_wait,
            receipt.commit,
        );
        let (inserted, duplicates, reused) = match receipt.committed {
            Committed::New {
                inserted,
                duplicates,
                batch_id_reused,
            } => (inserted, duplicates, batch_id_reused),
            Committed::Replayed(stored) => return Ok(replay(stored)),
        };
        for (outcome, n) in [
            ("inserted", inserted),
            ("duplicate", duplicates),
            ("unknown_device", unknown_count),
        ] {
            if n > 0 {
                metrics::counter!(telemetry::RECORDS, "outcome" => outcome).increment(n as u64);
            }
        }
        if inserted > 0 {
            self.activity.record(inserted as u64, active);
        }
        if unknown_count > 0 {
            debug!(batch_id = %batch_id, samples = unknown_count, "Samples of unbound devices quarantined.");
        }
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(BatchResult {
            batch: StoredBatch {
                batch_id,
                total_records: count(total),
                valid_records: count(valid),
                errors: count(rejected),
                warnings: count(warning_count),
                inserted: count(inserted),
                duplicates: count(duplicates),
                unknown_device: count(unknown_count),
                processing_time_ms: elapsed_ms(started),
                error_details: if reused {
                    with_reused_note(&details)
                } else {
                    details
                },
                trace_id: Some(trace_id),
            },
            replayed: false,
        })
    }

    /// The wearer of each sample's device, in order (`None`: bound to no user), each device
    /// looked up once.
    async fn wearers(&self, samples: &[Sample]) -> Result<Vec<Option<Binding>>, IngestError> {
        let mut devices: Vec<&str> = samples.iter().map(|s| s.device_sn.as_str()).collect();
        devices.sort_unstable();
        devices.dedup();
        let bindings = self.devices.resolve(&devices).await?;
        Ok(samples
            .iter()
            .map(|s| {
                devices
                    .binary_search(&s.device_sn.as_str())
                    .ok()
                    .and_then(|i| bindings[i])
            })
            .collect())
    }
}

/// Splits samples into those of bound devices (with their wearer) and the rest.
fn split(samples: Vec<Sample>, wearers: Vec<Option<Binding>>) -> (Vec<MappedSample>, Vec<Sample>) {
    let mut mapped = Vec::with_capacity(samples.len());
    let mut unknown = Vec::new();
    for (sample, wearer) in samples.into_iter().zip(wearers) {
        match wearer {
            Some(binding) => mapped.push(MappedSample { sample, binding }),
            None => unknown.push(sample),
        }
    }
    (mapped, unknown)
}

/// The error of a record whose device the upload's key does not cover.
fn not_covered(index: usize) -> String {
    format!("index {index}: deviceSn: not allowed for this key")
}

/// The records of an upload as validation leaves them: samples kept (with their record
/// index, and once resolved their wearer), and the errors and warnings to answer.
#[derive(Default)]
struct Checks {
    samples: Vec<Sample>,
    indexes: Vec<usize>,
    /// One per sample once resolved (`None`: a device bound to no user); empty before.
    wearers: Vec<Option<Binding>>,
    rejected: usize,
    errors: Vec<(usize, String)>,
    warnings: Vec<(usize, String)>,
    warning_count: usize,
    details: Vec<String>,
}

impl Checks {
    fn with_capacity(records: usize) -> Self {
        Self {
            samples: Vec::with_capacity(records),
            indexes: Vec::with_capacity(records),
            ..Self::default()
        }
    }

    fn keep(&mut self, index: usize, sample: Sample, warnings: Vec<String>) {
        self.samples.push(sample);
        self.indexes.push(index);
        self.warnings
            .extend(warnings.into_iter().map(|w| (index, w)));
    }

    fn reject(&mut self, index: usize, errors: Vec<String>) {
        self.rejected += 1;
        self.errors.extend(errors.into_iter().map(|e| (index, e)));
    }

    /// Rejects the resolved samples whose wearer `refused` holds for, each with the error
    /// `error(index)`.
    fn reject_where(
        &mut self,
        error: fn(usize) -> String,
        refused: impl Fn(Option<Binding>) -> bool,
    ) {
        let mut kept = Vec::with_capacity(self.samples.len());
        let mut indexes = Vec::with_capacity(self.indexes.len());
        let mut wearers = Vec::with_capacity(self.wearers.len());
        let mut dropped = Vec::new();
        let resolved = self
            .samples
            .drain(..)
            .zip(self.indexes.drain(..))
            .zip(self.wearers.drain(..));
        for ((sample, index), wearer) in resolved {
            if refused(wearer) {
                dropped.push(index);
            } else {
                kept.push(sample);
                indexes.push(index);
                wearers.push(wearer);
            }
        }
        (self.samples, self.indexes, self.wearers) = (kept, indexes, wearers);
        if dropped.is_empty() {
            return;
        }
        self.warnings
            .retain(|(i, _)| dropped.binary_search(i).is_err());
        for index in dropped {
            self.reject(index, vec![error(index)]);
        }
        self.errors.sort_by_key(|(i, _)| *i);
    }

    /// Counts the warnings and puts the answered details together: errors first, then
    /// warnings, each in record order, at most [`MAX_DETAILS`].
    fn finish(mut self) -> Self {
        self.warning_count = self.warnings.len();
        self.details = self
            .errors
            .drain(..)
            .chain(self.warnings.drain(..))
            .map(|(_, text)| text)
            .take(MAX_DETAILS)
            .collect();
        self
    }
}

fn replay(stored: StoredBatch) -> BatchResult {
    BatchResult {
        batch: stored,
        replayed: true,
    }
}

/// `batch_<uuid v7>`: time-ordered like the seed's `batch_<microseconds>`, but unique across
/// concurrent requests and instances.
fn generate_batch_id() -> String {
    format!("batch_{}", uuid::Uuid::now_v7().simple())
}

fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}
