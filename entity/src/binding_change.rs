//! `t_binding_change`: a device whose binding this service changed, so that every instance
//! forgets what it cached of it.

use sea_orm::entity::prelude::*;

/// One change of a device's binding.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "t_binding_change")]
pub struct Model {
    /// Row id, increasing.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The device whose binding changed.
    pub device_sn: String,
    /// When.
    pub create_time: DateTimeUtc,
}

/// Binding changes have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
