//! `t_alert_info` with the seed's columns (`send_health_alert`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AlertInfo {
    #[sea_orm(iden = "t_alert_info")]
    Table,
    Id,
    UserId,
    DeviceSn,
    AlertType,
    AlertValue,
    Level,
    Status,
    OccurAt,
    CreateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_table("t_alert_info").await? {
            return Ok(());
        }
        manager
            .create_table(
                Table::create()
                    .table(AlertInfo::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AlertInfo::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AlertInfo::UserId).big_integer().null())
                    .col(
                        ColumnDef::new(AlertInfo::DeviceSn)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertInfo::AlertType)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AlertInfo::AlertValue).string_len(64).null())
                    .col(ColumnDef::new(AlertInfo::Level).string_len(16).not_null())
                    .col(
                        ColumnDef::new(AlertInfo::Status)
                            .string_len(16)
                            .not_null()
                            .default("NEW"),
                    )
                    .col(
                        ColumnDef::new(AlertInfo::OccurAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AlertInfo::CreateTime)
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
                    .name("idx_alert_device_type")
                    .table(AlertInfo::Table)
                    .col(AlertInfo::DeviceSn)
                    .col(AlertInfo::AlertType)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Never drop a table ljwx-boot may own.
        Ok(())
    }
}
