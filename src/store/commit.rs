//! Committing a group of upload batches in one transaction: samples, quarantine, the counts
//! for the daily counters, alerts and the batch records. The group-commit writer calls this;
//! an upload is answered only after it returned.

use super::alerts::{self, AlertEvent};
use super::batch_rows::insert_batch_rows;
use super::batches::{KnownBatches, find_batches};
use super::daily;
use super::driver::Driver;
use super::group::{CommitBatch, Group};
use super::samples::{insert_health, insert_quarantine, rows_of_batches};
use super::session::{CommitConn, HeldConn, Holds, Txn};
use super::{Store, StoreError, is_transient, is_unique_violation};
use crate::domain::{Rules, StoredBatch};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sqlx::{MySql, Postgres, Sqlite};
use sea_orm::{DatabaseConnection, DbBackend, DbErr, TransactionSession};
use std::collections::HashSet;
use tracing::{Instrument, warn};

/// Times a transaction that hit a deadlock or serialization failure is run again.
const MAX_RETRIES: u32 = 3;

/// The outcome of one batch of a group.
#[derive(Debug, Clone)]
pub enum Committed {
    /// The batch is committed.
    New {
        /// New rows in `t_user_health_data`.
        inserted: usize,
        /// Mapped samples that were stored before.
        duplicates: usize,
        /// The client's batch id was used before for other records (committed earlier, or
        /// by an earlier batch of the same group): the answer says so.
        batch_id_reused: bool,
    },
    /// The same batch (id and records) was committed before, by another request, perhaps on
    /// another instance; this is that first result, and nothing of this batch was written.
    Replayed(StoredBatch),
}

/// What a committed group did.
#[derive(Debug, Clone)]
pub struct GroupCommitted {
    /// One outcome per batch, in order.
    pub outcomes: Vec<Committed>,
    /// Alerts opened or escalated by this commit (each queued a notification).
    pub alert_events: Vec<AlertEvent>,
}

/// What one transaction attempt did.
enum Attempt {
    /// Committed; new rows per active batch, in order, and the alert events.
    Committed(Vec<usize>, Vec<AlertEvent>),
    /// Rolled back: a batch id of the group was committed before or meanwhile (a replay, or
    /// another batch that reuses the id). The group looks its ids up and runs again.
    Taken,
}

/// Rounds of look-up and commit a group runs before giving up, when each round finds that
/// another transaction committed one of its batch ids meanwhile.
const MAX_ROUNDS: u32 = 5;

/// The record of `batch` among `known`, if the same batch was committed before.
fn stored<'a>(known: &'a KnownBatches, batch: &CommitBatch) -> Option<&'a StoredBatch> {
    known.get(&batch.batch_id)?.get(&batch.fingerprint)
}

impl Store {
    /// Commits `batches` in one transaction at time `now` (calendar day `day`) on the writer's
    /// connection `conn`, retrying deadlocks, with the alerts that `rules` raise from the newly
    /// stored samples. Returns one outcome per batch, in order, only once everything is
    /// durable; on error nothing of the group was committed.
    pub async fn commit_group(
        &self,
        conn: &mut CommitConn,
        batches: &[CommitBatch],
        now: DateTime<Utc>,
        day: NaiveDate,
        rules: Option<&Rules>,
    ) -> Result<GroupCommitted, StoreError> {
        let commit = Commit {
            db: &self.db,
            batches,
            now,
            day,
            rules,
        };
        match self.backend() {
            DbBackend::MySql => self.commit_held::<MySql>(conn, &commit).await,
            DbBackend::Postgres => self.commit_held::<Postgres>(conn, &commit).await,
            _ => self.commit_held::<Sqlite>(conn, &commit).await,
        }
    }

    /// Runs `commit` on the held connection. A connection held since an earlier commit may
    /// have been dropped by the server meanwhile (a restart, a timeout): when it fails, the
    /// commit runs once more on a new one. That is safe even if the first attempt committed
    /// and only its answer was lost: its batch records are then found and answered as
    /// replays, and no sample is stored twice.
    async fn commit_held<DB: Holds>(
        &self,
        conn: &mut CommitConn,
        commit: &Commit<'_>,
    ) -> Result<GroupCommitted, StoreError> {
        loop {
            let (mut held, reused) = conn.take::<DB>(&self.db).await?;
            match commit.run::<DB>(&mut held).await {
                Err(StoreError::Unavailable(err)) => {
                    conn.discard();
                    if !reused {
                        return Err(StoreError::Unavailable(err));
                    }
                    warn!(error = %err, "The writer's connection failed; committing on a new one.");
                }
                result => return result,
            }
        }
    }
}

