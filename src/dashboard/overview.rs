//! `/`: the wall display, and its live feed (`/live` as server-sent events, `/live.json` for
//! polling clients).

use super::feed::{Live, Snapshot};
use super::format::thousands;
use super::{Dashboard, Nav, Session, html, script_safe};
use askama::Template;
use futures_util::StreamExt;
use poem::web::Data;
use poem::web::sse::{Event, SSE};
use poem::{IntoResponse, Response, handler};
use std::sync::Arc;
use std::time::Duration;

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    nav: Nav,
    live: &'a Live,
    live_json: String,
    queued: String,
    records_per_second: String,
    requests_per_second: String,
    today_records: String,
    today_devices: String,
    today_users: String,
    active_5m: String,
    alerts_critical: u64,
    alerts_major: u64,
    alerts_minor: u64,
}

/// `GET /`: the overview with the current data; the page's script keeps it live.
#[handler]
pub async fn page(dashboard: Data<&Dashboard>, session: Data<&Session>) -> Response {
    let snapshot = dashboard.feed.current().await;
    let live = &snapshot.live;
    let dash = "—".to_owned();
    let today = live.today.as_ref();
    let alerts = live.open_alerts.as_ref();
    html(&OverviewPage {
        nav: Nav::new("overview", &session),
        live_json: script_safe(&snapshot.json),
        queued: format!(
            "{} / {}",
            thousands(live.health.queued_rows),
            thousands(live.health.queue_capacity)
        ),
        records_per_second: thousands(live.records_per_second.round() as u64),
        requests_per_second: thousands(live.requests_per_second.round() as u64),
        today_records: today.map_or_else(|| dash.clone(), |t| thousands(t.records)),
        today_devices: today.map_or_else(|| dash.clone(), |t| thousands(t.devices)),
        today_users: today.map_or_else(|| dash.clone(), |t| thousands(t.users)),
        active_5m: thousands(live.active_devices_5m),
        alerts_critical: alerts.map_or(0, |a| a.critical),
        alerts_major: alerts.map_or(0, |a| a.major),
        alerts_minor: alerts.map_or(0, |a| a.minor),
        live,
    })
}

/// How often an open live feed checks that its session is still live.
const SESSION_RECHECK: Duration = Duration::from_secs(5);

/// `GET /live`: every update of the feed as an SSE `message` event with the JSON of
/// [`Live`]; the current data first. Ends when the service shuts down (browsers reconnect)
/// and within [`SESSION_RECHECK`] once its session is logged out, expired or of an older
/// password (the reconnect then gets 401).
#[handler]
pub async fn live_stream(dashboard: Data<&Dashboard>, session: Data<&Session>) -> SSE {
    let first = dashboard.feed.current().await;
    let (receiver, stop) = dashboard.feed.subscribe();
    let auth = dashboard.auth.clone();
    let session = session.0.clone();
    let session_ended = async move {
        loop {
            tokio::time::sleep(SESSION_RECHECK).await;
            // A database outage is not a logout: the feed shows it and goes on.
            if let Ok(false) = auth.is_live(&session).await {
                break;
            }
        }
    };
    let ended = async move {
        tokio::select! {
            () = stop.cancelled_owned() => {}
            () = session_ended => {}
        }
    };
    let updates = futures_util::stream::unfold(receiver, |mut rx| async move {
        rx.changed().await.ok()?;
        let snapshot: Arc<Snapshot> = rx.borrow_and_update().clone();
        Some((snapshot, rx))
    });
    let events = futures_util::stream::once(async move { first })
        .chain(updates)
        .map(|snapshot| Event::message(snapshot.json.clone()))
        .take_until(ended);
    SSE::new(events).keep_alive(Duration::from_secs(15))
}

/// `GET /live.json`: the current data once, for clients that poll.
#[handler]
pub async fn live_json(dashboard: Data<&Dashboard>) -> Response {
    let snapshot = dashboard.feed.current().await;
    snapshot
        .json
        .clone()
        .with_content_type("application/json")
        .with_header("cache-control", "no-store")
        .into_response()
}
