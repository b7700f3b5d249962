//! Device credentials in `t_device_key`: issue, list, revoke, and the lookup of a presented
//! key by its hash.

use super::{Store, StoreError};
use crate::domain::{DeviceKey, KeyOwner};
use chrono::{DateTime, Utc};
use entity::device_key::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};

/// A key as listed (never the key itself: only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id.
    pub id: i64,
    /// What it covers.
    pub owner: KeyOwner,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<Model> for KeyInfo {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            owner: owner_of(m.device_sn, m.customer_id),
            created_at: m.created_at,
            revoked_at: m.revoked_at,
        }
    }
}

fn owner_of(device_sn: Option<String>, customer_id: Option<i64>) -> KeyOwner {
    match (device_sn, customer_id) {
        (Some(device), _) => KeyOwner::Device(device),
        (None, Some(customer)) => KeyOwner::Customer(customer),
        // The table holds one or the other; a row with neither covers no device.
        (None, None) => KeyOwner::Device(String::new()),
    }
}

/// Rows of `owner`.
fn of_owner(owner: &KeyOwner) -> Condition {
    match owner {
        KeyOwner::Device(device) => Condition::all().add(Column::DeviceSn.eq(device.as_str())),
        KeyOwner::Customer(customer) => Condition::all()
            .add(Column::CustomerId.eq(*customer))
            .add(Column::DeviceSn.is_null()),
    }
}

impl Store {
    /// Stores a new key of `owner` by its hash, unless `owner` has `max_active` unrevoked
    /// keys already (`None` then: revoke one first).
    pub async fn issue_key(
        &self,
        owner: &KeyOwner,
        key_hash: &str,
        now: DateTime<Utc>,
        max_active: u64,
    ) -> Result<Option<KeyInfo>, StoreError> {
        // The insert comes first, so that SQLite takes the write lock (waiting its busy
        // timeout) before the count reads, instead of failing to upgrade a read later.
        let txn = self.db.begin().await?;
        let (device_sn, customer_id) = match owner {
            KeyOwner::Device(device) => (Some(device.clone()), None),
            KeyOwner::Customer(customer) => (None, Some(*customer)),
        };
        let row = Entity::insert(ActiveModel {
            id: NotSet,
            device_sn: Set(device_sn),
            customer_id: Set(customer_id),
            key_hash: Set(key_hash.to_owned()),
            created_at: Set(now),
            revoked_at: Set(None),
        })
        .exec_with_returning(&txn)
        .await?;
        let active = Entity::find()
            .filter(of_owner(owner))
            .filter(Column::RevokedAt.is_null())
            .count(&txn)
            .await?;
        if active > max_active {
            txn.rollback().await?;
            return Ok(None);
        }
        txn.commit().await?;
        Ok(Some(row.into()))
    }

    /// Every key of `owner`, revoked ones too, oldest first.
    pub async fn keys_of(&self, owner: &KeyOwner) -> Result<Vec<KeyInfo>, StoreError> {
        Ok(Entity::find()
            .filter(of_owner(owner))
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(KeyInfo::from)
            .collect())
    }

    /// Revokes key `id` of `owner`, or every unrevoked key of `owner` when `id` is `None`.
    /// Returns the keys revoked now (none when `id` is unknown, of someone else, or revoked
    /// already).
    pub async fn revoke_keys(
        &self,
        owner: &KeyOwner,
        id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyInfo>, StoreError> {
        let mut which = Condition::all()
            .add(of_owner(owner))
            .add(Column::RevokedAt.is_null());
        if let Some(id) = id {
            which = which.add(Column::Id.eq(id));
        }
        let candidates = Entity::find().filter(which).all(&self.db).await?;
        let mut revoked = Vec::with_capacity(candidates.len());
        // One statement per key (a device has two at most): a key revoked meanwhile by
        // another request is not reported twice.
        for key in candidates {
            let changed = Entity::update_many()
                .col_expr(Column::RevokedAt, Expr::value(now))
                .filter(Column::Id.eq(key.id))
                .filter(Column::RevokedAt.is_null())
                .exec(&self.db)
                .await?
                .rows_affected;
            if changed > 0 {
                revoked.push(KeyInfo {
                    revoked_at: Some(now),
                    ..KeyInfo::from(key)
                });
            }
        }
        Ok(revoked)
    }

    /// The unrevoked key whose hash is `key_hash`.
    pub async fn key_by_hash(&self, key_hash: &str) -> Result<Option<DeviceKey>, StoreError> {
        Ok(Entity::find()
            .filter(Column::KeyHash.eq(key_hash))
            .filter(Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
            .map(|m| DeviceKey {
                id: m.id,
                owner: owner_of(m.device_sn, m.customer_id),
            }))
    }

    /// How many keys were ever revoked. It changes with every revocation (revoked rows are
    /// kept), so instances watch it to know when cached keys must be checked again.
    pub async fn revoked_key_count(&self) -> Result<u64, StoreError> {
        Ok(Entity::find()
            .filter(Column::RevokedAt.is_not_null())
            .count(&self.db)
            .await?)
    }
}
