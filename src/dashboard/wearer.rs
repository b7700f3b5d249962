//! `/devices/:sn`: a watch and its wearer — heart rate, SpO2, temperature and blood pressure
//! over the last 24 hours (five-minute means, with the alert rules' thresholds), steps per day
//! for seven days, the latest sample, and the wearer's alerts with their lifecycle; live while
//! open (the page polls `/devices/:sn/vitals.json`). `/devices/find` opens it by serial
//! number or user id.

use super::{Dashboard, Nav, Session, encode, error_page, html, script_json, unavailable};
use crate::domain::{AlertField, AlertRule, StoredSample, is_valid_device_sn};
use crate::store::{AlertFilter, SampleOwner, StoreError, SummaryBucket, SummaryQuery};
use askama::Template;
use chrono::{Duration, Utc};
use poem::http::StatusCode;
use poem::web::{Data, Json, Path, Query, Redirect};
use poem::{IntoResponse, Response, handler};
use serde::{Deserialize, Serialize};
use tracing::error;

/// Width of a point of the 24-hour charts, in seconds.
const POINT_SECS: i64 = 300;
/// Alerts listed.
const ALERTS: u64 = 50;

/// A threshold line of a chart.
#[derive(Serialize)]
struct Threshold {
    value: f64,
    level: String,
    /// `above` or `below`.
    side: &'static str,
}

/// The page's data, as the page script reads it (initially, and every few seconds).
#[derive(Serialize)]
pub struct Vitals {
    device: String,
    wearer: Option<Wearer>,
    /// Start of each five-minute point (epoch seconds) and the means in it (null: none).
    series: Series,
    /// The last seven days (in the service's zone) and the day's steps.
    steps: Steps,
    latest: Option<Latest>,
    thresholds: Thresholds,
    alerts: Vec<AlertRow>,
    /// When this was read.
    at: String,
}

#[derive(Serialize)]
struct Wearer {
    user_id: i64,
    customer_id: Option<i64>,
    org_id: Option<i64>,
}

#[derive(Serialize, Default)]
struct Series {
    t: Vec<i64>,
    heart_rate: Vec<Option<f64>>,
    blood_oxygen: Vec<Option<f64>>,
    temperature: Vec<Option<f64>>,
    pressure_high: Vec<Option<f64>>,
    pressure_low: Vec<Option<f64>>,
}

#[derive(Serialize, Default)]
struct Steps {
    t: Vec<i64>,
    days: Vec<String>,
    steps: Vec<Option<i64>>,
}

#[derive(Serialize)]
struct Latest {
    at: String,
    heart_rate: Option<i32>,
    blood_oxygen: Option<i32>,
    temperature: Option<f64>,
    pressure_high: Option<i32>,
    pressure_low: Option<i32>,
    step: Option<i32>,
}

#[derive(Serialize, Default)]
struct Thresholds {
    heart_rate: Vec<Threshold>,
    blood_oxygen: Vec<Threshold>,
    temperature: Vec<Threshold>,
    pressure: Vec<Threshold>,
}

#[derive(Serialize)]
struct AlertRow {
    id: i64,
    alert_type: String,
    level: String,
    status: String,
    value: String,
    occurrences: i32,
    first: String,
    last: String,
    acknowledged: String,
    resolved: String,
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    nav: Nav,
    device: String,
    vitals_json: String,
}

/// Query of `GET /devices/find`.
#[derive(Deserialize)]
pub struct FindQuery {
    q: Option<String>,
}

/// `GET /devices/find?q=`: the page of a watch by serial number, or of the watch a user wears
/// by user id.
#[handler]
pub async fn find(
    dashboard: Data<&Dashboard>,
    session: Data<&Session>,
    query: Query<FindQuery>,
) -> Response {
    let q = query.0.q.unwrap_or_default().trim().to_owned();
    if let Ok(user_id) = q.parse::<i64>() {
        match dashboard.sources.store.device_of_user(user_id).await {
            Ok(Some(device)) => {
                return Redirect::see_other(format!("/devices/{}", encode(&device)))
                    .into_response();
            }
            Ok(None) if !is_valid_device_sn(&q) => {
                return error_page(
                    StatusCode::NOT_FOUND,
                    &session,
                    "Not found",
                    &format!("User {user_id} wears no watch."),
                );
            }
            Ok(None) => {}
            Err(err) => {
                error!(error = %err, "Device search failed.");
                return unavailable();
            }
        }
    }
    if is_valid_device_sn(&q) {
        return Redirect::see_other(format!("/devices/{}", encode(&q))).into_response();
    }
    error_page(
        StatusCode::BAD_REQUEST,
        &session,
        "Search",
        "Enter a watch's serial number (5–64 characters) or a user id.",
    )
}

/// `GET /devices/:sn`.
#[handler]
pub async fn page(
    dashboard: Data<&Dashboard>,
    session: Data<&Session>,
    sn: Path<String>,
) -> Response {
    if !is_valid_device_sn(&sn.0) {
        return error_page(
            StatusCode::NOT_FOUND,
            &session,
            "Not found",
            "That is not a watch's serial number.",
        );
    }
    match vitals(&dashboard, &sn.0).await {
        Ok(vitals) => html(&DevicePage {
            nav: Nav::new("devices", &session),
            device: sn.0,
            vitals_json: script_json(&vitals),
        }),
        Err(err) => {
            error!(error = %err, "Device page: query failed.");
            unavailable()
        }
    }
}

