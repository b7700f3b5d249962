//! FHIR Bulk Data export jobs (`t_export_job`) and the counts that plan them.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use entity::export_job::{self, ActiveModel, Column, Entity};
use entity::t_user_health_data as health;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};

/// Where an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStatus {
    /// Its parts are being counted.
    Planning,
    /// Ready: the manifest lists its files.
    Complete,
    /// It failed; `error` says why.
    Failed,
    /// The client cancelled it.
    Cancelled,
}

impl ExportStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Planning => "planning",
            ExportStatus::Complete => "complete",
            ExportStatus::Failed => "failed",
            ExportStatus::Cancelled => "cancelled",
        }
    }

    fn parse(name: &str) -> ExportStatus {
        match name {
            "planning" => ExportStatus::Planning,
            "complete" => ExportStatus::Complete,
            "cancelled" => ExportStatus::Cancelled,
            _ => ExportStatus::Failed,
        }
    }
}

/// A part of an export: the samples with a row id in `(after, last]`.
pub type Part = (i64, i64);

/// An export job.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportJob {
    /// Its id.
    pub id: String,
    /// The kick-off request's URL.
    pub request: String,
    /// `_since`.
    pub since: Option<DateTime<Utc>>,
    /// Where it is.
    pub status: ExportStatus,
    /// Parts to count.
    pub parts_total: i64,
    /// Parts counted.
    pub parts_done: i64,
    /// The parts that hold samples, in order.
    pub parts: Vec<Part>,
    /// Why it failed.
    pub error: Option<String>,
    /// Samples stored up to then are in it.
    pub transaction_time: DateTime<Utc>,
    /// Its last progress.
    pub update_time: DateTime<Utc>,
}

impl From<export_job::Model> for ExportJob {
    fn from(m: export_job::Model) -> Self {
        Self {
            parts: serde_json::from_str(&m.parts).unwrap_or_default(),
            id: m.id,
            request: m.request,
            since: m.since,
            status: ExportStatus::parse(&m.status),
            parts_total: m.parts_total,
            parts_done: m.parts_done,
            error: m.error,
            transaction_time: m.transaction_time,
            update_time: m.update_time,
        }
    }
}

impl Store {
    /// Records a new export `id` of `request`, planning from now.
    pub async fn create_export(
        &self,
        id: &str,
        request: &str,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Entity::insert(ActiveModel {
            id: Set(id.to_owned()),
            request: Set(request.to_owned()),
            since: Set(since),
            status: Set(ExportStatus::Planning.as_str().to_owned()),
            parts_total: Set(0),
            parts_done: Set(0),
            parts: Set("[]".to_owned()),
            error: Set(None),
            transaction_time: Set(now),
            create_time: Set(now),
            update_time: Set(now),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Export `id`, unless it was cancelled or never existed.
    pub async fn export(&self, id: &str) -> Result<Option<ExportJob>, StoreError> {
        let job = Entity::find_by_id(id.to_owned())
            .filter(Column::Status.ne(ExportStatus::Cancelled.as_str()))
            .one(&self.db)
            .await?;
        Ok(job.map(ExportJob::from))
    }

    /// Saves the progress of export `id` while it is planning: `done` of `total` parts
    /// counted, `parts` found with samples; with `status`, ends its planning. Returns `false`
    /// when the job is no longer planning (cancelled meanwhile).
    pub async fn save_export_progress(
        &self,
        id: &str,
        total: i64,
        done: i64,
        parts: &[Part],
        status: ExportStatus,
        error: Option<String>,
    ) -> Result<bool, StoreError> {
        let updated = Entity::update_many()
            .col_expr(Column::PartsTotal, Expr::value(total))
            .col_expr(Column::PartsDone, Expr::value(done))
            .col_expr(
                Column::Parts,
                Expr::value(serde_json::to_string(parts).unwrap_or_else(|_| "[]".to_owned())),
            )
            .col_expr(Column::Status, Expr::value(status.as_str()))
            .col_expr(Column::Error, Expr::value(error))
            .col_expr(Column::UpdateTime, Expr::value(Utc::now()))
            .filter(Column::Id.eq(id))
            .filter(Column::Status.eq(ExportStatus::Planning.as_str()))
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(updated > 0)
    }

    /// Cancels export `id`: its status and files are gone. Returns whether there was one.
    pub async fn cancel_export(&self, id: &str) -> Result<bool, StoreError> {
        let updated = Entity::update_many()
            .col_expr(
                Column::Status,
                Expr::value(ExportStatus::Cancelled.as_str()),
            )
            .col_expr(Column::UpdateTime, Expr::value(Utc::now()))
            .filter(Column::Id.eq(id))
            .filter(Column::Status.ne(ExportStatus::Cancelled.as_str()))
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(updated > 0)
    }

    /// The lowest and highest row ids of the samples an export takes: stored at or after
    /// `since`, up to now. `None` when there is none.
    pub async fn export_bounds(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Option<Part>, StoreError> {
        let mut query = health::Entity::find()
            .select_only()
            .column_as(health::Column::Id.min(), "first")
            .column_as(health::Column::Id.max(), "last")
            .filter(health::Column::IsDeleted.eq(0));
        if let Some(since) = since {
            query = query.filter(health::Column::CreateTime.gte(since));
        }
        let bounds: Option<(Option<i64>, Option<i64>)> =
            query.into_tuple().one(self.reader()).await?;
        Ok(bounds.and_then(|(first, last)| Some((first?, last?))))
    }

    /// How many samples of `part` an export with `since` takes.
    pub async fn count_export_part(
        &self,
        part: Part,
        since: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError> {
        let mut query = health::Entity::find()
            .filter(health::Column::Id.gt(part.0))
            .filter(health::Column::Id.lte(part.1))
            .filter(health::Column::IsDeleted.eq(0));
        if let Some(since) = since {
            query = query.filter(health::Column::CreateTime.gte(since));
        }
        Ok(query.count(self.reader()).await?)
    }
}

/// Rows per part before counting: a part's NDJSON file holds at most this many samples (up
/// to five observations each).
pub const PART_IDS: i64 = 100_000;

/// The parts `(after, last]` that cover the row ids `first` to `last`.
pub fn parts_covering(first: i64, last: i64) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut after = first - 1;
    while after < last {
        let end = (after + PART_IDS).min(last);
        parts.push((after, end));
        after = end;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_ids_once() {
        assert_eq!(
            parts_covering(1, 250_000),
            vec![(0, 100_000), (100_000, 200_000), (200_000, 250_000)]
        );
        assert_eq!(parts_covering(7, 7), vec![(6, 7)]);
    }
}
