//! `sys_user_org`: which organisation a user belongs to, owned by ljwx-boot.

use sea_orm::entity::prelude::*;

/// One row of `sys_user_org`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sys_user_org")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The user (`sys_user.id`).
    pub user_id: i64,
    /// The organisation.
    pub org_id: i64,
    /// Soft delete flag of ljwx-boot: 0 live, 1 deleted.
    pub is_deleted: i16,
}

/// `sys_user_org` has no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
