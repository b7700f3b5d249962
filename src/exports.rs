//! Planning FHIR Bulk Data exports. The instance that takes a kick-off records the job and
//! plans it in a task of its own: the samples (stored since `_since`, up to now) are cut into
//! parts by row id, each part is counted, and the parts that hold samples become the
//! export's NDJSON files. Progress is saved as it goes, so any instance answers the status
//! polls; the files are streamed from the database on request, by any instance, so nothing is
//! held in memory or on disk.

use crate::store::{ExportStatus, Part, Store, StoreError, parts_covering};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// How often progress is saved while counting.
const SAVE_EVERY: Duration = Duration::from_millis(500);

/// Starts export plans. Cheap to clone.
#[derive(Clone)]
pub struct Exports {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    plans: TaskTracker,
    stop: CancellationToken,
}

/// Owns the plans under way; [`ExportTasks::shutdown`] stops them and waits.
pub struct ExportTasks {
    inner: Arc<Inner>,
}

impl Exports {
    /// Plans exports of `store`.
    pub fn start(store: Store) -> (Exports, ExportTasks) {
        let inner = Arc::new(Inner {
            store,
            plans: TaskTracker::new(),
            stop: CancellationToken::new(),
        });
        (
            Exports {
                inner: Arc::clone(&inner),
            },
            ExportTasks { inner },
        )
    }

    /// Records an export of `request` (samples stored since `since`) and starts planning it.
    /// Returns its id.
    pub async fn kick_off(
        &self,
        request: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<String, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        self.inner
            .store
            .create_export(&id, request, since, Utc::now())
            .await?;
        let (store, stop, job) = (
            self.inner.store.clone(),
            self.inner.stop.clone(),
            id.clone(),
        );
        self.inner.plans.spawn(async move {
            if let Err(err) = plan(&store, &job, since, &stop).await {
                warn!(job = %job, error = %err, "Export planning failed.");
                let _ = store
                    .save_export_progress(
                        &job,
                        0,
                        0,
                        &[],
                        ExportStatus::Failed,
                        Some("the database failed while the export was planned".to_owned()),
                    )
                    .await;
            }
        });
        Ok(id)
    }
}

impl ExportTasks {
    /// Stops the plans under way (each is saved as failed: the client starts it again) and
    /// waits for them.
    pub async fn shutdown(self) {
        self.inner.stop.cancel();
        self.inner.plans.close();
        self.inner.plans.wait().await;
    }
}

/// Counts the parts of export `job` and saves them; stops early when it is cancelled or the
/// service stops.
async fn plan(
    store: &Store,
    job: &str,
    since: Option<DateTime<Utc>>,
    stop: &CancellationToken,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let candidates = match store.export_bounds(since).await? {
        Some((first, last)) => parts_covering(first, last),
        None => Vec::new(),
    };
    let total = i64::try_from(candidates.len()).unwrap_or(i64::MAX);
    let mut parts: Vec<Part> = Vec::new();
    let mut samples = 0u64;
    let mut saved = Instant::now();
    for (done, part) in candidates.iter().enumerate() {
        if stop.is_cancelled() {
            store
                .save_export_progress(
                    job,
                    total,
                    i64::try_from(done).unwrap_or(0),
                    &parts,
                    ExportStatus::Failed,
                    Some(
                        "the service stopped while the export was planned; start it again"
                            .to_owned(),
                    ),
                )
                .await?;
            return Ok(());
        }
        let count = store.count_export_part(*part, since).await?;
        if count > 0 {
            parts.push(*part);
            samples += count;
        }
        if saved.elapsed() >= SAVE_EVERY {
            saved = Instant::now();
            let done = i64::try_from(done + 1).unwrap_or(total);
            if !store
                .save_export_progress(job, total, done, &parts, ExportStatus::Planning, None)
                .await?
            {
                return Ok(()); // cancelled meanwhile
            }
        }
    }
    store
        .save_export_progress(job, total, total, &parts, ExportStatus::Complete, None)
        .await?;
    info!(job = %job, samples, files = parts.len(), planning_ms = started.elapsed().as_millis() as u64, "Export ready.");
    Ok(())
}
