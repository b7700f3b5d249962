//! Device → wearer bindings: the seed's batched lookup, and binding devices for standalone
//! deployments.

use super::sql::{in_list, statement};
use super::{Store, StoreError};
use crate::domain::Binding;
use entity::{binding_change, sys_user, sys_user_org};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
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

    /// Binds each device to its user in one transaction, as ljwx-boot keeps its users:
    /// creates or updates the `sys_user` row (`device_sn`, `customer_id`, undeleted), unbinds
    /// the device from any other user, and makes `org_id` the user's one organisation in
    /// `sys_user_org` (the others soft-deleted). Each device is noted in `t_binding_change`,
    /// so every instance forgets what it cached of it.
    pub async fn bind_devices(&self, imports: &[DeviceImport]) -> Result<(), StoreError> {
        use sys_user::Column as U;
        use sys_user_org::Column as O;
        let txn = self.db.begin().await?;
        note_changes(&txn, imports.iter().map(|i| i.device_sn.as_str())).await?;
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

    /// The wearer device `sn` is bound to now (read from the primary), if any.
    pub async fn binding_of(&self, sn: &str) -> Result<Option<Binding>, StoreError> {
        let lookup = self.lookup_bindings(&[sn.to_owned()]).await?;
        Ok(lookup.bindings.get(sn).copied())
    }

    /// The watch user `user_id` wears now, if any.
    pub async fn device_of_user(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        use sys_user::Column as U;
        let device: Option<Option<String>> = sys_user::Entity::find()
            .select_only()
            .column(U::DeviceSn)
            .filter(U::Id.eq(user_id))
            .filter(U::IsDeleted.eq(0))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(device.flatten().filter(|d| !d.is_empty()))
    }

    /// Unbinds device `sn` from every user (`sys_user.device_sn` cleared), noting the change.
    /// Returns whether it was bound.
    pub async fn unbind_device(&self, sn: &str) -> Result<bool, StoreError> {
        use sys_user::Column as U;
        let txn = self.db.begin().await?;
        let unbound = sys_user::Entity::update_many()
            .col_expr(U::DeviceSn, Expr::value(Option::<String>::None))
            .filter(U::DeviceSn.eq(sn))
            .exec(&txn)
            .await?
            .rows_affected;
        if unbound > 0 {
            note_changes(&txn, [sn]).await?;
        }
        txn.commit().await?;
        Ok(unbound > 0)
    }

    /// The newest binding change's id (0 when there is none).
    pub async fn last_binding_change(&self) -> Result<i64, StoreError> {
        use binding_change::{Column, Entity};
        let last: Option<i64> = Entity::find()
            .select_only()
            .column_as(Column::Id.max(), "last")
            .into_tuple()
            .one(&self.db)
            .await?
            .flatten();
        Ok(last.unwrap_or(0))
    }

    /// The binding changes with an id above `after`: `(id, device)`, by id.
    pub async fn binding_changes_after(
        &self,
        after: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        use binding_change::{Column, Entity};
        let changes = Entity::find()
            .select_only()
            .columns([Column::Id, Column::DeviceSn])
            .filter(Column::Id.gt(after))
            .order_by_asc(Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(changes)
    }
}

/// Notes a binding change of each of `devices` in `txn`.
async fn note_changes<'a>(
    txn: &impl ConnectionTrait,
    devices: impl IntoIterator<Item = &'a str>,
) -> Result<(), sea_orm::DbErr> {
    let now = chrono::Utc::now();
    let rows: Vec<binding_change::ActiveModel> = devices
        .into_iter()
        .map(|device| binding_change::ActiveModel {
            id: NotSet,
            device_sn: Set(device.to_owned()),
            create_time: Set(now),
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    binding_change::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}
