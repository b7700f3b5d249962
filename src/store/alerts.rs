//! Alert episodes and their notification outbox: written inside the commit transaction of the
//! samples that raised them, read and moved through their lifecycle by the admin API, and
//! drained by the notifier.

use super::sql::page_offset;
use super::{Store, StoreError};
use crate::domain::episode::{Change, Episode, Observation, OpenAlert, plan};
use crate::domain::rules::value_text;
use crate::domain::{Alert, AlertLevel, AlertStatus, MappedSample, Reading, Rules};
use chrono::{DateTime, Utc};
use entity::{alert_outbox, t_alert_info};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::{BTreeMap, HashMap};

/// Most devices per `IN (…)` when loading open alerts.
const DEVICES_PER_QUERY: usize = 500;

/// Readings of one device and alert type, in commit order until sorted.
struct Series {
    user_id: i64,
    observations: Vec<Observation>,
    breached: bool,
}

/// An alert opened or escalated by a commit (one notification each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    /// The alert type.
    pub alert_type: String,
    /// The alert's level after the event.
    pub level: AlertLevel,
    /// `opened` or `escalated`.
    pub event: &'static str,
}

impl AlertEvent {
    fn new(alert_type: &str, level: AlertLevel, event: &'static str) -> Self {
        Self {
            alert_type: alert_type.to_owned(),
            level,
            event,
        }
    }
}

/// Raises, updates and resolves the alerts `committed` samples call for, and queues their
/// notifications, inside `txn`. Returns the alerts opened or escalated.
///
/// Open alerts are read with a row lock (`FOR UPDATE`; SQLite's transaction already holds
/// the write lock), so concurrent writers update an episode one after the other. Two writers
/// that both open the same episode collide on the unique key `uk_alert_open`; the loser's
/// transaction fails and the commit runs it again, now finding the winner's alert.
pub(super) async fn apply(
    txn: &impl ConnectionTrait,
    rules: &Rules,
    committed: impl Iterator<Item = &MappedSample>,
    now: DateTime<Utc>,
) -> Result<Vec<AlertEvent>, sea_orm::DbErr> {
    let hysteresis = rules.resolve_after().is_some();
    let mut series: BTreeMap<(&str, usize), Series> = BTreeMap::new();
    for m in committed {
        for (kind, reading) in rules.check(&m.sample) {
            let breach = matches!(reading, Reading::Breach { .. });
            if !breach && !hysteresis {
                continue;
            }
            let s = series
                .entry((m.sample.device_sn.as_str(), kind))
                .or_insert_with(|| Series {
                    user_id: m.binding.user_id,
                    observations: Vec::new(),
                    breached: false,
                });
            s.breached |= breach;
            s.user_id = m.binding.user_id;
            s.observations.push(Observation {
                at: m.sample.timestamp,
                reading,
            });
        }
    }
    if series.is_empty() {
        return Ok(Vec::new());
    }

    // With hysteresis, normal readings matter only for devices that may have an open alert.
    let mut devices: Vec<&str> = series.keys().map(|(d, _)| *d).collect();
    devices.dedup();
    let mut open: HashMap<(String, String), OpenAlert> = HashMap::new();
    for chunk in devices.chunks(DEVICES_PER_QUERY) {
        let rows = t_alert_info::Entity::find()
            .filter(t_alert_info::Column::OpenFlag.eq(1))
            .filter(t_alert_info::Column::DeviceSn.is_in(chunk.iter().copied()))
            .order_by_asc(t_alert_info::Column::Id)
            .lock_exclusive()
            .all(txn)
            .await?;
        for row in rows {
            let level = row
                .level_rank
                .map_or(AlertLevel::Minor, AlertLevel::of_rank);
            open.insert(
                (row.device_sn.clone(), row.alert_type.clone()),
                OpenAlert {
                    id: row.id,
                    level,
                    occurrences: row.occurrences.unwrap_or(1),
                    last_at: row
                        .last_occur_at
                        .or(row.occur_at)
                        .unwrap_or(row.create_time),
                },
            );
        }
    }

    let mut events = Vec::new();
    for ((device, kind), mut s) in series {
        let alert_type = rules.type_name(kind);
        let current = open.remove(&(device.to_owned(), alert_type.to_owned()));
        if current.is_none() && !s.breached {
            continue;
        }
        s.observations.sort_by_key(|o| o.at);
        for change in plan(current, &s.observations, rules.resolve_after()) {
            match change {
                Change::Open(episode) => {
                    let id =
                        insert_alert(txn, device, alert_type, s.user_id, &episode, now).await?;
                    queue_notification(txn, id, "opened", now).await?;
                    events.push(AlertEvent::new(alert_type, episode.level, "opened"));
                }
                Change::Update {
                    id,
                    episode,
                    escalated,
                } => {
                    update_alert(txn, id, &episode, now).await?;
                    if escalated {
                        queue_notification(txn, id, "escalated", now).await?;
                        events.push(AlertEvent::new(alert_type, episode.level, "escalated"));
                    }
                }
            }
        }
    }
    Ok(events)
}

