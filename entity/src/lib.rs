//! SeaORM entities of the ljwx-bigscreen tables, one file per table.
//!
//! The `sys_*` and `t_user_health_data` / `t_alert_info` tables are shared with the ljwx-boot
//! admin system: their names and columns are a contract and must not change (`t_alert_info`
//! gains nullable columns only). The `t_ingest_*`, `t_unknown_device_data`, `t_device_daily`,
//! `t_device_daily_pending`, `t_alert_outbox`, `t_admin_setting`, `t_admin_session` and
//! `t_device_key` tables belong to this service alone.
//!
//! Entities are plain data; queries and business rules live in the service's `store` module.

pub mod admin_session;
pub mod admin_setting;
pub mod alert_outbox;
pub mod binding_change;
pub mod device_daily;
pub mod device_daily_pending;
pub mod device_key;
pub mod export_job;
pub mod ingest_batch;
pub mod sys_user;
pub mod sys_user_org;
pub mod t_alert_info;
pub mod t_user_health_data;
pub mod unknown_device_data;
