//! `sys_user`: a wearer, owned by ljwx-boot. A user wears at most one device (`device_sn`).

use sea_orm::entity::prelude::*;

/// One row of `sys_user`; only the columns this service reads or fills.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sys_user")]
pub struct Model {
    /// User id, referenced by health data and alerts.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Display name; optional for users created by `devices import`.
    pub user_name: Option<String>,
    /// Serial number of the watch the user wears.
    pub device_sn: Option<String>,
    /// Tenant the user belongs to.
    pub customer_id: Option<i64>,
    /// Soft delete flag of ljwx-boot: 0 live, 1 deleted.
    pub is_deleted: i16,
}

/// `sys_user` has no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
