//! `t_ingest_batch.first_use`: `TRUE` on the first record of a batch id, `NULL` on records of
//! later batches that reused the id, unique with `batch_id` (several `NULL`s never conflict).
//!
//! With it a group commit needs no look-up of its batch ids before it writes: the first
//! record of an id is claimed by the insert itself, and a batch whose id was committed
//! before (a replay, or another batch reusing the id) conflicts there, which sends the group
//! back to look its ids up. Existing records are marked: the oldest record of each id is its
//! first use.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IngestBatch {
    #[sea_orm(iden = "t_ingest_batch")]
    Table,
    BatchId,
    FirstUse,
}

/// Name of the unique index.
const INDEX: &str = "uk_ingest_batch_first_use";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IngestBatch::Table)
                    .add_column(ColumnDef::new(IngestBatch::FirstUse).boolean().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let mark = match db.get_database_backend() {
            // MySQL refuses a subquery on the table an UPDATE changes (error 1093); a join
            // with a derived table is the form it documents.
            DbBackend::MySql => {
                "UPDATE t_ingest_batch b \
                 JOIN (SELECT MIN(id) AS id FROM t_ingest_batch GROUP BY batch_id) f ON b.id = f.id \
                 SET b.first_use = TRUE"
            }
            _ => {
                "UPDATE t_ingest_batch SET first_use = TRUE \
                 WHERE id IN (SELECT MIN(id) FROM t_ingest_batch GROUP BY batch_id)"
            }
        };
        db.execute_unprepared(mark).await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(IngestBatch::Table)
                    .col(IngestBatch::BatchId)
                    .col(IngestBatch::FirstUse)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(IngestBatch::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IngestBatch::Table)
                    .drop_column(IngestBatch::FirstUse)
                    .to_owned(),
            )
            .await
    }
}
