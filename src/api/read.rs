//! What every endpoint of the read API shares: its bearer token (the admin token or the
//! read-only one), its error answers, and the parameters it parses itself — times written as
//! RFC 3339 or epoch seconds, and the opaque page cursor.

use super::admin::admin_error_answers;
use super::wire::ErrorBody;
use crate::access::{Admin, Denied};
use crate::domain::StoredSample;
use crate::store::{SampleKey, SampleQuery, Store};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, SecurityScheme};

/// The read API's token, sent as `Authorization: Bearer <token>`: the read-only token
/// (`LJWX_ADMIN__READ_TOKEN`) or the admin token (`LJWX_ADMIN__TOKEN`).
#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
pub struct ReadToken(pub Bearer);

impl ReadToken {
    /// Whether `admin` lets this token read.
    pub fn check(&self, admin: &Admin) -> Result<(), Denied> {
        admin.check_read(&self.0.token)
    }
}

/// Error answers of the read API.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "read_bad_request")]
pub enum ReadError {
    /// A malformed path or query parameter (`invalid_request`, naming it).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or wrong bearer token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The read API is disabled: neither the admin token nor the read token is configured
    /// (`admin_disabled`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Nothing there (`not_found`): no sample of the device, no binding.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// An unexpected server error; the detail is in the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable (`storage_unavailable`); retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

admin_error_answers!(ReadError);

impl ReadError {
    /// 400 `invalid_request` saying `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::BadRequest(Json(ErrorBody::new("invalid_request", message)))
    }

    /// 404 `not_found` saying `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(Json(ErrorBody::new("not_found", message)))
    }
}

fn read_bad_request(err: poem::Error) -> ReadError {
    ReadError::BadRequest(Json(ErrorBody::invalid_parameter(&err)))
}

/// A page of the samples `query` selects (its owner, measurement and `limit`), with the
/// request's `from`, `to` and `cursor` parsed: the page, and the cursor that continues after
/// it when more follow (one sample more than the page is read to tell, no count).
pub async fn page_of(
    store: &Store,
    mut query: SampleQuery,
    from: Option<&str>,
    to: Option<&str>,
    cursor: Option<&str>,
) -> Result<(Vec<StoredSample>, Option<String>), ReadError> {
    let limit = query.limit;
    query.from = time_param("from", from)?;
    query.to = time_param("to", to)?;
    query.after = parse_cursor(cursor)?;
    query.limit = limit + 1;
    let mut samples = store.samples(&query).await?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = samples.len() > page;
    samples.truncate(page);
    let next = more
        .then(|| samples.last())
        .flatten()
        .map(|last| cursor_of(SampleKey::of(last)));
    Ok((samples, next))
}

/// The time in query parameter `name`: RFC 3339 (`2026-12-05T08:00:00Z`) or whole seconds
/// since the epoch (`1796457600`), as uploads give it.
pub fn time_param(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ReadError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let parsed = match value.parse::<i64>() {
        Ok(seconds) => DateTime::from_timestamp(seconds, 0),
        Err(_) => DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
    };
    parsed.map(Some).ok_or_else(|| {
        ReadError::invalid(format!(
            "{name}: {value:?} is neither an RFC 3339 time nor epoch seconds"
        ))
    })
}

/// The cursor that continues after `key`: opaque to clients.
pub fn cursor_of(key: SampleKey) -> String {
    opaque(&key_text(key))
}

/// The key a cursor from [`cursor_of`] stands for.
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<SampleKey>, ReadError> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let key = text_of_opaque(cursor).and_then(|text| key_of_text(&text));
    key.map(Some).ok_or_else(|| {
        ReadError::invalid("cursor: not a cursor this API gave (pass `next_cursor` back as it is)")
    })
}

/// `text` as a cursor clients pass back as it is (URL-safe base64).
pub fn opaque(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// The text of a cursor from [`opaque`].
pub fn text_of_opaque(cursor: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()
}

/// `key` as the text of a cursor: `{timestamp in microseconds}:{id}`.
pub fn key_text(key: SampleKey) -> String {
    format!("{}:{}", key.timestamp.timestamp_micros(), key.id)
}

/// The key of a text from [`key_text`].
pub fn key_of_text(text: &str) -> Option<SampleKey> {
    let (micros, id) = text.split_once(':')?;
    Some(SampleKey {
        timestamp: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: id.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_epoch_seconds() {
        let t = DateTime::from_timestamp(1_796_457_600, 0);
        assert_eq!(time_param("from", Some("1796457600")).ok().flatten(), t);
        assert_eq!(
            time_param("from", Some("2026-12-05T16:00:00+08:00"))
                .ok()
                .flatten(),
            t
        );
        assert!(time_param("from", None).is_ok_and(|t| t.is_none()));
        assert!(time_param("from", Some("yesterday")).is_err());
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let key = SampleKey {
            timestamp: DateTime::from_timestamp(1_796_457_600, 0).expect("time"),
            id: 42,
        };
        assert_eq!(
            parse_cursor(Some(&cursor_of(key))).ok().flatten(),
            Some(key)
        );
        assert!(parse_cursor(Some("not-a-cursor")).is_err());
        assert!(parse_cursor(Some(&URL_SAFE_NO_PAD.encode("1:x"))).is_err());
        assert!(parse_cursor(None).is_ok_and(|k| k.is_none()));
    }
}
