//! Alert episodes on `t_alert_info` and the notification outbox `t_alert_outbox`.
//!
//! `t_alert_info` keeps the seed's columns and meanings; the columns added here are all
//! nullable so ljwx-boot keeps reading and writing the table as before. An *open* alert (NEW
//! or ACKNOWLEDGED) carries `open_flag = 1`; resolving it sets the flag to NULL. The unique
//! key on `(device_sn, alert_type, open_flag)` lets the database itself guarantee at most one
//! open alert per device and type, across any number of service instances (NULLs never
//! collide, so resolved alerts and ljwx-boot's own rows are unconstrained).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum AlertInfo {
    #[sea_orm(iden = "t_alert_info")]
    Table,
    DeviceSn,
    AlertType,
    Status,
    OccurAt,
    OpenFlag,
    LevelRank,
    Occurrences,
    LastValue,
    LastOccurAt,
    AcknowledgedAt,
    ResolvedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AlertOutbox {
    #[sea_orm(iden = "t_alert_outbox")]
    Table,
    Id,
    AlertId,
    Event,
    Payload,
    Attempts,
    NextAttemptAt,
    SentAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let added = [
            ColumnDef::new(AlertInfo::OpenFlag)
                .small_integer()
                .null()
                .to_owned(),
            ColumnDef::new(AlertInfo::LevelRank)
                .small_integer()
                .null()
                .to_owned(),
            ColumnDef::new(AlertInfo::Occurrences)
                .integer()
                .null()
                .to_owned(),
            ColumnDef::new(AlertInfo::LastValue)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(AlertInfo::LastOccurAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(AlertInfo::AcknowledgedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(AlertInfo::ResolvedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(AlertInfo::UpdatedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        // One column per statement: SQLite alters one thing at a time.
        for mut column in added {
            let name = column.get_column_name();
            if manager.has_column("t_alert_info", &name).await? {
                continue;
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(AlertInfo::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        if !manager.has_index("t_alert_info", "uk_alert_open").await? {
            manager
                .create_index(
                    Index::create()
                        .name("uk_alert_open")
                        .table(AlertInfo::Table)
                        .col(AlertInfo::DeviceSn)
                        .col(AlertInfo::AlertType)
                        .col(AlertInfo::OpenFlag)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        if !manager
            .has_index("t_alert_info", "idx_alert_status_occur")
            .await?
        {
            manager
                .create_index(
                    Index::create()
                        .name("idx_alert_status_occur")
                        .table(AlertInfo::Table)
                        .col(AlertInfo::Status)
                        .col(AlertInfo::OccurAt)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AlertOutbox::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AlertOutbox::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AlertOutbox::AlertId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AlertOutbox::Event).string_len(16).not_null())
                    .col(ColumnDef::new(AlertOutbox::Payload).text().not_null())
                    .col(
                        ColumnDef::new(AlertOutbox::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(AlertOutbox::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertOutbox::SentAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AlertOutbox::CreatedAt)
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
                    .name("idx_outbox_pending")
                    .table(AlertOutbox::Table)
                    .col(AlertOutbox::SentAt)
                    .col(AlertOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The added alert columns stay: ljwx-boot owns `t_alert_info`.
        manager
            .drop_table(Table::drop().table(AlertOutbox::Table).to_owned())
            .await
    }
}
