//! Device → wearer bindings: the seed's batched lookup, and binding devices for standalone
//! deployments.

use super::sql::{in_list, statement};
use super::{Store, StoreError};
use crate::domain::Binding;
use entity::{sys_user, sys_user_org};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    TransactionTrait, Value,
};
use std::collections::HashMap;

/// Devices looked up per `IN (…)` query.
const LOOKUP_CHUNK: usize = 1000;

/// One line of a bindings file: bind `device_sn` to user `user_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceImport {
    /// Serial number of the watch.
    pub device_sn: String,
    /// The wearer; created in `sys_user` when missing.
    pub user_id: i64,
    /// Tenant of the wearer.
    pub customer_id: Option<i64>,
    /// Organisation of the wearer; replaces the user's other organisations.
    pub org_id: Option<i64>,
}

/// Result of a lookup: bindings found, and devices that ljwx-boot bound to several live
/// users (the newest user won).
#[derive(Debug, Default)]
pub struct Lookup {
    /// Device → binding for every bound device asked about.
    pub bindings: HashMap<String, Binding>,
    /// Devices that had more than one live user.
    pub ambiguous: Vec<String>,
}

impl Store {
    /// Bindings of `devices` (the seed's `sys_user ⟕ sys_user_org` query, `is_deleted = 0`).
    /// Devices bound to no live user are absent from the result.
    pub async fn lookup_bindings(&self, devices: &[String]) -> Result<Lookup, StoreError> {
        let backend = self.backend();
        let mut lookup = Lookup::default();
        let mut winner: HashMap<String, i64> = HashMap::new();
        for chunk in devices.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT u.device_sn, u.id AS user_id, u.customer_id, uo.org_id \
                 FROM sys_user u \
                 LEFT JOIN sys_user_org uo ON u.id = uo.user_id AND uo.is_deleted = 0 \
                 WHERE u.device_sn IN ({}) AND u.is_deleted = 0 \
                 ORDER BY u.id, uo.org_id",
                in_list(backend, chunk.len())
            );
            let values = chunk
                .iter()
                .map(|d| Value::String(Some(d.clone())))
                .collect();
            let rows = self
                .db
                .query_all_raw(statement(backend, sql, values))
                .await?;
            for row in rows {
                let device: String = row.try_get("", "device_sn")?;
                let binding = Binding {
                    user_id: row.try_get("", "user_id")?,
                    customer_id: row.try_get("", "customer_id")?,
                    org_id: row.try_get("", "org_id")?,
                };
                // Rows come by ascending user id: a later one is a newer user and wins.
                if let Some(previous) = winner.insert(device.clone(), binding.user_id)
                    && previous != binding.user_id
                    && !lookup.ambiguous.contains(&device)
                {
                    lookup.ambiguous.push(device.clone());
                }
                lookup.bindings.insert(device, binding);
            }
        }
        Ok(lookup)
    }

    /// Binds each device to its user in one transaction: creates or updates the `sys_user`
    /// row, unbinds the device from any other user, and sets the user's organisation.
    pub async fn bind_devices(&self, imports: &[DeviceImport]) -> Result<(), StoreError> {
        use sys_user::Column as U;
        use sys_user_org::Column as O;
        let txn = self.db.begin().await?;
        for import in imports {
            sys_user::Entity::update_many()
                .col_expr(U::DeviceSn, Expr::value(Option::<String>::None))
                .filter(U::DeviceSn.eq(import.device_sn.as_str()))
                .filter(U::Id.ne(import.user_id))
                .exec(&txn)
                .await?;
            let existing = sys_user::Entity::find_by_id(import.user_id)
                .one(&txn)
                .await?;
            if existing.is_some() {
                sys_user::Entity::update_many()
                    .col_expr(U::DeviceSn, Expr::value(import.device_sn.as_str()))
                    .col_expr(U::CustomerId, Expr::value(import.customer_id))
                    .col_expr(U::IsDeleted, Expr::value(0))
                    .filter(U::Id.eq(import.user_id))
                    .exec(&txn)
                    .await?;
            } else {
                sys_user::Entity::insert(sys_user::ActiveModel {
                    id: Set(import.user_id),
                    user_name: Set(None),
                    device_sn: Set(Some(import.device_sn.clone())),
                    customer_id: Set(import.customer_id),
                    is_deleted: Set(0),
                })
                .exec_without_returning(&txn)
                .await?;
            }
            if let Some(org_id) = import.org_id {
                sys_user_org::Entity::update_many()
                    .col_expr(O::IsDeleted, Expr::value(1))
                    .filter(O::UserId.eq(import.user_id))
                    .filter(O::OrgId.ne(org_id))
                    .filter(O::IsDeleted.eq(0))
                    .exec(&txn)
                    .await?;
                let member = sys_user_org::Entity::find()
                    .filter(O::UserId.eq(import.user_id))
                    .filter(O::OrgId.eq(org_id))
                    .filter(O::IsDeleted.eq(0))
                    .one(&txn)
                    .await?;
                if member.is_none() {
                    sys_user_org::Entity::insert(sys_user_org::ActiveModel {
                        user_id: Set(import.user_id),
                        org_id: Set(org_id),
                        is_deleted: Set(0),
                        ..Default::default()
                    })
                    .exec_without_returning(&txn)
                    .await?;
                }
            }
        }
        if txn.get_database_backend() == DbBackend::Postgres {
            // Explicit ids do not advance PostgreSQL's sequence; move it past them so the
            // next user ljwx-boot (or we) create does not collide.
            txn.execute_unprepared(
                "SELECT setval(pg_get_serial_sequence('sys_user', 'id'), \
                 (SELECT COALESCE(MAX(id), 1) FROM sys_user))",
            )
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}
