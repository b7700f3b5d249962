//! State shared by all senders of a run, and the end-of-run drain.
//!
//! Everything runs on one thread inside a `LocalSet`, so sharing is `Rc` plus `Cell`/`RefCell`:
//! no locks and no atomics on the hot path. A `RefCell` borrow is never held across an await
//! (clippy's `await_holding_refcell_ref` would flag it).

use crate::stats::{KIND_ABANDONED, Stats};
use crate::workload::Workload;
use bytes::Bytes;
use rand::rngs::SmallRng;
use reqwest::{Client, Url};
use std::cell::RefCell;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Approximate size of one generated record in the body, in bytes: used to size the reusable
/// body buffers once so they never grow during the run.
const RECORD_BYTES: usize = 340;

/// What every sender of a run uses.
#[derive(Debug)]
pub struct Shared {
    /// The one HTTP client (one connection pool).
    pub client: Client,
    /// The upload endpoint.
    pub url: Url,
    /// The record generator.
    pub workload: Workload,
    /// Records per request.
    pub batch_size: usize,
    /// Prefix of every batch id of the run.
    pub run_id: String,
    /// The results so far.
    pub stats: RefCell<Stats>,
}

impl Shared {
    /// A body buffer big enough for one batch.
    pub fn body_buffer(&self) -> String {
        String::with_capacity(self.batch_size * RECORD_BYTES + 128)
    }

    /// User `user`'s batch `seq` written through `body`: its payload and how many records
    /// it holds.
    pub fn user_batch(
        &self,
        body: &mut String,
        rng: &mut SmallRng,
        user: u32,
        seq: u64,
    ) -> (Bytes, usize) {
        let batch_id = format!("{}_{user}_{seq}", self.run_id);
        let records = self
            .workload
            .write_batch(body, rng, &batch_id, self.batch_size);
        // reqwest takes the body by value; copying it keeps `body`'s capacity for the next
        // batch, which is cheaper than growing a fresh String through every record.
        (Bytes::copy_from_slice(body.as_bytes()), records)
    }
}

/// Waits for every task in `tasks` to finish, but not past `limit`. Tasks still running then
/// are aborted and each is counted as one abandoned request.
///
/// Each task has at most one request outstanding at the deadline, and the client timeout
/// bounds it, so reaching `limit` means something is wrong; the run still ends on time.
pub async fn drain(tasks: &mut JoinSet<()>, limit: Instant, stats: &RefCell<Stats>) {
    let all = async {
        // A panicked task has nothing left to wait for; keep draining the others.
        while tasks.join_next().await.is_some() {}
    };
    if tokio::time::timeout_at(limit, all).await.is_err() {
        let left = tasks.len();
        tasks.abort_all();
        let mut stats = stats.borrow_mut();
        for _ in 0..left {
            stats.record_unsent(KIND_ABANDONED);
        }
    }
}
