//! Committing a group of upload batches in one transaction: samples, quarantine, the counts
//! for the daily counters, alerts and the batch records. The group-commit writer calls this;
//! an upload is answered only after it returned.

use super::alerts::{self, AlertEvent};
use super::batch_rows::{BatchKey, insert_batch_rows};
use super::batches::{KnownBatches, find_batches};
use super::daily;
use super::driver::Driver;
use super::group::{CommitBatch, Group, batch_ids};
use super::samples::{insert_health, insert_quarantine, rows_of_batches};
use super::session::{CommitConn, Holds, Session, Txn};
use super::{Store, StoreError, WritePath, is_transient, is_unique_violation};
use crate::domain::{Rules, StoredBatch};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sqlx::{Connection, MySql, Postgres, SqlStr, Sqlite};
use sea_orm::{DbBackend, DbErr, RuntimeErr, TransactionSession};
use std::collections::HashSet;
use std::sync::Arc;
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
    /// Rolled back: these batches (id and fingerprint) were already committed; `None` when
    /// the server could not say which (the affected-rows path): look them up.
    Taken(Option<HashSet<BatchKey>>),
}

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
            batches,
            now,
            day,
            rules,
            copy: self.copies_samples(),
            returning: self.write_path == WritePath::Returning,
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
            let (held, reused) = conn.take::<DB>(&self.db).await?;
            match commit.run::<DB>(held).await {
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
    batches: &'a [CommitBatch],
    now: DateTime<Utc>,
    day: NaiveDate,
    rules: Option<&'a Rules>,
    /// Health rows go by `COPY` (PostgreSQL).
    copy: bool,
    /// Batch records written are told by `RETURNING` (see `server`).
    returning: bool,
}

