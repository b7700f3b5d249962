//! `/alerts`: filter, page, acknowledge and resolve (the lifecycle of the admin API).

use super::fragments::AlertRow;
use super::{
    Dashboard, Flash, Nav, Pager, Session, csrf_refused, encode, error_page, html, unavailable,
};
use crate::domain::Alert;
use crate::domain::{AlertLevel, AlertStatus};
use crate::store::{AlertFilter, Transition, TransitionOutcome};
use askama::Template;
use chrono::Utc;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;
use tracing::{error, info};

/// Query of `GET /alerts`.
#[derive(Debug, Default, Deserialize)]
pub struct AlertsQuery {
    /// `open` (default), `NEW`, `ACKNOWLEDGED`, `RESOLVED` or `all`.
    status: Option<String>,
    /// `minor`, `major`, `critical`, or empty for all.
    level: Option<String>,
    /// Device serial number, exact.
    device: Option<String>,
    /// Page from 1.
    page: Option<u64>,
    /// What the last action did (`acknowledged`, `resolved`, `illegal`, `missing`).
    done: Option<String>,
    /// The alert it did it to.
    id: Option<i64>,
}

/// Fields of the acknowledge and resolve forms.
#[derive(Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    /// The list's query string, to return to the same view.
    back: Option<String>,
}

/// An `<option>`.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    nav: Nav,
    flash: Option<Flash>,
    statuses: Vec<Choice>,
    levels: Vec<Choice>,
    device: String,
    rows: Vec<AlertRow>,
    back: String,
    pager: String,
}

/// Which alerts a status choice shows.
#[derive(Clone, Copy)]
enum Shown {
    /// New or acknowledged.
    Open,
    /// Of one status.
    Only(AlertStatus),
    /// Every alert.
    All,
}

/// The status choices: query value, label, and what they show.
const STATUSES: [(&str, &str, Shown); 5] = [
    ("open", "Open (new or acknowledged)", Shown::Open),
    (
        AlertStatus::New.as_str(),
        "New",
        Shown::Only(AlertStatus::New),
    ),
    (
        AlertStatus::Acknowledged.as_str(),
        "Acknowledged",
        Shown::Only(AlertStatus::Acknowledged),
    ),
    (
        AlertStatus::Resolved.as_str(),
        "Resolved",
        Shown::Only(AlertStatus::Resolved),
    ),
    ("all", "All", Shown::All),
];
/// The level choices: query value, label, and the level they show (`None`: every level).
const LEVELS: [(&str, &str, Option<AlertLevel>); 4] = [
    ("", "All levels", None),
    (
        AlertLevel::Critical.as_str(),
        "Critical",
        Some(AlertLevel::Critical),
    ),
    (AlertLevel::Major.as_str(), "Major", Some(AlertLevel::Major)),
    (AlertLevel::Minor.as_str(), "Minor", Some(AlertLevel::Minor)),
];

