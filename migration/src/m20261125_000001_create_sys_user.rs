//! `sys_user`, created only for a standalone deployment without ljwx-boot.

use crate::columns::is_deleted;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SysUser {
    Table,
    Id,
    UserName,
    DeviceSn,
    CustomerId,
    IsDeleted,
    CreateTime,
    UpdateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // ljwx-boot owns this table: when it exists we touch nothing in it.
        if manager.has_table("sys_user").await? {
            return Ok(());
        }
        manager
            .create_table(
                Table::create()
                    .table(SysUser::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SysUser::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SysUser::UserName).string_len(64).null())
                    .col(ColumnDef::new(SysUser::DeviceSn).string_len(64).null())
                    .col(ColumnDef::new(SysUser::CustomerId).big_integer().null())
                    .col(is_deleted(SysUser::IsDeleted))
                    .col(
                        ColumnDef::new(SysUser::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .col(
                        ColumnDef::new(SysUser::UpdateTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sys_user_device_sn")
                    .table(SysUser::Table)
                    .col(SysUser::DeviceSn)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Never drop a table ljwx-boot may own.
        Ok(())
    }
}