async fn insert_alert(
    txn: &impl ConnectionTrait,
    device: &str,
    alert_type: &str,
    user_id: i64,
    e: &Episode,
    now: DateTime<Utc>,
) -> Result<i64, sea_orm::DbErr> {
    let resolved = e.resolved_at.is_some();
    let last = e.last.unwrap_or(e.first);
    let row = t_alert_info::ActiveModel {
        id: NotSet,
        user_id: Set(Some(user_id)),
        device_sn: Set(device.to_owned()),
        alert_type: Set(alert_type.to_owned()),
        alert_value: Set(Some(value_text(e.first.0))),
        level: Set(e.level.as_str().to_owned()),
        status: Set(if resolved {
            AlertStatus::Resolved.as_str()
        } else {
            AlertStatus::New.as_str()
        }
        .to_owned()),
        occur_at: Set(Some(e.first.1)),
        create_time: Set(now),
        open_flag: Set((!resolved).then_some(1)),
        level_rank: Set(Some(e.level.rank())),
        occurrences: Set(Some(e.occurrences)),
        last_value: Set(Some(value_text(last.0))),
        last_occur_at: Set(Some(last.1)),
        acknowledged_at: Set(None),
        resolved_at: Set(e.resolved_at),
        updated_at: Set(Some(now)),
    };
    Ok(t_alert_info::Entity::insert(row)
        .exec(txn)
        .await?
        .last_insert_id)
}

async fn update_alert(
    txn: &impl ConnectionTrait,
    id: i64,
    e: &Episode,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let mut update = t_alert_info::Entity::update_many()
        .col_expr(
            t_alert_info::Column::Occurrences,
            Expr::value(e.occurrences),
        )
        .col_expr(t_alert_info::Column::Level, Expr::value(e.level.as_str()))
        .col_expr(t_alert_info::Column::LevelRank, Expr::value(e.level.rank()))
        .col_expr(t_alert_info::Column::UpdatedAt, Expr::value(now));
    if let Some((value, at)) = e.last {
        update = update
            .col_expr(
                t_alert_info::Column::LastValue,
                Expr::value(value_text(value)),
            )
            .col_expr(t_alert_info::Column::LastOccurAt, Expr::value(at));
    }
    if let Some(at) = e.resolved_at {
        update = update
            .col_expr(
                t_alert_info::Column::Status,
                Expr::value(AlertStatus::Resolved.as_str()),
            )
            .col_expr(
                t_alert_info::Column::OpenFlag,
                Expr::value(Option::<i16>::None),
            )
            .col_expr(t_alert_info::Column::ResolvedAt, Expr::value(at));
    }
    update
        .filter(t_alert_info::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Queues a notification of `event` with alert `id` as it is now.
async fn queue_notification(
    txn: &impl ConnectionTrait,
    id: i64,
    event: &str,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let Some(row) = t_alert_info::Entity::find_by_id(id).one(txn).await? else {
        // Just written or locked by this transaction: it cannot have vanished.
        return Err(sea_orm::DbErr::RecordNotFound(format!("alert {id}")));
    };
    let alert = Alert::from(row);
    let payload = serde_json::to_string(&alert)
        .map_err(|err| sea_orm::DbErr::Custom(format!("alert payload: {err}")))?;
    alert_outbox::Entity::insert(alert_outbox::ActiveModel {
        id: NotSet,
        alert_id: Set(alert.id),
        event: Set(event.to_owned()),
        payload: Set(payload),
        attempts: Set(0),
        next_attempt_at: Set(now),
        sent_at: Set(None),
        created_at: Set(now),
    })
    .exec(txn)
    .await?;
    Ok(())
}

/// Filters of the alert list; every one optional.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts in this status.
    pub status: Option<AlertStatus>,
    /// Only alerts of this level.
    pub level: Option<AlertLevel>,
    /// Alert type.
    pub alert_type: Option<String>,
    /// Device serial number.
    pub device_sn: Option<String>,
    /// First breach at or after.
    pub from: Option<DateTime<Utc>>,
    /// First breach before.
    pub to: Option<DateTime<Utc>>,
    /// Only alerts not yet resolved (`NEW` or `ACKNOWLEDGED`).
    pub open_only: bool,
}

/// An admin action on an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// NEW → ACKNOWLEDGED.
    Acknowledge,
    /// NEW or ACKNOWLEDGED → RESOLVED.
    Resolve,
}

/// What became of an admin action.
#[derive(Debug, Clone, PartialEq)]
pub enum TransitionOutcome {
    /// Done, or the alert already was in the target state; the alert now.
    Done(t_alert_info::Model),
    /// No such alert.
    NotFound,
    /// The alert's status does not allow it (acknowledging a resolved alert).
    Illegal(t_alert_info::Model),
}

