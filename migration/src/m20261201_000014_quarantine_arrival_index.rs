//! `idx_unknown_create_time` on `t_unknown_device_data (create_time)`: housekeeping deletes
//! quarantined samples by arrival, oldest first, a batch at a time; without the index each
//! batch would scan the whole quarantine.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UnknownDeviceData {
    #[sea_orm(iden = "t_unknown_device_data")]
    Table,
    CreateTime,
}

/// Name of the index.
const INDEX: &str = "idx_unknown_create_time";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(UnknownDeviceData::Table)
                    .col(UnknownDeviceData::CreateTime)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(UnknownDeviceData::Table)
                    .to_owned(),
            )
            .await
    }
}
