//! Schema migrations of ljwx-bigscreen, identical in meaning on SQLite, MySQL/MariaDB and
//! PostgreSQL.
//!
//! Every migration creates only what is missing. Pointed at an existing ljwx database, the
//! tables that ljwx-boot owns (`sys_user`, `sys_user_org`, `t_user_health_data`,
//! `t_alert_info`) are left as they are, and no migration ever drops them.
//!
//! One migration per file (`DeriveMigrationName` names a migration after its file).
//!
//! On the MySQL protocol the statements are the ones MySQL 8.0 documents as well as MariaDB
//! (tables, indexes, `ADD COLUMN … AFTER`, `GET_LOCK`): no MariaDB-only syntax, and no
//! collation named, so a table takes the database's default (`utf8mb4_0900_ai_ci` on MySQL
//! 8). A statement that had to differ would say so where it is written.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261125_000001_create_sys_user;
mod m20261125_000002_create_sys_user_org;
mod m20261125_000003_create_user_health_data;
mod m20261125_000004_create_alert_info;
mod m20261125_000005_create_ingest_batch;
mod m20261125_000006_create_unknown_device_data;
mod m20261125_000007_create_device_daily;
mod m20261125_000008_alert_episodes;
mod m20261125_000009_dashboard;
mod m20261126_000010_device_daily_pending;
mod m20261201_000011_batch_fingerprint;
mod m20261201_000012_device_keys;
mod m20261201_000013_session_credential;
mod m20261201_000014_quarantine_arrival_index;
mod m20261205_000015_batch_first_use;
mod m20261205_000016_binding_changes;
mod m20261205_000017_export_jobs;
mod m20261205_000018_user_time_id_index;

/// Runs the migrations in order; `Migrator::up(&db, None)` brings a database up to date.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_sys_user::Migration),
            Box::new(m20261125_000002_create_sys_user_org::Migration),
            Box::new(m20261125_000003_create_user_health_data::Migration),
            Box::new(m20261125_000004_create_alert_info::Migration),
            Box::new(m20261125_000005_create_ingest_batch::Migration),
            Box::new(m20261125_000006_create_unknown_device_data::Migration),
            Box::new(m20261125_000007_create_device_daily::Migration),
            Box::new(m20261125_000008_alert_episodes::Migration),
            Box::new(m20261125_000009_dashboard::Migration),
            Box::new(m20261126_000010_device_daily_pending::Migration),
            Box::new(m20261201_000011_batch_fingerprint::Migration),
            Box::new(m20261201_000012_device_keys::Migration),
            Box::new(m20261201_000013_session_credential::Migration),
            Box::new(m20261201_000014_quarantine_arrival_index::Migration),
            Box::new(m20261205_000015_batch_first_use::Migration),
            Box::new(m20261205_000016_binding_changes::Migration),
            Box::new(m20261205_000017_export_jobs::Migration),
            Box::new(m20261205_000018_user_time_id_index::Migration),
        ]
    }
}
