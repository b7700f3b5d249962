//! `t_ingest_batch.fingerprint`: a batch record is unique by `(batch_id, fingerprint)`, no
//! longer by `batch_id` alone, so another batch that reuses an id is stored instead of being
//! answered with the first one's result.
//!
//! Records written before keep an empty fingerprint: a retry of such a batch is stored as a
//! new batch, and its samples count as duplicates. MySQL/MariaDB and PostgreSQL change the
//! table in place; SQLite cannot drop a column's `UNIQUE`, so its table is rebuilt.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Name of the new unique index.
const UNIQUE_INDEX: &str = "uk_ingest_batch_id_fingerprint";

/// Every column of the table, in order, as the SQLite rebuild copies them.
const COLUMNS: &str = "id, batch_id, status, total_records, valid_records, errors, warnings, \
    inserted, duplicates, unknown_device, error_details, processing_time_ms, trace_id, \
    create_time";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DbBackend::MySql => {
                let old = single_name(
                    db,
                    "SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't_ingest_batch' \
                     AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY' AND COLUMN_NAME = 'batch_id'",
                )
                .await?;
                let drop = old.map_or(String::new(), |name| format!(", DROP INDEX `{name}`"));
                db.execute_unprepared(&format!(
                    "ALTER TABLE t_ingest_batch \
                     ADD COLUMN fingerprint VARCHAR(64) NOT NULL DEFAULT '' AFTER batch_id{drop}, \
                     ADD UNIQUE INDEX {UNIQUE_INDEX} (batch_id, fingerprint)"
                ))
                .await?;
            }
            DbBackend::Postgres => {
                let old = single_name(
                    db,
                    "SELECT conname::text AS name FROM pg_constraint \
                     WHERE conrelid = 't_ingest_batch'::regclass AND contype = 'u'",
                )
                .await?;
                let drop = old.map_or(String::new(), |name| {
                    format!(", DROP CONSTRAINT \"{name}\"")
                });
                db.execute_unprepared(&format!(
                    "ALTER TABLE t_ingest_batch \
                     ADD COLUMN fingerprint varchar(64) NOT NULL DEFAULT ''{drop}"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE UNIQUE INDEX {UNIQUE_INDEX} ON t_ingest_batch (batch_id, fingerprint)"
                ))
                .await?;
            }
            _ => {
                // One batch on one connection, in one transaction: all of it or nothing.
                db.execute_unprepared(&format!(
                    "BEGIN IMMEDIATE; \
                     ALTER TABLE t_ingest_batch RENAME TO t_ingest_batch_old; \
                     CREATE TABLE t_ingest_batch (\
                     id integer NOT NULL PRIMARY KEY AUTOINCREMENT, \
                     batch_id varchar(64) NOT NULL, \
                     fingerprint varchar(64) NOT NULL DEFAULT '', \
                     status varchar(16) NOT NULL, \
                     total_records integer NOT NULL, valid_records integer NOT NULL, \
                     errors integer NOT NULL, warnings integer NOT NULL, \
                     inserted integer NOT NULL, duplicates integer NOT NULL, \
                     unknown_device integer NOT NULL, \
                     error_details text NOT NULL, processing_time_ms double NOT NULL, \
                     trace_id varchar(32) NULL, \
                     create_time timestamp_with_timezone_text NOT NULL \
                     DEFAULT CURRENT_TIMESTAMP); \
                     INSERT INTO t_ingest_batch ({COLUMNS}) SELECT {COLUMNS} FROM t_ingest_batch_old; \
                     DROP TABLE t_ingest_batch_old; \
                     CREATE UNIQUE INDEX {UNIQUE_INDEX} ON t_ingest_batch (batch_id, fingerprint); \
                     CREATE INDEX idx_ingest_batch_create_time ON t_ingest_batch (create_time); \
                     COMMIT;"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Going back would need `batch_id` unique again, which the reused ids stored since
        // no longer are.
        Err(DbErr::Migration(
            "t_ingest_batch.fingerprint cannot be removed: batch ids are no longer unique"
                .to_owned(),
        ))
    }
}

/// The `name` column of the one row `sql` returns, if it returns one.
async fn single_name(db: &SchemaManagerConnection<'_>, sql: &str) -> Result<Option<String>, DbErr> {
    let backend = db.get_database_backend();
    match db
        .query_one_raw(Statement::from_string(backend, sql.to_owned()))
        .await?
    {
        Some(row) => Ok(Some(row.try_get("", "name")?)),
        None => Ok(None),
    }
}
