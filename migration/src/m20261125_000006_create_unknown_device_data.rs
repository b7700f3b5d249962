//! `t_unknown_device_data`: quarantine for samples of devices bound to no user.

use crate::columns::{self, Sample};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UnknownDeviceData {
    #[sea_orm(iden = "t_unknown_device_data")]
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create();
        table
            .table(UnknownDeviceData::Table)
            .if_not_exists()
            .col(columns::id())
            .col(columns::device_sn());
        for col in columns::measurements() {
            table.col(col);
        }
        table
            .col(columns::timestamp())
            .col(columns::upload_method())
            .col(columns::batch_id())
            .col(columns::create_time());
        manager.create_table(table.to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("uk_unknown_device_timestamp")
                    .table(UnknownDeviceData::Table)
                    .col(Sample::DeviceSn)
                    .col(Sample::Timestamp)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UnknownDeviceData::Table).to_owned())
            .await
    }
}
