//! `t_export_job`: a FHIR Bulk Data export and its parts.

use sea_orm::entity::prelude::*;

/// One export.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "t_export_job")]
pub struct Model {
    /// The job id (a UUID), in its status URL.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The kick-off request's URL, as the manifest repeats it.
    #[sea_orm(column_type = "Text")]
    pub request: String,
    /// `_since`: only samples stored from then on.
    pub since: Option<DateTimeUtc>,
    /// `planning`, `complete`, `failed` or `cancelled`.
    pub status: String,
    /// Parts to count.
    pub parts_total: i64,
    /// Parts counted.
    pub parts_done: i64,
    /// The parts with samples, as JSON `[[after_id, last_id], …]`: each an NDJSON file.
    #[sea_orm(column_type = "Text")]
    pub parts: String,
    /// Why it failed.
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// The manifest's `transactionTime`: samples stored up to then are in the export.
    pub transaction_time: DateTimeUtc,
    /// When it was asked for.
    pub create_time: DateTimeUtc,
    /// Last progress (a job in planning that stops moving has lost its instance).
    pub update_time: DateTimeUtc,
}

/// Export jobs have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