/// One group to commit, and how.
struct Commit<'a> {
    /// The pool, for the look-ups outside the transaction (on MySQL the held connection has
    /// autocommit off: a read there would open a transaction).
    db: &'a DatabaseConnection,
    batches: &'a [CommitBatch],
    now: DateTime<Utc>,
    day: NaiveDate,
    rules: Option<&'a Rules>,
}

impl Commit<'_> {
    /// Commits the group on `conn`.
    ///
    /// The first round writes without looking the batch ids up: almost every batch is new,
    /// and the batch records' unique keys tell the rare one that is not (its record is
    /// skipped, `insert_batch_rows`). Such a round rolls back; the next one looks the ids up
    /// first, answers replays with their stored result, marks reused ids, and writes the
    /// rest. A look-up before every commit cost a round trip and a tenth of the service's
    /// CPU (docs/BENCHMARKS.md).
    async fn run<DB: Driver>(
        &self,
        conn: &mut HeldConn<'_, DB>,
    ) -> Result<GroupCommitted, StoreError> {
        let batches = self.batches;
        let mut outcomes: Vec<Option<Committed>> = vec![None; batches.len()];
        // A batch (id and records) is written once per group; later copies get the first
        // one's result.
        let mut seen = HashSet::new();
        let mut active: Vec<usize> = (0..batches.len())
            .filter(|&i| seen.insert(batches[i].key()))
            .collect();
        let mut known = KnownBatches::new();
        let mut looked_up = false;
        let mut rounds = 0;
        let mut retries = 0;
        let mut alert_events = Vec::new();
        while !active.is_empty() {
            if looked_up {
                // One look-up for the whole group rather than one per upload.
                let mut client_ids: Vec<&str> = active
                    .iter()
                    .map(|&i| &batches[i])
                    .filter(|b| b.client_batch_id)
                    .map(|b| b.batch_id.as_str())
                    .collect();
                client_ids.sort_unstable();
                client_ids.dedup();
                known = find_batches(self.db, &client_ids).await?;
                active.retain(|&i| stored(&known, &batches[i]).is_none());
                if active.is_empty() {
                    break;
                }
            }
            // Another batch under an id that holds other records already, committed before
            // or earlier in this group: stored all the same, and its answer says so.
            let mut ids = HashSet::new();
            let reused: HashSet<usize> = active
                .iter()
                .copied()
                .filter(|&i| {
                    let b = &batches[i];
                    b.client_batch_id
                        && (!ids.insert(b.batch_id.as_str()) || known.contains_key(&b.batch_id))
                })
                .collect();
            // Rows stored earlier under a reused id would pass for rows of this group when
            // some of its samples turn out to be duplicates (`insert_health`): note them first.
            let earlier = if reused.is_empty() {
                HashSet::new()
            } else {
                let ids: Vec<&str> = reused
                    .iter()
                    .map(|&i| batches[i].batch_id.as_str())
                    .collect();
                rows_of_batches(self.db, &ids).await?
            };
            let group = Group {
                batches,
                active: &active,
                reused: &reused,
                earlier: &earlier,
            };
            match self.attempt::<DB>(conn, &group).await {
                Ok(Attempt::Committed(inserted, events)) => {
                    alert_events = events;
                    for (&i, inserted) in active.iter().zip(inserted) {
                        outcomes[i] = Some(Committed::New {
                            inserted,
                            duplicates: batches[i].mapped.len() - inserted,
                            batch_id_reused: reused.contains(&i),
                        });
                    }
                    break;
                }
                // A batch id was committed before, or by another request since the look-up:
                // look the ids up (again) and commit the rest.
                Ok(Attempt::Taken) => {
                    if looked_up {
                        rounds += 1;
                        if rounds > MAX_ROUNDS {
                            return Err(StoreError::Database(DbErr::Custom(
                                "batch records kept conflicting with concurrent commits".to_owned(),
                            )));
                        }
                    }
                    looked_up = true;
                }
                // A unique violation can only come from two writers opening the same alert
                // episode at once (every other insert skips conflicts): run it again, it
                // now finds the other's alert.
                Err(err)
                    if (is_transient(&err) || is_unique_violation(&err))
                        && retries < MAX_RETRIES =>
                {
                    retries += 1;
                    warn!(batches = active.len(), attempt = retries, error = %err, "Transaction conflict; retrying.");
                }
                Err(err) => return Err(err.into()),
            }
        }

        // Replays, batches another writer committed while this group was in flight, and
        // copies of batches committed by this group.
        let missing: Vec<&str> = outcomes
            .iter()
            .zip(batches)
            .filter(|(o, b)| o.is_none() && stored(&known, b).is_none())
            .map(|(_, b)| b.batch_id.as_str())
            .collect();
        if !missing.is_empty() {
            for (id, records) in find_batches(self.db, &missing).await? {
                known.entry(id).or_default().extend(records);
            }
        }
        let outcomes = outcomes
            .into_iter()
            .zip(batches)
            .map(|(outcome, batch)| match outcome {
                Some(outcome) => Ok(outcome),
                None => stored(&known, batch)
                    .cloned()
                    .map(Committed::Replayed)
                    .ok_or_else(|| {
                        StoreError::Database(DbErr::RecordNotFound(format!(
                            "batch {} conflicted but is not stored",
                            batch.batch_id
                        )))
                    }),
            })
            .collect::<Result<_, _>>()?;
        Ok(GroupCommitted {
            outcomes,
            alert_events,
        })
    }

    /// One transaction writing `group`: committed, or rolled back when a batch id was taken
    /// or a statement failed.
    async fn attempt<DB: Driver>(
        &self,
        conn: &mut HeldConn<'_, DB>,
        group: &Group<'_>,
    ) -> Result<Attempt, DbErr> {
        let txn = Txn::begin(conn).await?;
        match write_group(&txn, group, self.now, self.day, self.rules).await {
            Ok(Some((inserted, events))) => {
                txn.commit().await?;
                Ok(Attempt::Committed(inserted, events))
            }
            Ok(None) => {
                txn.rollback().await?;
                Ok(Attempt::Taken)
            }
            Err(err) => {
                // A connection that cannot even roll back is broken: say so (the writer
                // then takes another) rather than the statement's error.
                txn.rollback().await.map_err(|rollback| match rollback {
                    DbErr::Exec(inner) => DbErr::Conn(inner),
                    other => other,
                })?;
                Err(err)
            }
        }
    }
}

