//! `t_device_key`: device credentials. A key covers one device (`device_sn`) or, as a gateway
//! key, every device bound to one customer (`customer_id`). The key itself is shown once
//! when issued; only its SHA-256 is stored.

use sea_orm::entity::prelude::*;

/// One issued key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "t_device_key")]
pub struct Model {
    /// Key id (shown in listings and used to revoke it).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The device a device key covers; `None` for a gateway key.
    pub device_sn: Option<String>,
    /// The customer a gateway key covers; `None` for a device key.
    pub customer_id: Option<i64>,
    /// Hex SHA-256 of the key. Unique.
    pub key_hash: String,
    /// When it was issued.
    pub created_at: DateTimeUtc,
    /// When it was revoked; a revoked key is refused.
    pub revoked_at: Option<DateTimeUtc>,
}

/// Keys have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