/// `GET /alerts`.
#[handler]
pub async fn page(
    dashboard: Data<&Dashboard>,
    session: Data<&Session>,
    query: Query<AlertsQuery>,
) -> Response {
    let q = query.0;
    let (status, _, shown) = STATUSES
        .into_iter()
        .find(|(v, _, _)| Some(*v) == q.status.as_deref())
        .unwrap_or(STATUSES[0]);
    let (level, _, level_shown) = LEVELS
        .into_iter()
        .find(|(v, _, _)| Some(*v) == q.level.as_deref())
        .unwrap_or(LEVELS[0]);
    let device = q.device.as_deref().map(str::trim).unwrap_or("").to_owned();
    let filter = AlertFilter {
        status: match shown {
            Shown::Only(status) => Some(status),
            Shown::Open | Shown::All => None,
        },
        open_only: matches!(shown, Shown::Open),
        level: level_shown,
        device_sn: (!device.is_empty()).then(|| device.clone()),
        ..AlertFilter::default()
    };
    let page = q.page.unwrap_or(1).max(1);
    let store = &dashboard.sources.store;
    let (alerts, total) = match store.list_alerts(&filter, page, dashboard.page_size).await {
        Ok(found) => found,
        Err(err) => {
            error!(error = %err, "Alerts page: query failed.");
            return unavailable();
        }
    };
    let names = store
        .user_names(alerts.iter().filter_map(|a| a.user_id).collect())
        .await
        .unwrap_or_default();
    let zone = dashboard.sources.zone;
    let rows = alerts
        .into_iter()
        .map(|a| {
            let name = a.user_id.and_then(|id| names.get(&id)).map(String::as_str);
            AlertRow::new(Alert::from(a), name, |t| zone.display(t))
        })
        .collect();
    let query_of = |page: u64| {
        format!(
            "status={}&level={}&device={}&page={page}",
            encode(status),
            encode(level),
            encode(&device)
        )
    };
    let flash = q.done.as_deref().map(|done| {
        let id = q.id.unwrap_or_default();
        match done {
            "acknowledged" => Flash::ok(format!("Alert #{id} acknowledged.")),
            "resolved" => Flash::ok(format!("Alert #{id} resolved.")),
            "illegal" => Flash::error(format!(
                "Alert #{id} is resolved already; it cannot be acknowledged."
            )),
            _ => Flash::error(format!("Alert #{id} does not exist.")),
        }
    });
    html(&AlertsPage {
        nav: Nav::new("alerts", &session),
        flash,
        statuses: choices(&STATUSES, status),
        levels: choices(&LEVELS, level),
        device: device.clone(),
        rows,
        back: query_of(page),
        pager: Pager::html(page, dashboard.page_size, total, |n| {
            format!("/alerts?{}", query_of(n))
        }),
    })
}

fn choices<T>(options: &[(&'static str, &'static str, T)], selected: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|&(value, label, _)| Choice {
            value,
            label,
            selected: value == selected,
        })
        .collect()
}

/// `POST /alerts/:id/acknowledge`.
#[handler]
pub async fn acknowledge(
    dashboard: Data<&Dashboard>,
    session: Data<&Session>,
    id: Path<i64>,
    form: Form<ActionForm>,
) -> Response {
    act(&dashboard, &session, id.0, form.0, Transition::Acknowledge).await
}

/// `POST /alerts/:id/resolve`.
#[handler]
pub async fn resolve(
    dashboard: Data<&Dashboard>,
    session: Data<&Session>,
    id: Path<i64>,
    form: Form<ActionForm>,
) -> Response {
    act(&dashboard, &session, id.0, form.0, Transition::Resolve).await
}

async fn act(
    dashboard: &Dashboard,
    session: &Session,
    id: i64,
    form: ActionForm,
    transition: Transition,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(session);
    }
    let outcome = match dashboard
        .sources
        .store
        .transition_alert(id, transition, Utc::now())
        .await
    {
        Ok(outcome) => outcome,
        Err(err) => {
            error!(error = %err, alert = id, "Alert action failed.");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                session,
                "Not saved",
                "The database did not take the change; try again.",
            );
        }
    };
    let done = match (&outcome, transition) {
        (TransitionOutcome::Done(_), Transition::Acknowledge) => "acknowledged",
        (TransitionOutcome::Done(_), Transition::Resolve) => "resolved",
        (TransitionOutcome::Illegal(_), _) => "illegal",
        (TransitionOutcome::NotFound, _) => "missing",
    };
    info!(
        alert = id,
        action = done,
        "Alert changed from the dashboard."
    );
    // Back to the same list: only our own query parameters are kept.
    let back: String = form
        .back
        .unwrap_or_default()
        .split('&')
        .filter(|kv| {
            kv.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"%-_.~=/+".contains(&b))
                && kv
                    .split_once('=')
                    .is_some_and(|(k, _)| matches!(k, "status" | "level" | "device" | "page"))
        })
        .collect::<Vec<_>>()
        .join("&");
    Redirect::see_other(format!("/alerts?{back}&done={done}&id={id}")).into_response()
}
