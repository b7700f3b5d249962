//! The dashboard's own rows: settings (the generated password hash) and login sessions.

use super::sql::{insert_ignore, statement, values_list};
use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use entity::{admin_session, admin_setting};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Value};

/// A live session, as the dashboard needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    /// The token state-changing forms must carry.
    pub csrf_token: String,
    /// The session ends at this time unless it is renewed.
    pub expires_at: DateTime<Utc>,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Which admin password the session was opened with (a short hash of its hash).
    pub credential: String,
}

impl Store {
    /// The value of setting `name`.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(admin_setting::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .map(|s| s.value))
    }

    /// Stores `value` under `name` unless the setting exists; true when this call stored it.
    /// Two instances starting at once: exactly one wins.
    pub async fn insert_setting_if_absent(
        &self,
        name: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let backend = self.backend();
        let sql = insert_ignore(
            backend,
            "t_admin_setting",
            "name, value, updated_at",
            &values_list(backend, 1, 3),
            "name",
        );
        let values = vec![
            Value::String(Some(name.to_owned())),
            Value::String(Some(value.to_owned())),
            Value::ChronoDateTimeUtc(Some(now)),
        ];
        let inserted = self
            .db
            .execute_raw(statement(backend, sql, values))
            .await?
            .rows_affected();
        Ok(inserted > 0)
    }

    /// Replaces the value of setting `name` by `value` if it still is `old`; true when this
    /// call replaced it (two instances at once: exactly one wins).
    pub async fn replace_setting(
        &self,
        name: &str,
        old: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let replaced = admin_setting::Entity::update_many()
            .col_expr(admin_setting::Column::Value, Expr::value(value))
            .col_expr(admin_setting::Column::UpdatedAt, Expr::value(now))
            .filter(admin_setting::Column::Name.eq(name))
            .filter(admin_setting::Column::Value.eq(old))
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(replaced > 0)
    }

    /// Removes setting `name`.
    pub async fn delete_setting(&self, name: &str) -> Result<(), StoreError> {
        admin_setting::Entity::delete_by_id(name.to_owned())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Opens a session whose token hashes to `token_hash`, opened with the password
    /// `credential` names, and drops expired ones.
    pub async fn create_session(
        &self,
        token_hash: &str,
        csrf_token: &str,
        credential: &str,
        client: Option<String>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        admin_session::Entity::delete_many()
            .filter(admin_session::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        admin_session::Entity::insert(admin_session::ActiveModel {
            token_hash: Set(token_hash.to_owned()),
            csrf_token: Set(csrf_token.to_owned()),
            client: Set(client),
            created_at: Set(now),
            expires_at: Set(expires_at),
            credential: Set(credential.to_owned()),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// The session whose token hashes to `token_hash`, if it has not expired at `now`.
    pub async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminSession>, StoreError> {
        Ok(admin_session::Entity::find_by_id(token_hash.to_owned())
            .filter(admin_session::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?
            .map(|s| AdminSession {
                csrf_token: s.csrf_token,
                expires_at: s.expires_at,
                created_at: s.created_at,
                credential: s.credential,
            }))
    }

    /// Moves the end of a session to `expires_at`.
    pub async fn renew_session(
        &self,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        admin_session::Entity::update_many()
            .col_expr(admin_session::Column::ExpiresAt, Expr::value(expires_at))
            .filter(admin_session::Column::TokenHash.eq(token_hash))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Ends a session (logout).
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        admin_session::Entity::delete_by_id(token_hash.to_owned())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