impl Store {
    /// A page of alerts matching `filter`, newest first, and how many match in all.
    pub async fn list_alerts(
        &self,
        filter: &AlertFilter,
        page: u64,
        page_size: u64,
    ) -> Result<(Vec<t_alert_info::Model>, u64), StoreError> {
        use t_alert_info::Column as C;
        let mut cond = Condition::all();
        if let Some(v) = &filter.status {
            cond = cond.add(C::Status.eq(v.as_str()));
        }
        if filter.open_only {
            cond = cond.add(C::Status.is_in(AlertStatus::OPEN.map(AlertStatus::as_str)));
        }
        if let Some(v) = &filter.level {
            cond = cond.add(C::Level.eq(v.as_str()));
        }
        if let Some(v) = &filter.alert_type {
            cond = cond.add(C::AlertType.eq(v.as_str()));
        }
        if let Some(v) = &filter.device_sn {
            cond = cond.add(C::DeviceSn.eq(v.as_str()));
        }
        if let Some(v) = filter.from {
            cond = cond.add(C::OccurAt.gte(v));
        }
        if let Some(v) = filter.to {
            cond = cond.add(C::OccurAt.lt(v));
        }
        let query = t_alert_info::Entity::find()
            .filter(cond)
            .order_by_desc(C::Id);
        let total = query.clone().count(self.reader()).await?;
        let Some(offset) = page_offset(page, page_size, total) else {
            return Ok((Vec::new(), total));
        };
        let items = query
            .offset(offset)
            .limit(page_size)
            .all(self.reader())
            .await?;
        Ok((items, total))
    }

    /// One alert.
    pub async fn alert(&self, id: i64) -> Result<Option<t_alert_info::Model>, StoreError> {
        Ok(t_alert_info::Entity::find_by_id(id).one(&self.db).await?)
    }

    /// Moves alert `id` through its lifecycle at `now`. The status check and the change are
    /// one `UPDATE … WHERE status IN (…)`, so two supervisors acting at once cannot both win.
    pub async fn transition_alert(
        &self,
        id: i64,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<TransitionOutcome, StoreError> {
        use t_alert_info::Column as C;
        let (target, from): (AlertStatus, &[AlertStatus]) = match transition {
            Transition::Acknowledge => (AlertStatus::Acknowledged, &[AlertStatus::New]),
            Transition::Resolve => (AlertStatus::Resolved, &AlertStatus::OPEN),
        };
        let mut update = t_alert_info::Entity::update_many()
            .col_expr(C::Status, Expr::value(target.as_str()))
            .col_expr(C::UpdatedAt, Expr::value(now));
        update = match transition {
            Transition::Acknowledge => update.col_expr(C::AcknowledgedAt, Expr::value(now)),
            Transition::Resolve => update
                .col_expr(C::ResolvedAt, Expr::value(now))
                .col_expr(C::OpenFlag, Expr::value(Option::<i16>::None)),
        };
        let changed = update
            .filter(C::Id.eq(id))
            .filter(C::Status.is_in(from.iter().map(|s| s.as_str())))
            .exec(&self.db)
            .await?
            .rows_affected;
        let Some(alert) = self.alert(id).await? else {
            return Ok(TransitionOutcome::NotFound);
        };
        if changed > 0 || alert.status == target.as_str() {
            Ok(TransitionOutcome::Done(alert))
        } else {
            Ok(TransitionOutcome::Illegal(alert))
        }
    }

    /// Up to `limit` notifications due at `now`, oldest first.
    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<alert_outbox::Model>, StoreError> {
        use alert_outbox::Column as C;
        Ok(alert_outbox::Entity::find()
            .filter(C::SentAt.is_null())
            .filter(C::NextAttemptAt.lte(now))
            .order_by_asc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Takes notification `id` for sending until `lease_until`, unless another instance took
    /// it first (then `false`). The condition is re-checked by the `UPDATE` itself.
    pub async fn claim_notification(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use alert_outbox::Column as C;
        let claimed = alert_outbox::Entity::update_many()
            .col_expr(C::NextAttemptAt, Expr::value(lease_until))
            .filter(C::Id.eq(id))
            .filter(C::SentAt.is_null())
            .filter(C::NextAttemptAt.lte(now))
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(claimed == 1)
    }

    /// Records that notification `id` was delivered.
    pub async fn notification_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        alert_outbox::Entity::update_many()
            .col_expr(alert_outbox::Column::SentAt, Expr::value(now))
            .filter(alert_outbox::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records a failed delivery of notification `id`: `attempts` so far, next try at `retry_at`.
    pub async fn notification_failed(
        &self,
        id: i64,
        attempts: i32,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        alert_outbox::Entity::update_many()
            .col_expr(alert_outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(alert_outbox::Column::NextAttemptAt, Expr::value(retry_at))
            .filter(alert_outbox::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// An alert row as integrators see it.
impl From<t_alert_info::Model> for Alert {
    fn from(m: t_alert_info::Model) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id,
            device_sn: m.device_sn,
            alert_type: m.alert_type,
            level: m.level,
            status: m.status,
            // Rows written by ljwx-boot have only the seed's columns.
            last_value: m.last_value.or_else(|| m.alert_value.clone()),
            value: m.alert_value,
            occurrences: m.occurrences.unwrap_or(1),
            last_occur_at: m.last_occur_at.or(m.occur_at),
            occur_at: m.occur_at,
            create_time: m.create_time,
            acknowledged_at: m.acknowledged_at,
            resolved_at: m.resolved_at,
        }
    }
}
