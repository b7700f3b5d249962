//! `t_device_daily_pending`: per-device counts of committed groups, not yet added to
//! `t_device_daily`.
//!
//! Written in the transaction that stores the samples (one row per group instead of one
//! counter update per device), folded into the daily counters and deleted by a background
//! task. A crash leaves the rows for the next fold, so no count is lost.

use sea_orm::entity::prelude::*;

/// Counts of one group commit (or of part of it, for groups with very many devices).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "t_device_daily_pending")]
pub struct Model {
    /// Row id (commit order).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Calendar day of the commit, in the service's time zone.
    pub day: Date,
    /// Commit time.
    pub last_seen: DateTimeUtc,
    /// JSON array of `[device_sn, user_id, new rows]`.
    pub counts: String,
}

/// Pending counts have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
