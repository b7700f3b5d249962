//! `t_export_job`: FHIR Bulk Data exports (`$export`). A job is planned by the instance that
//! took the request (the samples cut into parts by row id, each part counted); its status and
//! its parts are here, so any instance answers the status polls and streams the parts.
//! Housekeeping deletes jobs after a week.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ExportJob {
    #[sea_orm(iden = "t_export_job")]
    Table,
    Id,
    Request,
    Since,
    Status,
    PartsTotal,
    PartsDone,
    Parts,
    Error,
    TransactionTime,
    CreateTime,
    UpdateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExportJob::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ExportJob::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ExportJob::Request).text().not_null())
                    .col(
                        ColumnDef::new(ExportJob::Since)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(ExportJob::Status).string_len(16).not_null())
                    .col(
                        ColumnDef::new(ExportJob::PartsTotal)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExportJob::PartsDone)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ExportJob::Parts).text().not_null())
                    .col(ColumnDef::new(ExportJob::Error).text().null())
                    .col(
                        ColumnDef::new(ExportJob::TransactionTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExportJob::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExportJob::UpdateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_export_job_create_time")
                    .table(ExportJob::Table)
                    .col(ExportJob::CreateTime)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExportJob::Table).to_owned())
            .await
    }
}
