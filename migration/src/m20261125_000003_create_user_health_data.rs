//! `t_user_health_data` with the seed §3.2 columns and indexes, plus the unique key on
//! `(device_sn, timestamp)` that makes re-sent samples duplicates instead of second rows.

use crate::columns::{self, Sample};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HealthData {
    #[sea_orm(iden = "t_user_health_data")]
    Table,
    UserId,
    CustomerId,
    OrgId,
    UpdateTime,
    IsDeleted,
}

const TABLE: &str = "t_user_health_data";
const UNIQUE_KEY: &str = "uk_device_timestamp";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_table(TABLE).await? {
            // ljwx-boot's table: keep it, but dedup needs the unique key.
            if !manager.has_index(TABLE, UNIQUE_KEY).await? {
                manager.create_index(unique_key()).await.map_err(|err| {
                    DbErr::Migration(format!(
                        "{TABLE} exists without the unique key {UNIQUE_KEY} on \
                             (device_sn, timestamp), and adding it failed: {err}. Remove duplicate \
                             (device_sn, timestamp) rows, then run `ljwx-bigscreen migrate` again."
                    ))
                })?;
            }
            return Ok(());
        }

        let mut table = Table::create();
        table
            .table(HealthData::Table)
            .if_not_exists()
            .col(columns::id())
            .col(ColumnDef::new(HealthData::UserId).big_integer().not_null())
            .col(columns::device_sn());
        for col in columns::measurements() {
            table.col(col);
        }
        table
            .col(columns::timestamp())
            .col(columns::upload_method())
            .col(ColumnDef::new(HealthData::CustomerId).big_integer().null())
            .col(ColumnDef::new(HealthData::OrgId).big_integer().null())
            .col(columns::batch_id())
            .col(columns::create_time())
            .col(
                ColumnDef::new(HealthData::UpdateTime)
                    .timestamp_with_time_zone()
                    .null(),
            )
            .col(columns::is_deleted(HealthData::IsDeleted));
        manager.create_table(table.to_owned()).await?;

        manager.create_index(unique_key()).await?;
        let index = |name: &str, cols: &[DynIden]| {
            let mut index = Index::create();
            index.name(name).table(HealthData::Table);
            for col in cols {
                index.col(col.clone());
            }
            index.to_owned()
        };
        manager
            .create_index(index(
                "idx_user_timestamp",
                &[
                    HealthData::UserId.into_iden(),
                    Sample::Timestamp.into_iden(),
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_customer_org",
                &[
                    HealthData::CustomerId.into_iden(),
                    HealthData::OrgId.into_iden(),
                ],
            ))
            .await?;
        manager
            .create_index(index("idx_batch_id", &[Sample::BatchId.into_iden()]))
            .await?;
        manager
            .create_index(index("idx_create_time", &[Sample::CreateTime.into_iden()]))
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Never drop a table ljwx-boot may own.
        Ok(())
    }
}

/// The seed's `idx_device_timestamp`, made unique.
fn unique_key() -> IndexCreateStatement {
    Index::create()
        .name(UNIQUE_KEY)
        .table(HealthData::Table)
        .col(Sample::DeviceSn)
        .col(Sample::Timestamp)
        .unique()
        .to_owned()
}