/// `GET /devices/:sn/vitals.json`: the page's data, for its live updates.
#[handler]
pub async fn vitals_json(dashboard: Data<&Dashboard>, sn: Path<String>) -> Response {
    if !is_valid_device_sn(&sn.0) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match vitals(&dashboard, &sn.0).await {
        Ok(vitals) => Json(vitals)
            .with_header("cache-control", "no-store")
            .into_response(),
        Err(err) => {
            error!(error = %err, "Device data: query failed.");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Everything the page shows of device `sn`, read now.
async fn vitals(dashboard: &Dashboard, sn: &str) -> Result<Vitals, StoreError> {
    let store = &dashboard.sources.store;
    let zone = dashboard.sources.zone;
    let now = Utc::now();
    let owner = SampleOwner::Device(sn.to_owned());
    let wearer = store.binding_of(sn).await?;
    // The 24 hours up to the end of the current point, in five-minute points.
    let end = now + Duration::seconds(POINT_SECS - now.timestamp().rem_euclid(POINT_SECS));
    let start = end - Duration::hours(24);
    let points = store
        .summary(&SummaryQuery {
            owner: owner.clone(),
            from: start,
            to: end,
            bucket_secs: POINT_SECS,
            offset_secs: 0,
        })
        .await?;
    let mut series = Series::default();
    let mut index = 0;
    let mut t = start.timestamp();
    while t < end.timestamp() {
        let bucket = points.get(index).filter(|b| b.start.timestamp() == t);
        if bucket.is_some() {
            index += 1;
        }
        push_point(&mut series, t, bucket);
        t += POINT_SECS;
    }
    // Seven calendar days in the service's zone, today last.
    let today = zone.day_start(now);
    let week = today - Duration::days(6);
    let days = store
        .summary(&SummaryQuery {
            owner,
            from: week,
            to: today + Duration::days(1),
            bucket_secs: 86_400,
            offset_secs: zone.offset_secs(now),
        })
        .await?;
    let mut steps = Steps::default();
    for n in 0..7 {
        let day = week + Duration::days(n);
        steps.t.push(day.timestamp());
        steps
            .days
            .push(zone.display(day).chars().take(10).collect());
        steps
            .steps
            .push(days.iter().find(|b| b.start == day).and_then(|b| b.steps));
    }
    let latest = store.latest_sample(sn).await?.map(|s| latest(&s, &zone));
    let filter = AlertFilter {
        device_sn: Some(sn.to_owned()),
        ..AlertFilter::default()
    };
    let (alerts, _) = store.list_alerts(&filter, 1, ALERTS).await?;
    let show = |t: Option<chrono::DateTime<Utc>>| t.map(|t| zone.display(t)).unwrap_or_default();
    Ok(Vitals {
        device: sn.to_owned(),
        wearer: wearer.map(|b| Wearer {
            user_id: b.user_id,
            customer_id: b.customer_id,
            org_id: b.org_id,
        }),
        series,
        steps,
        latest,
        thresholds: thresholds(&dashboard.rules),
        alerts: alerts
            .into_iter()
            .map(|a| AlertRow {
                id: a.id,
                alert_type: a.alert_type,
                level: a.level,
                status: a.status,
                value: a.last_value.or(a.alert_value).unwrap_or_default(),
                occurrences: a.occurrences.unwrap_or(1),
                first: show(a.occur_at),
                last: show(a.last_occur_at),
                acknowledged: show(a.acknowledged_at),
                resolved: show(a.resolved_at),
            })
            .collect(),
        at: zone.display(now),
    })
}

fn push_point(series: &mut Series, t: i64, bucket: Option<&SummaryBucket>) {
    let mean = |stat: Option<crate::store::Stat>| stat.map(|s| (s.avg * 10.0).round() / 10.0);
    series.t.push(t);
    series
        .heart_rate
        .push(bucket.and_then(|b| mean(b.heart_rate)));
    series
        .blood_oxygen
        .push(bucket.and_then(|b| mean(b.blood_oxygen)));
    series
        .temperature
        .push(bucket.and_then(|b| mean(b.temperature)));
    series
        .pressure_high
        .push(bucket.and_then(|b| mean(b.pressure_high)));
    series
        .pressure_low
        .push(bucket.and_then(|b| mean(b.pressure_low)));
}

fn latest(s: &StoredSample, zone: &crate::zone::Zone) -> Latest {
    let x = &s.sample;
    Latest {
        at: zone.display(x.timestamp),
        heart_rate: x.heart_rate,
        blood_oxygen: x.blood_oxygen,
        temperature: x.temperature,
        pressure_high: x.pressure_high,
        pressure_low: x.pressure_low,
        step: x.step,
    }
}

/// The threshold lines the alert rules draw on each chart.
fn thresholds(rules: &[AlertRule]) -> Thresholds {
    let mut lines = Thresholds::default();
    for rule in rules {
        let target = match rule.field {
            AlertField::HeartRate => &mut lines.heart_rate,
            AlertField::BloodOxygen => &mut lines.blood_oxygen,
            AlertField::Temperature => &mut lines.temperature,
            AlertField::PressureHigh | AlertField::PressureLow => &mut lines.pressure,
            AlertField::Stress => continue,
        };
        for (value, side) in [(rule.above, "above"), (rule.below, "below")] {
            if let Some(value) = value {
                target.push(Threshold {
                    value,
                    level: rule.level.as_str().to_owned(),
                    side,
                });
            }
        }
    }
    lines
}
