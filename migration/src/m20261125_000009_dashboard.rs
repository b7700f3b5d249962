//! The dashboard's tables: its settings (the generated admin password hash) and login
//! sessions, and an index so a page of devices finds its daily counters without a scan.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AdminSetting {
    #[sea_orm(iden = "t_admin_setting")]
    Table,
    Name,
    Value,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AdminSession {
    #[sea_orm(iden = "t_admin_session")]
    Table,
    TokenHash,
    CsrfToken,
    Client,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum DeviceDaily {
    #[sea_orm(iden = "t_device_daily")]
    Table,
    Day,
    DeviceSn,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminSetting::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AdminSetting::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AdminSetting::Value).text().not_null())
                    .col(
                        ColumnDef::new(AdminSetting::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminSession::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AdminSession::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AdminSession::CsrfToken)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AdminSession::Client).string_len(64).null())
                    .col(
                        ColumnDef::new(AdminSession::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AdminSession::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_admin_session_expires")
                    .table(AdminSession::Table)
                    .col(AdminSession::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // The primary key starts with the day; the devices page asks by device.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_device_daily_device")
                    .table(DeviceDaily::Table)
                    .col(DeviceDaily::DeviceSn)
                    .col(DeviceDaily::Day)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_device_daily_device")
                    .table(DeviceDaily::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AdminSession::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AdminSetting::Table).to_owned())
            .await
    }
}
