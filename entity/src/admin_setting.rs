//! `t_admin_setting`: settings the service keeps for itself, such as the hash of the admin
//! password it generated at first start (shared by every instance on the database).

use sea_orm::entity::prelude::*;

/// One named setting.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "t_admin_setting")]
pub struct Model {
    /// Setting name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Its value.
    #[sea_orm(column_type = "Text")]
    pub value: String,
    /// When it was written.
    pub updated_at: DateTimeUtc,
}

/// Settings have no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
