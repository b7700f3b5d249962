//! `/devices`: bound devices with their activity, and unknown devices from the quarantine
//! with a replay once they are bound.

use super::format::thousands;
use super::{
    Dashboard, Flash, KeysetPager, Nav, Pager, Session, csrf_refused, encode, error_page, html,
    unavailable,
};
use askama::Template;
use chrono::Utc;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;
use tracing::{error, info};

/// Query of `GET /devices`.
#[derive(Debug, Default, Deserialize)]
pub struct DevicesQuery {
    /// Page of the bound devices, from 1.
    page: Option<u64>,
    /// The quarantine list starts after this serial number (its first page without).
    unknown_after: Option<String>,
    /// Device of the last replay.
    replayed: Option<String>,
    /// Samples it stored.
    stored: Option<u64>,
    /// Samples already stored before.
    duplicates: Option<u64>,
    /// The last replay found the device unbound.
    unbound: Option<String>,
}

/// Fields of the replay form.
#[derive(Deserialize)]
pub struct ReplayForm {
    csrf: Option<String>,
}

struct BoundRow {
    device: String,
    user: String,
    last_seen: String,
    today: String,
}

struct UnknownRow {
    device: String,
    samples: String,
    last_arrival: String,
    bound: bool,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    nav: Nav,
    flash: Option<Flash>,
    bound: Vec<BoundRow>,
    bound_pager: String,
    unknown: Vec<UnknownRow>,
    unknown_pager: String,
}

/// `GET /devices`.
#[handler]
pub async fn page(
    dashboard: Data<&Dashboard>,
    session: Data<&Session>,
    query: Query<DevicesQuery>,
) -> Response {
    let q = query.0;
    let page = q.page.unwrap_or(1).max(1);
    let unknown_after = q.unknown_after.clone().filter(|s| !s.is_empty());
    let size = dashboard.page_size;
    let store = &dashboard.sources.store;
    let zone = dashboard.sources.zone;
    let today = zone.day(Utc::now());
    let found = async {
        let bound = store.bound_devices(today, page, size).await?;
        let unknown = store
            .quarantined_devices(unknown_after.as_deref(), size)
            .await?;
        let serials: Vec<String> = unknown.0.iter().map(|d| d.device_sn.clone()).collect();
        let bindings = store.lookup_bindings(&serials).await?;
        Ok::<_, crate::store::StoreError>((bound, unknown, bindings))
    }
    .await;
    let ((bound, bound_total), (unknown, more_unknown), bindings) = match found {
        Ok(found) => found,
        Err(err) => {
            error!(error = %err, "Devices page: query failed.");
            return unavailable();
        }
    };
    let flash = match (&q.replayed, &q.unbound) {
        (Some(device), _) => Some(Flash::ok(format!(
            "{device}: {} quarantined samples stored, {} were stored already.",
            q.stored.unwrap_or(0),
            q.duplicates.unwrap_or(0)
        ))),
        (None, Some(device)) => Some(Flash::error(format!(
            "{device} is not bound to a user; bind it before replaying."
        ))),
        (None, None) => None,
    };
    let link = |page: u64, unknown_after: Option<&str>| match unknown_after {
        Some(after) => format!("/devices?page={page}&unknown_after={}", encode(after)),
        None => format!("/devices?page={page}"),
    };
    let next_unknown = more_unknown
        .then(|| unknown.last().map(|d| link(page, Some(&d.device_sn))))
        .flatten();
    html(&DevicesPage {
        nav: Nav::new("devices", &session),
        flash,
        bound: bound
            .into_iter()
            .map(|d| BoundRow {
                user: d.user_name.map_or_else(
                    || format!("#{}", d.user_id),
                    |n| format!("{n} (#{})", d.user_id),
                ),
                last_seen: d
                    .last_seen
                    .map_or_else(|| "never".to_owned(), |t| zone.display(t)),
                today: thousands(u64::try_from(d.today_records).unwrap_or(0)),
                device: d.device_sn,
            })
            .collect(),
        bound_pager: Pager::html(page, size, bound_total, |n| {
            link(n, unknown_after.as_deref())
        }),
        unknown: unknown
            .into_iter()
            .map(|d| UnknownRow {
                bound: bindings.bindings.contains_key(&d.device_sn),
                samples: thousands(u64::try_from(d.samples).unwrap_or(0)),
                last_arrival: d.last_arrival.map_or_else(String::new, |t| zone.display(t)),
                device: d.device_sn,
            })
            .collect(),
        unknown_pager: KeysetPager::html(
            unknown_after.is_some().then(|| link(page, None)),
            next_unknown,
        ),
    })
}

/// `POST /devices/:device/replay`: moves the device's quarantined samples into the health
/// table under its current wearer.
#[handler]
pub async fn replay(
    dashboard: Data<&Dashboard>,
    session: Data<&Session>,
    device: Path<String>,
    form: Form<ReplayForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(&session);
    }
    let device = device.0;
    let store = &dashboard.sources.store;
    let binding = match store.lookup_bindings(std::slice::from_ref(&device)).await {
        Ok(found) => found.bindings.get(&device).copied(),
        Err(err) => {
            error!(error = %err, "Replay: binding lookup failed.");
            return unavailable();
        }
    };
    let Some(binding) = binding else {
        return Redirect::see_other(format!("/devices?unbound={}", encode(&device)))
            .into_response();
    };
    let now = Utc::now();
    match store
        .replay_quarantine(&device, binding, dashboard.sources.zone.day(now), now)
        .await
    {
        Ok(done) => {
            // Uploads of this device go to the health table from now on.
            dashboard
                .sources
                .devices
                .invalidate(std::slice::from_ref(&device))
                .await;
            info!(
                device = %device,
                stored = done.stored,
                duplicates = done.duplicates,
                "Quarantined samples replayed."
            );
            Redirect::see_other(format!(
                "/devices?replayed={}&stored={}&duplicates={}",
                encode(&device),
                done.stored,
                done.duplicates
            ))
            .into_response()
        }
        Err(err) => {
            error!(error = %err, device = %device, "Replay failed.");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                &session,
                "Not replayed",
                "The database did not take the replay; nothing was moved. Try again.",
            )
        }
    }
}
