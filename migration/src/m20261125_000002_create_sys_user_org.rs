//! `sys_user_org`, created only for a standalone deployment without ljwx-boot.

use crate::columns::is_deleted;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SysUserOrg {
    Table,
    Id,
    UserId,
    OrgId,
    IsDeleted,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_table("sys_user_org").await? {
            return Ok(());
        }
        manager
            .create_table(
                Table::create()
                    .table(SysUserOrg::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SysUserOrg::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SysUserOrg::UserId).big_integer().not_null())
                    .col(ColumnDef::new(SysUserOrg::OrgId).big_integer().not_null())
                    .col(is_deleted(SysUserOrg::IsDeleted))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sys_user_org_user_id")
                    .table(SysUserOrg::Table)
                    .col(SysUserOrg::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Never drop a table ljwx-boot may own.
        Ok(())
    }
}
