//! `t_admin_session`: dashboard login sessions, shared by every instance on the database so a
//! supervisor stays logged in whichever instance answers and across restarts.

use sea_orm::entity::prelude::*;

/// One login session. The cookie carries the token; only its SHA-256 is stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "t_admin_session")]
pub struct Model {
    /// Hex SHA-256 of the session token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The token every state-changing form of this session must carry.
    pub csrf_token: String,
    /// Address the session logged in from.
    pub client: Option<String>,
    /// Login time.
    pub created_at: DateTimeUtc,
    /// The session is refused from this time on (renewed while it is used).
    pub expires_at: DateTimeUtc,
    /// Short hash of the admin password hash the session was opened with: a session of
    /// another password is refused.
    pub credential: String,
}

/// Sessions have no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
