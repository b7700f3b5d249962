//! `t_device_daily_pending`: the per-device counts of committed groups, waiting to be folded
//! into `t_device_daily`.
//!
//! A group commit writes one small row here instead of updating a counter row per device;
//! a background task adds the rows to the daily counters about once a second and deletes
//! them. Because the row is committed with the samples, a crash only delays the counting.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeviceDailyPending {
    #[sea_orm(iden = "t_device_daily_pending")]
    Table,
    Id,
    Day,
    LastSeen,
    Counts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeviceDailyPending::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeviceDailyPending::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DeviceDailyPending::Day).date().not_null())
                    .col(
                        ColumnDef::new(DeviceDailyPending::LastSeen)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeviceDailyPending::Counts).text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceDailyPending::Table).to_owned())
            .await
    }
}
