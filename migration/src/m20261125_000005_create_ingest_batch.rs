//! `t_ingest_batch`: committed batches and their answered result (the idempotency record).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IngestBatch {
    #[sea_orm(iden = "t_ingest_batch")]
    Table,
    Id,
    BatchId,
    Status,
    TotalRecords,
    ValidRecords,
    Errors,
    Warnings,
    Inserted,
    Duplicates,
    UnknownDevice,
    ErrorDetails,
    ProcessingTimeMs,
    TraceId,
    CreateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let count = |c: IngestBatch| ColumnDef::new(c).integer().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(IngestBatch::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(IngestBatch::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(IngestBatch::BatchId)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(IngestBatch::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(count(IngestBatch::TotalRecords))
                    .col(count(IngestBatch::ValidRecords))
                    .col(count(IngestBatch::Errors))
                    .col(count(IngestBatch::Warnings))
                    .col(count(IngestBatch::Inserted))
                    .col(count(IngestBatch::Duplicates))
                    .col(count(IngestBatch::UnknownDevice))
                    .col(ColumnDef::new(IngestBatch::ErrorDetails).text().not_null())
                    .col(
                        ColumnDef::new(IngestBatch::ProcessingTimeMs)
                            .double()
                            .not_null(),
                    )
                    .col(ColumnDef::new(IngestBatch::TraceId).string_len(32).null())
                    .col(
                        ColumnDef::new(IngestBatch::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_ingest_batch_create_time")
                    .table(IngestBatch::Table)
                    .col(IngestBatch::CreateTime)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IngestBatch::Table).to_owned())
            .await
    }
}
