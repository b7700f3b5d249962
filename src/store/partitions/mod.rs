//! Monthly partitions of `t_user_health_data` (seed §3.2, DESIGN §5) on MariaDB/MySQL (`RANGE`
//! on `UNIX_TIMESTAMP(timestamp)`) and PostgreSQL (declarative `RANGE` on `timestamp`).
//!
//! A partition holds one calendar month (UTC) of samples, named after it (`p202612`; on
//! PostgreSQL the partition table `t_user_health_data_p202612`). The first one also holds
//! everything older, and a catch-all (`pmax`, PostgreSQL's default partition) holds what no
//! month partition covers, so no sample is ever refused for want of a partition.
//!
//! - [`Store::partition_if_empty`]: a new install's empty table is partitioned at start.
//! - [`Store::convert_to_partitions`]: an existing table is converted by an explicit command,
//!   since that rewrites it.
//! - [`Store::maintain_partitions`]: keeps `ahead` future months and drops months past the
//!   retention; the housekeeping task runs it, one instance at a time.
//!
//! The unique keys contain the partition column, as both servers require: the primary key
//! becomes `(id, timestamp)`; `(device_sn, timestamp)` already is.

mod mysql;
mod postgres;

use super::{Store, StoreError};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use std::fmt;

/// The partitioned table.
const TABLE: &str = "t_user_health_data";
/// Most months a conversion gives partitions of their own before the current one: older
/// samples go into the first partition with them.
const MAX_MONTHS_BACK: u32 = 36;

/// A calendar month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    /// The year.
    pub year: i32,
    /// The month, 1–12.
    pub month: u32,
}

impl Month {
    /// The month `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Month {
        Month {
            year: at.year(),
            month: at.month(),
        }
    }

    /// The month after.
    pub fn next(self) -> Month {
        self.plus(1)
    }

    /// The month `n` months later (earlier when negative).
    pub fn plus(self, n: i64) -> Month {
        let index = i64::from(self.year) * 12 + i64::from(self.month) - 1 + n;
        Month {
            year: i32::try_from(index.div_euclid(12)).unwrap_or(i32::MAX),
            month: u32::try_from(index.rem_euclid(12)).unwrap_or(0) + 1,
        }
    }

    /// Its first instant.
    pub fn start(self) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(DateTime::<Utc>::MIN_UTC, |t| Utc.from_utc_datetime(&t))
    }

    /// The partition's name: `p202612`.
    pub fn name(self) -> String {
        format!("p{:04}{:02}", self.year, self.month)
    }

    /// The month a partition named by [`Month::name`] holds (a suffix of a longer name too).
    pub fn parse(name: &str) -> Option<Month> {
        let digits = name.rsplit_once('p')?.1;
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let month = Month {
            year: digits[..4].parse().ok()?,
            month: digits[4..].parse().ok()?,
        };
        (1..=12).contains(&month.month).then_some(month)
    }

    /// The months from `self` to `last`, both included.
    fn through(self, last: Month) -> impl Iterator<Item = Month> {
        std::iter::successors(Some(self), |m| Some(m.next())).take_while(move |m| *m <= last)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One partition of the health table.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// Its name (`p202612`, `pmax`; on PostgreSQL the partition table's name).
    pub name: String,
    /// The month it holds; `None` for the catch-all.
    pub month: Option<Month>,
    /// What it holds, as the server states it.
    pub bounds: String,
    /// Rows, as the server estimates them (from its statistics).
    pub rows: i64,
}

/// What one maintenance run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintained {
    /// Partitions created, by name.
    pub created: Vec<String>,
    /// Partitions dropped (with their rows), by name.
    pub dropped: Vec<String>,
}

/// How far a conversion has come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Progress {
    /// Rows copied so far, of about `total` (PostgreSQL).
    Copied {
        /// Rows copied.
        rows: u64,
        /// Rows in the table, as estimated at the start.
        total: u64,
    },
    /// The server's own progress of the rewrite, in percent (MariaDB), or `None` where the
    /// server does not report it (MySQL 8): only the time is known.
    Rewriting(Option<f64>),
}

