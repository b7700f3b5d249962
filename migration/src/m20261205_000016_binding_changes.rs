//! `t_binding_change`: a row for every device whose binding this service changed (the binding
//! API, `devices import`). Every instance reads the new rows about once a second and forgets
//! what it cached of those devices, so the next upload anywhere maps the device anew.
//! Housekeeping deletes rows older than a day.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BindingChange {
    #[sea_orm(iden = "t_binding_change")]
    Table,
    Id,
    DeviceSn,
    CreateTime,
}

/// Name of the index housekeeping deletes by.
const INDEX: &str = "idx_binding_change_create_time";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BindingChange::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BindingChange::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BindingChange::DeviceSn)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BindingChange::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(BindingChange::Table)
                    .col(BindingChange::CreateTime)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BindingChange::Table).to_owned())
            .await
    }
}
