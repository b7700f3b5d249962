//! `t_admin_session.credential`: which admin password a session was opened with (a short
//! hash of its hash). A session opened with another password than the one in force is
//! refused, so setting a new password ends every older session. Sessions of before this
//! column (empty) end with the upgrade: supervisors log in once more.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AdminSession {
    #[sea_orm(iden = "t_admin_session")]
    Table,
    Credential,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AdminSession::Table)
                    .add_column(
                        ColumnDef::new(AdminSession::Credential)
                            .string_len(16)
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AdminSession::Table)
                    .drop_column(AdminSession::Credential)
                    .to_owned(),
            )
            .await
    }
}