/// Why a partition command could not run.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// SQLite has no partitions (its file is the one process's own anyway).
    #[error("SQLite has no partitions; they exist on MariaDB/MySQL and PostgreSQL")]
    Unsupported,
    /// The table is not partitioned (status, maintenance) or is already (conversion).
    #[error("{0}")]
    State(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DbErr> for PartitionError {
    fn from(err: DbErr) -> Self {
        PartitionError::Store(err.into())
    }
}

/// The months a conversion of a table holding samples from `oldest` to `newest` gives
/// partitions, at `now` with `ahead` future months: from the oldest sample's month (at most
/// [`MAX_MONTHS_BACK`] before now's) to the later of the newest sample's month and now's
/// plus `ahead`.
fn months_for(
    oldest: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    ahead: u32,
) -> Vec<Month> {
    let current = Month::of(now);
    let floor = current.plus(-i64::from(MAX_MONTHS_BACK));
    let first = oldest.map_or(current, Month::of).clamp(floor, current);
    let last = newest
        .map_or(current, Month::of)
        .max(current.plus(i64::from(ahead)));
    first.through(last).collect()
}

/// What maintenance at `now` changes in `existing`: the months up to `ahead` after now's
/// that have no partition — from now's month, or from the month after the last partition when
/// that is earlier, so that the months stay contiguous (on MySQL a partition can only be
/// added after the last) — and the month partitions older than `retention_months` (0: keep
/// every month).
fn plan(
    existing: &[Partition],
    now: DateTime<Utc>,
    ahead: u32,
    retention_months: u32,
) -> (Vec<Month>, Vec<Partition>) {
    let current = Month::of(now);
    let keep_from = (retention_months > 0).then(|| current.plus(-i64::from(retention_months)));
    let months: Vec<Month> = existing.iter().filter_map(|p| p.month).collect();
    let mut first = months
        .iter()
        .max()
        .map_or(current, |last| last.next().min(current));
    if let Some(keep_from) = keep_from {
        first = first.max(keep_from);
    }
    let create = first
        .through(current.plus(i64::from(ahead)))
        .filter(|m| !months.contains(m))
        .collect();
    let drop = existing
        .iter()
        .filter(|p| p.month.zip(keep_from).is_some_and(|(m, keep)| m < keep))
        .cloned()
        .collect();
    (create, drop)
}

impl Store {
    /// The partitions of the health table, oldest month first and the catch-all last; `None`
    /// when the table is not partitioned.
    pub async fn partitions(&self) -> Result<Option<Vec<Partition>>, PartitionError> {
        match self.backend() {
            DbBackend::MySql => Ok(mysql::partitions(&self.db).await?),
            DbBackend::Postgres => Ok(postgres::partitions(&self.db).await?),
            _ => Err(PartitionError::Unsupported),
        }
    }

    /// Partitions the health table when it is not yet and holds no row (a new install), with
    /// partitions up to `ahead` months after `now`'s. Returns whether it did. Run at start
    /// under the migration lock, before the writer: nothing writes meanwhile. SQLite: never.
    pub async fn partition_if_empty(
        &self,
        now: DateTime<Utc>,
        ahead: u32,
    ) -> Result<bool, PartitionError> {
        if !matches!(self.backend(), DbBackend::MySql | DbBackend::Postgres)
            || self.partitions().await?.is_some()
            || self.health_rows_exist().await?
        {
            return Ok(false);
        }
        self.convert_to_partitions(now, ahead, &mut |_| {}).await?;
        Ok(true)
    }

    /// Converts the unpartitioned health table into a partitioned one, reporting how far it
    /// has come to `progress`. All or nothing: MariaDB/MySQL rewrite it in one `ALTER TABLE`
    /// (writes wait until it is done); PostgreSQL copies it into a new partitioned table in
    /// one transaction, taking the writes' lock only for the last rows and the swap, and
    /// keeps the old table as `t_user_health_data_unpartitioned`.
    pub async fn convert_to_partitions(
        &self,
        now: DateTime<Utc>,
        ahead: u32,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), PartitionError> {
        if self.partitions().await?.is_some() {
            return Err(PartitionError::State(format!(
                "{TABLE} is partitioned already"
            )));
        }
        let (oldest, newest) = self.health_time_span().await?;
        let months = months_for(oldest, newest, now, ahead);
        match self.backend() {
            DbBackend::MySql => mysql::convert(&self.db, &months, progress).await,
            _ => postgres::convert(&self.db, &months, progress).await,
        }
    }

    /// Creates the partitions of the months from `now`'s to `ahead` later that have none, and
    /// drops the month partitions older than `retention_months` (0: none), logging each.
    /// Samples that arrived for a month before its partition existed are moved into it.
    /// Callers hold the housekeeping lock, so one instance at a time does this.
    pub async fn maintain_partitions(
        &self,
        now: DateTime<Utc>,
        ahead: u32,
        retention_months: u32,
    ) -> Result<Maintained, PartitionError> {
        let Some(existing) = self.partitions().await? else {
            return Err(PartitionError::State(format!(
                "{TABLE} is not partitioned: `ljwx-bigscreen partitions convert` converts it"
            )));
        };
        let (create, drop) = plan(&existing, now, ahead, retention_months);
        let mut done = Maintained::default();
        for month in create {
            let name = match self.backend() {
                DbBackend::MySql => mysql::create(&self.db, &existing, month).await?,
                _ => Some(postgres::create(&self.db, month).await?),
            };
            let Some(name) = name else { continue };
            tracing::info!(partition = %name, month = %month, "Partition created.");
            done.created.push(name);
        }
        for partition in drop {
            match self.backend() {
                DbBackend::MySql => mysql::drop(&self.db, &partition.name).await?,
                _ => postgres::drop(&self.db, &partition.name).await?,
            }
            tracing::info!(
                partition = %partition.name,
                rows = partition.rows,
                "Partition dropped: past partitions.retention_months."
            );
            done.dropped.push(partition.name);
        }
        Ok(done)
    }

    /// Whether the health table holds any row.
    async fn health_rows_exist(&self) -> Result<bool, DbErr> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.backend(),
                format!("SELECT 1 AS one FROM {TABLE} LIMIT 1"),
            ))
            .await?;
        Ok(row.is_some())
    }

    /// The oldest and newest sample times in the health table.
    async fn health_time_span(
        &self,
    ) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), DbErr> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.backend(),
                format!("SELECT MIN(timestamp) AS oldest, MAX(timestamp) AS newest FROM {TABLE}"),
            ))
            .await?;
        match row {
            Some(row) => Ok((row.try_get("", "oldest")?, row.try_get("", "newest")?)),
            None => Ok((None, None)),
        }
    }
}

