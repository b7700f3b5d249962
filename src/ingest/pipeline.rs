//! The upload pipeline: validate → resolve devices → commit (or replay) → result.

use super::Writer;
use super::activity::Activity;
use super::validate::{Checked, check};
use super::{Sample, Upload};
use crate::devices::DeviceDirectory;
use crate::error::IngestError;
use crate::store::{CommitBatch, Committed, MappedSample, StoredBatch};
use crate::telemetry::metrics as telemetry;
use crate::telemetry::traces::RequestTrace;
use chrono::Utc;
use std::time::Instant;
use tracing::{Instrument, debug, field, info_span};

/// Most strings answered in `error_details` (the seed's `errors[:10]`).
const MAX_DETAILS: usize = 10;

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

    /// Stores the valid records of `upload` and answers once they are committed.
    /// `started` is when reading the request began; the stages are added to `trace`.
    pub async fn upload(
        &self,
        upload: Upload,
        started: Instant,
        trace: &mut RequestTrace,
    ) -> Result<BatchResult, IngestError> {
        let trace_id = trace.context.trace_id_hex();
        let validating = Instant::now();
        let validate_span = info_span!("validate", records = upload.records.len()).entered();
        let total = upload.records.len();
        let now = Utc::now();
        let mut samples = Vec::with_capacity(total);
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut rejected = 0;
        for (index, record) in upload.records.into_iter().enumerate() {
            match record.map(|raw| check(index, raw, now)) {
                Ok(Checked::Valid(sample, w)) => {
                    samples.push(sample);
                    warnings.extend(w);
                }
                Ok(Checked::Rejected(e)) => {
                    rejected += 1;
                    errors.extend(e);
                }
                Err(e) => {
                    rejected += 1;
                    errors.push(e);
                }
            }
        }
        let warning_count = warnings.len();
        let details: Vec<String> = errors
            .into_iter()
            .chain(warnings)
            .take(MAX_DETAILS)
            .collect();
        drop(validate_span);
        trace.stage("validate", validating, Instant::now());
        metrics::histogram!(telemetry::BATCH_RECORDS).record(total as f64);
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

        let resolving = Instant::now();
        let (mapped, unknown) = self
            .split_by_binding(samples)
            .instrument(info_span!(
                "resolve",
                l1_hits = field::Empty,
                misses = field::Empty
            ))
            .await?;
        trace.stage("resolve", resolving, Instant::now());
        let (valid, unknown_count) = (mapped.len() + unknown.len(), unknown.len());
        // Distinct devices for the activity counters, computed once.
        let mut active: Vec<String> = mapped.iter().map(|m| m.sample.device_sn.clone()).collect();
        active.sort_unstable();
        active.dedup();
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
        trace.stage_for("queue_wait", submitted, receipt.queue_wait);
        trace.stage_for("commit", submitted + receipt.queue_wait, receipt.commit);
        let (inserted, duplicates) = match receipt.committed {
            Committed::New {
                inserted,
                duplicates,
            } => (inserted, duplicates),
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
                error_details: details,
                trace_id: Some(trace_id),
            },
            replayed: false,
        })
    }

    /// Splits samples into those of bound devices (with their wearer) and the rest.
    async fn split_by_binding(
        &self,
        samples: Vec<Sample>,
    ) -> Result<(Vec<MappedSample>, Vec<Sample>), IngestError> {
        let mut devices: Vec<&str> = samples.iter().map(|s| s.device_sn.as_str()).collect();
        devices.sort_unstable();
        devices.dedup();
        let bindings = self.devices.resolve(&devices).await?;
        let mut mapped = Vec::with_capacity(samples.len());
        let mut unknown = Vec::new();
        for sample in samples {
            match bindings.get(&sample.device_sn) {
                Some(&binding) => mapped.push(MappedSample { sample, binding }),
                None => unknown.push(sample),
            }
        }
        Ok((mapped, unknown))
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