impl Commit<'_> {
    /// Commits the group on `conn`.
    async fn run<DB: Driver>(
        &self,
        conn: &mut DB::Connection,
    ) -> Result<GroupCommitted, StoreError> {
        let batches = self.batches;
        let mut outcomes: Vec<Option<Committed>> = vec![None; batches.len()];
        // A batch (id and records) is written once per group; later copies get the first
        // one's result.
        let mut seen = HashSet::new();
        let mut active: Vec<usize> = (0..batches.len())
            .filter(|&i| seen.insert(batches[i].key()))
            .collect();
        // Replays are answered with the stored result and write nothing. One lookup for the
        // whole group rather than one per upload: the database does one query where it did
        // dozens (MariaDB on one core: 56 000 → 62 000 records/s at saturation).
        let mut client_ids: Vec<&str> = active
            .iter()
            .map(|&i| &batches[i])
            .filter(|b| b.client_batch_id)
            .map(|b| b.batch_id.as_str())
            .collect();
        client_ids.sort_unstable();
        client_ids.dedup();
        let mut known = find_batches(&Session::<DB, _>::new(&mut *conn), &client_ids).await?;
        active.retain(|&i| stored(&known, &batches[i]).is_none());
        // Another batch under an id that holds other records already, committed before or
        // earlier in this group: stored all the same, and its answer says so.
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
        // Rows stored earlier under a reused id would pass for rows of this group when some
        // of its samples turn out to be duplicates (`insert_health`): note them first.
        let earlier = if reused.is_empty() {
            HashSet::new()
        } else {
            let ids: Vec<&str> = reused
                .iter()
                .map(|&i| batches[i].batch_id.as_str())
                .collect();
            rows_of_batches(&Session::<DB, _>::new(&mut *conn), &ids).await?
        };
        let mut retries = 0;
        let mut alert_events = Vec::new();
        while !active.is_empty() {
            let group = Group {
                batches,
                active: &active,
                reused: &reused,
                earlier: &earlier,
            };
            match self.attempt::<DB>(&mut *conn, &group).await {
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
                // Rare: another request committed one of these batches since the lookup.
                // Commit the rest; those are answered with the stored result.
                Ok(Attempt::Taken(taken)) => {
                    let taken = match taken {
                        Some(taken) => taken,
                        None => taken_since::<DB>(&mut *conn, batches, &active).await?,
                    };
                    if taken.is_empty() {
                        // The record that was in the way is gone again: run it again.
                        retries += 1;
                        if retries > MAX_RETRIES {
                            return Err(StoreError::Database(DbErr::Custom(
                                "batch records conflicted but none is stored".to_owned(),
                            )));
                        }
                        continue;
                    }
                    active.retain(|&i| {
                        let (id, fingerprint) = batches[i].key();
                        !taken.contains(&(id.to_owned(), fingerprint.to_owned()))
                    });
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

        // Batches another writer committed while this group was in flight, and copies of
        // batches committed by this group.
        let taken: Vec<&str> = outcomes
            .iter()
            .zip(batches)
            .filter(|(o, b)| o.is_none() && stored(&known, b).is_none())
            .map(|(_, b)| b.batch_id.as_str())
            .collect();
        for (id, records) in find_batches(&Session::<DB, _>::new(&mut *conn), &taken).await? {
            known.entry(id).or_default().extend(records);
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

    /// One transaction writing `group`.
    async fn attempt<DB: Driver>(
        &self,
        conn: &mut DB::Connection,
        group: &Group<'_>,
    ) -> Result<Attempt, DbErr> {
        let copy = self.copy && DB::copy_begin().is_some();
        let txn = match DB::copy_begin().filter(|_| copy) {
            Some(begin) => Connection::begin_with(conn, SqlStr::from_static(begin)).await,
            None => Connection::begin(conn).await,
        }
        .map_err(|err| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err))))?;
        write_group(
            Session::new(txn),
            copy,
            self.returning,
            group,
            self.now,
            self.day,
            self.rules,
        )
        .await
    }
}

/// Writes the group in `txn` and commits, or rolls back when another transaction committed
/// one of its batches first.
async fn write_group<DB: Driver>(
    txn: Txn<'_, DB>,
    copy: bool,
    returning: bool,
    group: &Group<'_>,
    now: DateTime<Utc>,
    day: NaiveDate,
    rules: Option<&Rules>,
) -> Result<Attempt, DbErr> {
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
        insert_health(&txn, copy, batches, active, earlier, now).await?;
    insert_quarantine(&txn, batches, active, now).await?;
    let counts: Vec<_> = per_device
        .iter()
        .map(|(&device, &(user_id, n))| (device, user_id, n))
        .collect();
    daily::queue_counts(&txn, day, now, &counts).await?;
    let alert_events = match rules {
        Some(rules) => {
            let committed = active
                .iter()
                .flat_map(|&i| &batches[i].mapped)
                .zip(&new_rows)
                .filter(|(_, new)| **new)
                .map(|(m, _)| m);
            alerts::apply(&txn, rules, committed, now)
                .instrument(tracing::info_span!("alerts"))
                .await?
        }
        None => Vec::new(),
    };
    let claimed = insert_batch_rows(&txn, backend, returning, group, &inserted, now).await?;
    if claimed
        .as_ref()
        .is_none_or(|claimed| claimed.len() < active.len())
    {
        txn.rollback().await?;
        return Ok(Attempt::Taken(claimed.map(|claimed| {
            keys(batches, active)
                .filter(|key| !claimed.contains(key))
                .collect()
        })));
    }
    txn.commit().await?;
    Ok(Attempt::Committed(inserted, alert_events))
}

/// The keys (batch id, fingerprint) of the `active` batches.
fn keys<'a>(
    batches: &'a [CommitBatch],
    active: &'a [usize],
) -> impl Iterator<Item = BatchKey> + 'a {
    active.iter().map(|&i| {
        let (id, fingerprint) = batches[i].key();
        (id.to_owned(), fingerprint.to_owned())
    })
}

/// After a rolled-back attempt on the affected-rows path: which of the `active` batches
/// another transaction committed (their records are stored now).
async fn taken_since<DB: Driver>(
    conn: &mut DB::Connection,
    batches: &[CommitBatch],
    active: &[usize],
) -> Result<HashSet<BatchKey>, StoreError> {
    let ids = batch_ids(batches, active);
    let stored = find_batches(&Session::<DB, _>::new(conn), &ids).await?;
    Ok(keys(batches, active)
        .filter(|(id, fingerprint)| stored.get(id).is_some_and(|f| f.contains_key(fingerprint)))
        .collect())
}