/// Runs `sql` (DDL built from our own months and names, no input of anyone's) on `db`.
async fn execute(db: &impl ConnectionTrait, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
            .single()
            .expect("a date")
    }

    fn month(year: i32, month: u32) -> Month {
        Month { year, month }
    }

    fn partition(name: &str) -> Partition {
        Partition {
            name: name.to_owned(),
            month: Month::parse(name),
            bounds: String::new(),
            rows: 0,
        }
    }

    #[test]
    fn months_step_over_years_and_name_their_partitions() {
        assert_eq!(month(2026, 12).next(), month(2027, 1));
        assert_eq!(month(2027, 1).plus(-13), month(2025, 12));
        assert_eq!(month(2026, 12).name(), "p202612");
        assert_eq!(
            Month::parse("t_user_health_data_p202612"),
            Some(month(2026, 12))
        );
        assert_eq!(Month::parse("p202613"), None);
        assert_eq!(Month::parse("pmax"), None);
        assert_eq!(
            month(2026, 12).start(),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_conversion_covers_the_data_and_the_months_ahead() {
        let now = at(2026, 12, 5);
        assert_eq!(
            months_for(None, None, now, 2),
            vec![month(2026, 12), month(2027, 1), month(2027, 2)]
        );
        let months = months_for(Some(at(2026, 10, 3)), Some(at(2026, 12, 1)), now, 1);
        assert_eq!(months.first(), Some(&month(2026, 10)));
        assert_eq!(months.last(), Some(&month(2027, 1)));
        // A sample from 2001 goes into the first partition; it does not make 300 of them.
        let months = months_for(Some(at(2001, 1, 1)), Some(at(2026, 12, 5)), now, 3);
        assert_eq!(months.len(), 36 + 1 + 3);
    }

    #[test]
    fn maintenance_creates_missing_months_and_drops_those_past_retention() {
        let existing: Vec<Partition> = ["p202609", "p202610", "p202611", "p202612", "pmax"]
            .into_iter()
            .map(partition)
            .collect();
        let (create, drop) = plan(&existing, at(2026, 12, 20), 3, 2);
        assert_eq!(create, vec![month(2027, 1), month(2027, 2), month(2027, 3)]);
        let dropped: Vec<&str> = drop.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(dropped, vec!["p202609"]);
        let (create, drop) = plan(&existing, at(2026, 12, 20), 0, 0);
        assert!(create.is_empty() && drop.is_empty());
        // Months later (nothing ran meanwhile): contiguous from the last partition, and the
        // months past retention are not created only to be dropped.
        let (create, drop) = plan(&existing, at(2027, 5, 2), 1, 0);
        assert_eq!(create.first(), Some(&month(2027, 1)));
        assert_eq!(create.last(), Some(&month(2027, 6)));
        assert!(drop.is_empty());
        let (create, drop) = plan(&existing, at(2027, 5, 2), 1, 2);
        assert_eq!(
            create,
            vec![
                month(2027, 3),
                month(2027, 4),
                month(2027, 5),
                month(2027, 6)
            ]
        );
        assert_eq!(drop.len(), 4);
    }
}
