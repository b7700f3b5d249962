//! `t_ingest_batch`: the log of committed upload batches, and their idempotency record.
//!
//! A row is written in the same transaction as the batch's samples, so its existence means the
//! samples are committed. A request that repeats a `batchId` with the same records (the same
//! fingerprint) gets this row's result back.

use sea_orm::entity::prelude::*;

/// One committed batch and the result that was answered for it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "t_ingest_batch")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The client's `batchId`, or the generated one. Unique with `fingerprint`.
    pub batch_id: String,
    /// Hex SHA-256 of the batch's records as sent, for client batch ids; empty for generated
    /// ids (and for batches stored before fingerprints were kept).
    pub fingerprint: String,
    /// `committed` (the only state a row is written in today).
    pub status: String,
    /// Records in the request.
    pub total_records: i32,
    /// Records that passed record-level validation.
    pub valid_records: i32,
    /// Records rejected by record-level validation.
    pub errors: i32,
    /// Field-level warnings (value stored as NULL).
    pub warnings: i32,
    /// New rows written to `t_user_health_data`.
    pub inserted: i32,
    /// Valid records already stored before (same device and timestamp).
    pub duplicates: i32,
    /// Valid records of devices bound to no user, kept in quarantine.
    pub unknown_device: i32,
    /// JSON array of at most 10 strings, as answered in `error_details`.
    #[sea_orm(column_type = "Text")]
    pub error_details: String,
    /// Time from request start to commit, in milliseconds.
    pub processing_time_ms: f64,
    /// Trace id of the request, when tracing is on.
    pub trace_id: Option<String>,
    /// Commit time.
    pub create_time: DateTimeUtc,
    /// `true` on the first record of a batch id, `None` on records of later batches that
    /// reused it. Unique with `batch_id`, so the insert itself claims an id's first use.
    pub first_use: Option<bool>,
}

/// Batches have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
