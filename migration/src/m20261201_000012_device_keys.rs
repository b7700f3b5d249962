//! `t_device_key`: device credentials (DESIGN §10). A key belongs to one device, or to a
//! customer (a gateway key, good for every device bound to that customer); only the SHA-256
//! of a key is stored. Revoked keys are kept: their count tells the instances that cached
//! keys must be checked again.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeviceKey {
    #[sea_orm(iden = "t_device_key")]
    Table,
    Id,
    DeviceSn,
    CustomerId,
    KeyHash,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeviceKey::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeviceKey::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DeviceKey::DeviceSn).string_len(64).null())
                    .col(ColumnDef::new(DeviceKey::CustomerId).big_integer().null())
                    .col(
                        ColumnDef::new(DeviceKey::KeyHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(DeviceKey::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceKey::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_device_key_device", DeviceKey::DeviceSn),
            ("idx_device_key_customer", DeviceKey::CustomerId),
            ("idx_device_key_revoked", DeviceKey::RevokedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(DeviceKey::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceKey::Table).to_owned())
            .await
    }
}
