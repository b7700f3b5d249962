//! `t_alert_outbox`: notifications about alerts, written in the transaction that opened or
//! escalated the alert, and marked sent once every notifier delivered them.
//!
//! Because the row is committed together with the alert, a crash between commit and delivery
//! only delays the notification: the notifier finds the row after the restart.

use sea_orm::entity::prelude::*;

/// One pending or sent notification.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "t_alert_outbox")]
pub struct Model {
    /// Row id; also the notification's id in its JSON body, so receivers can drop repeats.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The alert (`t_alert_info.id`).
    pub alert_id: i64,
    /// `opened` or `escalated`.
    pub event: String,
    /// The notification body (JSON), as it was when the event happened.
    pub payload: String,
    /// Failed delivery attempts so far.
    pub attempts: i32,
    /// Not attempted before this time (backoff after failures, lease while sending).
    pub next_attempt_at: DateTimeUtc,
    /// When every notifier accepted it; NULL while pending.
    pub sent_at: Option<DateTimeUtc>,
    /// When the event happened.
    pub created_at: DateTimeUtc,
}

/// Outbox rows have no relations this service navigates.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
