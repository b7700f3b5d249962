//! `t_device_daily`: stored samples per device and day, so "today" statistics never scan the
//! health table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeviceDaily {
    #[sea_orm(iden = "t_device_daily")]
    Table,
    Day,
    DeviceSn,
    UserId,
    Records,
    LastSeen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeviceDaily::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(DeviceDaily::Day).date().not_null())
                    .col(
                        ColumnDef::new(DeviceDaily::DeviceSn)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeviceDaily::UserId).big_integer().not_null())
                    .col(
                        ColumnDef::new(DeviceDaily::Records)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceDaily::LastSeen)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(DeviceDaily::Day)
                            .col(DeviceDaily::DeviceSn),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceDaily::Table).to_owned())
            .await
    }
}
