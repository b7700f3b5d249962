//! The parameters of a FHIR Observation search: the patient, the codes, the `date` bounds of
//! any precision, and the opaque cursor of a page's `next` link.

use super::fhir::FhirError;
use super::read::{key_of_text, key_text, opaque, text_of_opaque};
use crate::domain::Vital;
use crate::interop::fhir;
use crate::store::SampleKey;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use poem::Request;

/// Where a search page ends: the sample and the index of the next vital in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Position {
    pub key: SampleKey,
    pub next_vital: usize,
}

/// The cursor of a `next` link that continues at `p`.
pub(super) fn encode_position(p: Position) -> String {
    opaque(&format!("{}:{}", key_text(p.key), p.next_vital))
}

/// The position a cursor from [`encode_position`] stands for.
pub(super) fn decode_position(cursor: &str) -> Option<Position> {
    let text = text_of_opaque(cursor)?;
    let (key, next_vital) = text.rsplit_once(':')?;
    Some(Position {
        key: key_of_text(key)?,
        next_vital: next_vital.parse().ok()?,
    })
}

/// The earliest and latest times a search admits (inclusive), either open.
pub(super) type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A FHIR `date` search value (`ge2026-12-01`, `lt2026-12-05T10:00:00+08:00`): the times it
/// admits, as an inclusive range of whole seconds.
pub(super) fn date_bounds(value: &str) -> Option<Bounds> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("ge" | "gt" | "le" | "lt" | "eq")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let (start, end) = date_range(rest)?;
    let second = Duration::seconds(1);
    Some(match prefix {
        "ge" => (Some(start), None),
        "gt" => (Some(end), None),
        "le" => (None, Some(end - second)),
        "lt" => (None, Some(start - second)),
        _ => (Some(start), Some(end - second)),
    })
}

/// The instants `[start, end)` a FHIR date or dateTime of any precision covers (UTC when it
/// has no zone).
fn date_range(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    match text.len() {
        4 => {
            let year: i32 = text.parse().ok()?;
            Some((
                day(NaiveDate::from_ymd_opt(year, 1, 1)?)?,
                day(NaiveDate::from_ymd_opt(year + 1, 1, 1)?)?,
            ))
        }
        7 => {
            let first = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()?;
            let next = first.checked_add_months(chrono::Months::new(1))?;
            Some((day(first)?, day(next)?))
        }
        10 => {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            Some((day(date)?, day(date.succ_opt()?)?))
        }
        _ => {
            let at = DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc))?;
            Some((at, at + Duration::seconds(1)))
        }
    }
}

/// The patient of `subject` (`Patient/1001`) or `patient` (`1001` or `Patient/1001`).
pub(super) fn patient_of(subject: Option<&str>, patient: Option<&str>) -> Result<i64, FhirError> {
    let reference = subject
        .or(patient)
        .ok_or_else(|| FhirError::invalid("subject (Patient/{user id}) or patient is required"))?;
    let id = reference
        .rsplit_once("Patient/")
        .map_or(reference, |(_, id)| id);
    id.parse::<i64>().map_err(|_| {
        FhirError::invalid(format!("subject: {reference:?} is not Patient/{{user id}}"))
    })
}

/// The vitals of a `code` search value (several comma-separated); every vital when absent.
pub(super) fn vitals_of(code: Option<&str>) -> Result<Vec<Vital>, FhirError> {
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return Ok(Vital::ALL.to_vec());
    };
    let mut vitals = Vec::new();
    for token in code.split(',') {
        let vital = fhir::vital_of_code(token.trim()).ok_or_else(|| {
            FhirError::invalid(format!(
                "code: {token:?} is none of 8867-4, 2708-6, 59408-5, 8310-5, 85354-9, 41950-7"
            ))
        })?;
        if !vitals.contains(&vital) {
            vitals.push(vital);
        }
    }
    vitals.sort_by_key(|v| Vital::ALL.iter().position(|a| a == v));
    Ok(vitals)
}

/// The request's URL with `_cursor` set to `cursor`.
pub(super) fn next_url(base: &str, req: &Request, cursor: &str) -> String {
    let mut pairs: Vec<(String, String)> = req
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    pairs.retain(|(k, _)| k != "_cursor");
    pairs.push(("_cursor".to_owned(), cursor.to_owned()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{base}{}?{query}", req.uri().path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .expect("time")
    }

    #[test]
    fn dates_of_any_precision_bound_the_search() {
        assert_eq!(
            date_bounds("ge2026-12-01"),
            Some((Some(at("2026-12-01T00:00:00Z")), None))
        );
        assert_eq!(
            date_bounds("le2026-12-05"),
            Some((None, Some(at("2026-12-05T23:59:59Z"))))
        );
        assert_eq!(
            date_bounds("2026-12"),
            Some((
                Some(at("2026-12-01T00:00:00Z")),
                Some(at("2026-12-31T23:59:59Z"))
            ))
        );
        assert_eq!(
            date_bounds("lt2026-12-05T10:00:00+08:00"),
            Some((None, Some(at("2026-12-05T01:59:59Z"))))
        );
        assert_eq!(date_bounds("ge12/05/2026"), None);
    }

    #[test]
    fn codes_name_vitals_and_cursors_round_trip() {
        assert_eq!(
            vitals_of(Some("http://loinc.org|8867-4,59408-5")).ok(),
            Some(vec![Vital::HeartRate, Vital::BloodOxygen])
        );
        assert!(vitals_of(Some("1234-5")).is_err());
        let p = Position {
            key: SampleKey {
                timestamp: at("2026-12-05T08:00:00Z"),
                id: 9,
            },
            next_vital: 3,
        };
        assert_eq!(decode_position(&encode_position(p)), Some(p));
        assert_eq!(patient_of(Some("Patient/1001"), None).ok(), Some(1001));
        assert_eq!(patient_of(None, Some("1001")).ok(), Some(1001));
        assert!(patient_of(Some("Group/1"), None).is_err());
    }
}