/// New rows per active batch, and the alert events, of a group written.
type Written = (Vec<usize>, Vec<AlertEvent>);

/// Writes the group in `txn`. `None` when one of its batch ids was committed before or
/// meanwhile: the transaction must roll back.
async fn write_group<DB: Driver>(
    txn: &Txn<'_, DB>,
    group: &Group<'_>,
    now: DateTime<Utc>,
    day: NaiveDate,
    rules: Option<&Rules>,
) -> Result<Option<Written>, DbErr> {
    let Group {
        batches,
        active,
        earlier,
        ..
    } = *group;
    let backend = DB::BACKEND;
    // The first statement writes, so SQLite takes the write lock up front (with its busy
    // timeout) instead of failing to upgrade a read snapshot later.
    let (inserted, per_device, new_rows) =
        insert_health(txn, batches, active, earlier, now).await?;
    insert_quarantine(txn, batches, active, now).await?;
    let counts: Vec<_> = per_device
        .iter()
        .map(|(&device, &(user_id, n))| (device, user_id, n))
        .collect();
    daily::queue_counts(txn, day, now, &counts).await?;
    let alert_events = match rules {
        Some(rules) => {
            let committed = active
                .iter()
                .flat_map(|&i| &batches[i].mapped)
                .zip(&new_rows)
                .filter(|(_, new)| **new)
                .map(|(m, _)| m);
            alerts::apply(txn, rules, committed, now)
                .instrument(tracing::info_span!("alerts"))
                .await?
        }
        None => Vec::new(),
    };
    if !insert_batch_rows(txn, backend, group, &inserted, now).await? {
        return Ok(None);
    }
    Ok(Some((inserted, alert_events)))
}
