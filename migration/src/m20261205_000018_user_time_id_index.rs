//! On MySQL/MariaDB, `idx_user_timestamp` of `t_user_health_data` becomes
//! `(user_id, timestamp, id)`: a wearer's samples are paged in `(timestamp, id)` order (a
//! wearer's devices may share a second), and on a partitioned table MariaDB does not use the
//! primary key that InnoDB appends to the index for that order — it read a wearer's whole
//! range and sorted it (180 ms a page with 10 million rows, `docs/BENCHMARKS.md`). One
//! `ALTER TABLE` drops and adds it, so the index is never missing; MySQL 8 and MariaDB build
//! it in place, writes going on. The name stays the seed's. PostgreSQL (an incremental sort
//! of the index's `timestamp` order) and SQLite (the rowid ends every index) need no change.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The index with the primary key's `id` after its columns.
const ALTER_UP: &str = "ALTER TABLE t_user_health_data DROP INDEX idx_user_timestamp, \
                        ADD INDEX idx_user_timestamp (user_id, timestamp, id)";
/// The index as the seed has it.
const ALTER_DOWN: &str = "ALTER TABLE t_user_health_data DROP INDEX idx_user_timestamp, \
                          ADD INDEX idx_user_timestamp (user_id, timestamp)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        alter(manager, ALTER_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        alter(manager, ALTER_DOWN).await
    }
}

/// Runs `sql` on MySQL/MariaDB, when the table has the seed's index (a table ljwx-boot
/// created without it is left as it is).
async fn alter(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() != DbBackend::MySql
        || !manager
            .has_index("t_user_health_data", "idx_user_timestamp")
            .await?
    {
        return Ok(());
    }
    db.execute_unprepared(sql).await.map(drop)
}
