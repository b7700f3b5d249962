//! The dashboard's reads. Each is bounded by a page size or by the number of open alerts and
//! active devices; none touches `t_user_health_data`.

use super::sql::page_offset;
use super::{Store, StoreError};
use crate::domain::AlertStatus;
use chrono::{DateTime, NaiveDate, Utc};
use entity::{device_daily, sys_user, t_alert_info, unknown_device_data};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;

/// An open alert with its wearer's name.
#[derive(Debug, Clone)]
pub struct OpenAlert {
    /// The alert row.
    pub alert: t_alert_info::Model,
    /// `sys_user.user_name` of the wearer, when known.
    pub user_name: Option<String>,
}

/// A bound device with its activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundDevice {
    /// Serial number.
    pub device_sn: String,
    /// The wearer.
    pub user_id: i64,
    /// The wearer's name, when ljwx-boot set one.
    pub user_name: Option<String>,
    /// Commit time of its latest stored sample, if any.
    pub last_seen: Option<DateTime<Utc>>,
    /// Samples stored today.
    pub today_records: i64,
}

/// A device bound to nobody, with what the quarantine holds of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedDevice {
    /// Serial number.
    pub device_sn: String,
    /// Samples waiting in quarantine.
    pub samples: i64,
    /// When the newest of them arrived.
    pub last_arrival: Option<DateTime<Utc>>,
}

impl Store {
    /// Open alerts (`NEW` or `ACKNOWLEDGED`) per level.
    pub async fn open_alert_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        use t_alert_info::Column as C;
        let rows: Vec<(String, i64)> = t_alert_info::Entity::find()
            .select_only()
            .column(C::Level)
            .column_as(Expr::col(C::Id).count(), "n")
            .filter(C::Status.is_in(AlertStatus::OPEN.map(AlertStatus::as_str)))
            .group_by(C::Level)
            .into_tuple()
            .all(self.reader())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(level, n)| (level, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// The newest `limit` open alerts, with their wearers' names.
    pub async fn latest_open_alerts(&self, limit: u64) -> Result<Vec<OpenAlert>, StoreError> {
        use t_alert_info::Column as C;
        let alerts = t_alert_info::Entity::find()
            .filter(C::Status.is_in(AlertStatus::OPEN.map(AlertStatus::as_str)))
            .order_by_desc(C::Id)
            .limit(limit)
            .all(self.reader())
            .await?;
        let names = self
            .user_names(alerts.iter().filter_map(|a| a.user_id).collect())
            .await?;
        Ok(alerts
            .into_iter()
            .map(|alert| OpenAlert {
                user_name: alert.user_id.and_then(|id| names.get(&id).cloned()),
                alert,
            })
            .collect())
    }

    /// Names of the users `ids` that have one.
    pub async fn user_names(&self, mut ids: Vec<i64>) -> Result<HashMap<i64, String>, StoreError> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, Option<String>)> = sys_user::Entity::find()
            .select_only()
            .column(sys_user::Column::Id)
            .column(sys_user::Column::UserName)
            .filter(sys_user::Column::Id.is_in(ids))
            .into_tuple()
            .all(self.reader())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, name)| name.map(|n| (id, n)))
            .collect())
    }

    /// Page `page` (from 1) of the bound devices by serial number, with their last sample
    /// and today's count, and how many devices are bound in all.
    pub async fn bound_devices(
        &self,
        day: NaiveDate,
        page: u64,
        page_size: u64,
    ) -> Result<(Vec<BoundDevice>, u64), StoreError> {
        use sys_user::Column as U;
        let query = sys_user::Entity::find()
            .filter(U::DeviceSn.is_not_null())
            .filter(U::DeviceSn.ne(""))
            .filter(U::IsDeleted.eq(0));
        let total = query.clone().count(self.reader()).await?;
        let Some(offset) = page_offset(page, page_size, total) else {
            return Ok((Vec::new(), total));
        };
        let users = query
            .order_by_asc(U::DeviceSn)
            .offset(offset)
            .limit(page_size)
            .all(self.reader())
            .await?;
        let serials: Vec<String> = users.iter().filter_map(|u| u.device_sn.clone()).collect();
        let mut last_seen: HashMap<String, DateTime<Utc>> = HashMap::new();
        let mut today: HashMap<String, i64> = HashMap::new();
        if !serials.is_empty() {
            use device_daily::Column as D;
            let seen: Vec<(String, DateTime<Utc>)> = device_daily::Entity::find()
                .select_only()
                .column(D::DeviceSn)
                .column_as(Expr::col(D::LastSeen).max(), "last_seen")
                .filter(D::DeviceSn.is_in(serials.clone()))
                .group_by(D::DeviceSn)
                .into_tuple()
                .all(self.reader())
                .await?;
            last_seen.extend(seen);
            let counts: Vec<(String, i64)> = device_daily::Entity::find()
                .select_only()
                .column(D::DeviceSn)
                .column(D::Records)
                .filter(D::Day.eq(day))
                .filter(D::DeviceSn.is_in(serials))
                .into_tuple()
                .all(self.reader())
                .await?;
            today.extend(counts);
        }
        let devices = users
            .into_iter()
            .filter_map(|u| {
                let device_sn = u.device_sn?;
                Some(BoundDevice {
                    last_seen: last_seen.get(&device_sn).copied(),
                    today_records: today.get(&device_sn).copied().unwrap_or(0),
                    user_id: u.id,
                    user_name: u.user_name,
                    device_sn,
                })
            })
            .collect();
        Ok((devices, total))
    }

    /// Up to `page_size` devices with quarantined samples, by serial number, those after
    /// serial `after` (from the first without), and whether more follow.
    ///
    /// A keyset page along the quarantine's unique index `(device_sn, timestamp)`: each page
    /// costs the same, also with a million serials in quarantine, where counting the devices
    /// for numbered pages took over half a second (docs/BENCHMARKS.md).
    pub async fn quarantined_devices(
        &self,
        after: Option<&str>,
        page_size: u64,
    ) -> Result<(Vec<QuarantinedDevice>, bool), StoreError> {
        use unknown_device_data::Column as Q;
        let mut query = unknown_device_data::Entity::find()
            .select_only()
            .column(Q::DeviceSn)
            .column_as(Expr::col(Q::Id).count(), "samples")
            .column_as(Expr::col(Q::CreateTime).max(), "last_arrival");
        if let Some(after) = after {
            query = query.filter(Q::DeviceSn.gt(after));
        }
        let mut rows: Vec<(String, i64, Option<DateTime<Utc>>)> = query
            .group_by(Q::DeviceSn)
            .order_by_asc(Q::DeviceSn)
            .limit(page_size + 1)
            .into_tuple()
            .all(self.reader())
            .await?;
        let more = rows.len() as u64 > page_size;
        rows.truncate(usize::try_from(page_size).unwrap_or(usize::MAX));
        let devices = rows
            .into_iter()
            .map(|(device_sn, samples, last_arrival)| QuarantinedDevice {
                device_sn,
                samples,
                last_arrival,
            })
            .collect();
        Ok((devices, more))
    }
}
