//! FHIR R4 (DESIGN §12): the server's `CapabilityStatement`, Observation search (a `searchset`
//! Bundle paged by `next` links) and read. Answers are `application/fhir+json`; errors are
//! `OperationOutcome`s. Every call but `metadata` takes the admin token or the read token.

use super::ApiTags;
use super::fhir_search::{
    Position, date_bounds, decode_position, encode_position, next_url, patient_of, vitals_of,
};
use super::read::ReadToken;
use crate::access::{Admin, Denied};
use crate::domain::Vital;
use crate::interop::fhir::{
    self, Bundle, BundleEntry, BundleLink, EntrySearch, Observation, OperationOutcome, instant,
};
use crate::store::{SampleKey, SampleOwner, SampleQuery, Store, StoreError};
use chrono::{DateTime, Utc};
use poem::Request;
use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiResponse, OpenApi};
use serde::Serialize;
use tracing::{error, warn};

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";
/// Most entries of a search page.
const MAX_COUNT: u64 = 1000;

/// A FHIR resource answered as `application/fhir+json`.
pub struct Fhir<T>(pub T);

/// What the OpenAPI document says of a FHIR resource type.
pub trait Resource: Serialize + Send {
    /// The description of the schema.
    const DESCRIPTION: &'static str;
    /// An example, as Swagger UI shows it.
    fn example() -> serde_json::Value;
}

impl<T: Resource> Payload for Fhir<T> {
    const CONTENT_TYPE: &'static str = FHIR_JSON;

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            ty: "object",
            description: Some(T::DESCRIPTION),
            example: Some(T::example()),
            ..MetaSchema::ANY
        }))
    }
}

impl<T: Resource> poem::IntoResponse for Fhir<T> {
    fn into_response(self) -> poem::Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => poem::Response::builder().content_type(FHIR_JSON).body(body),
            Err(err) => {
                error!(error = %err, "FHIR answer could not be written.");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// An example observation (heart rate).
pub fn example_observation() -> Option<Observation> {
    fhir::observation(&crate::interop::example_sample(), Vital::HeartRate)
}

fn to_value<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

impl Resource for Observation {
    const DESCRIPTION: &'static str = "A FHIR R4 Observation of the vital-signs profile \
        (https://hl7.org/fhir/R4/observation-vitalsigns.html), or of the activity category for \
        steps.";
    fn example() -> serde_json::Value {
        example_observation()
            .map(|o| to_value(&o))
            .unwrap_or_default()
    }
}

impl Resource for Bundle {
    const DESCRIPTION: &'static str =
        "A FHIR R4 Bundle of type searchset (https://hl7.org/fhir/R4/bundle.html).";
    fn example() -> serde_json::Value {
        to_value(&Bundle {
            resource_type: "Bundle",
            kind: "searchset",
            timestamp: "2026-12-05T08:00:05Z".to_owned(),
            link: vec![
                BundleLink {
                    relation: "self",
                    url: "https://bigscreen.example/fhir/Observation?subject=Patient/1001&_count=1"
                        .to_owned(),
                },
                BundleLink {
                    relation: "next",
                    url: "https://bigscreen.example/fhir/Observation?subject=Patient/1001&_count=1&_cursor=MTc5NjQ1NzYwMDAwMDAwMDoxMjM6MQ"
                        .to_owned(),
                },
            ],
            entry: example_observation()
                .into_iter()
                .map(|resource| BundleEntry {
                    full_url: format!("https://bigscreen.example/fhir/Observation/{}", resource.id),
                    resource,
                    search: EntrySearch { mode: "match" },
                })
                .collect(),
        })
    }
}

impl Resource for OperationOutcome {
    const DESCRIPTION: &'static str = "A FHIR R4 OperationOutcome: why the request failed (https://hl7.org/fhir/R4/operationoutcome.html).";
    fn example() -> serde_json::Value {
        to_value(&OperationOutcome::error(
            "invalid",
            "subject: required (Patient/{user id})",
        ))
    }
}

/// The server's CapabilityStatement.
pub struct Capability(pub serde_json::Value);

impl Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl Resource for Capability {
    const DESCRIPTION: &'static str = "The server's FHIR R4 CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html).";
    fn example() -> serde_json::Value {
        fhir::capability_statement(
            env!("CARGO_PKG_VERSION"),
            DateTime::from_timestamp(1_796_457_600, 0).unwrap_or_default(),
        )
    }
}

/// The FHIR error answers.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "fhir_bad_request")]
pub enum FhirError {
    /// A malformed or missing search parameter (`invalid`).
    #[oai(status = 400)]
    BadRequest(Fhir<OperationOutcome>),
    /// Missing or wrong bearer token (`security`).
    #[oai(status = 401)]
    Unauthorized(Fhir<OperationOutcome>),
    /// Neither the admin token nor the read token is configured (`security`).
    #[oai(status = 403)]
    Forbidden(Fhir<OperationOutcome>),
    /// No such resource (`not-found`).
    #[oai(status = 404)]
    NotFound(Fhir<OperationOutcome>),
    /// An unexpected server error (`exception`); the detail is in the server log.
    #[oai(status = 500)]
    Internal(Fhir<OperationOutcome>),
    /// The database is unavailable (`transient`); retry later.
    #[oai(status = 503)]
    Unavailable(Fhir<OperationOutcome>),
}

impl FhirError {
    /// 400 `invalid` saying `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::BadRequest(Fhir(OperationOutcome::error("invalid", message)))
    }

    /// 404 `not-found` saying `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(Fhir(OperationOutcome::error("not-found", message)))
    }
}

impl From<Denied> for FhirError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Disabled => Self::Forbidden(Fhir(OperationOutcome::error(
                "security",
                "the read API is disabled: set LJWX_ADMIN__READ_TOKEN or LJWX_ADMIN__TOKEN",
            ))),
            Denied::WrongToken => Self::Unauthorized(Fhir(OperationOutcome::error(
                "security",
                "missing or wrong bearer token",
            ))),
        }
    }
}

impl From<StoreError> for FhirError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(err) => {
                warn!(error = %err, "FHIR: database unavailable.");
                Self::Unavailable(Fhir(OperationOutcome::error(
                    "transient",
                    "storage is temporarily unavailable; retry later",
                )))
            }
            StoreError::Database(err) => {
                error!(error = %err, "FHIR: query failed.");
                Self::Internal(Fhir(OperationOutcome::error(
                    "exception",
                    "internal server error",
                )))
            }
        }
    }
}

fn fhir_bad_request(err: poem::Error) -> FhirError {
    FhirError::invalid(super::wire::ErrorBody::invalid_parameter(&err).message)
}

/// Answers under `/fhir/` that are not FHIR (errors raised before an endpoint ran: a missing
/// token, a malformed parameter, an unknown path or method, a panic) as `OperationOutcome`s,
/// so a FHIR client reads every error the same way.
pub async fn outcomes<E: poem::Endpoint>(
    ep: std::sync::Arc<E>,
    req: Request,
) -> poem::Result<poem::Response> {
    use poem::IntoResponse;
    let fhir = req.uri().path().starts_with("/fhir/");
    let response = ep.get_response(req).await;
    let status = response.status();
    let is_fhir = response
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(FHIR_JSON));
    if !fhir || is_fhir || !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let body = response.into_body().into_vec().await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let code = match status.as_u16() {
        401 | 403 => "security",
        404 => "not-found",
        405 => "not-supported",
        413 => "too-costly",
        s if s >= 500 => "exception",
        _ => "invalid",
    };
    let mut answer = Fhir(OperationOutcome::error(code, message)).into_response();
    answer.set_status(status);
    Ok(answer)
}

/// The service's base URL for absolute links: `server.public_url`, or `http://` and the
/// request's `Host`.
pub fn base_url(public_url: Option<&str>, req: &Request) -> String {
    if let Some(url) = public_url.filter(|u| !u.is_empty()) {
        return url.trim_end_matches('/').to_owned();
    }
    let host = req
        .headers()
        .get(poem::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// FHIR endpoints.
pub struct FhirApi {
    store: Store,
    admin: Admin,
    public_url: Option<String>,
}

impl FhirApi {
    /// FHIR over `store`, links based on `public_url` (or the request's host).
    pub fn new(store: Store, admin: Admin, public_url: Option<String>) -> Self {
        Self {
            store,
            admin,
            public_url,
        }
    }
}

/// Answers of `metadata`.
#[derive(ApiResponse)]
pub enum MetadataResponse {
    /// The CapabilityStatement.
    #[oai(status = 200)]
    Ok(Fhir<Capability>),
}

/// Answers of a search.
#[derive(ApiResponse)]
pub enum SearchResponse {
    /// A page of observations, with a `next` link when there are more.
    #[oai(status = 200)]
    Ok(Fhir<Bundle>),
}

/// Answers of a read.
#[derive(ApiResponse)]
pub enum ReadResponse {
    /// The observation.
    #[oai(status = 200)]
    Ok(Fhir<Observation>),
}

#[OpenApi(tag = "ApiTags::Fhir")]
impl FhirApi {
    /// FHIR CapabilityStatement
    ///
    /// What this FHIR R4 server does: Observation read and search, Bulk Data export. Open to
    /// everyone, as FHIR clients ask it before they authenticate.
    #[oai(path = "/fhir/metadata", method = "get")]
    async fn metadata(&self) -> MetadataResponse {
        MetadataResponse::Ok(Fhir(Capability(fhir::capability_statement(
            env!("CARGO_PKG_VERSION"),
            Utc::now(),
        ))))
    }

    /// Search observations
    ///
    /// A wearer's observations (`subject=Patient/{user id}`), optionally of some LOINC codes
    /// (`code`, comma-separated) and effective times (`date`, with `ge`, `gt`, `le`, `lt`,
    /// repeated for a range), oldest first, `_count` per page (1–1000, default 50), as a
    /// `searchset` Bundle whose `next` link continues it.
    #[oai(path = "/fhir/Observation", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        req: &Request,
        auth: ReadToken,
        /// `Patient/{user id}`.
        subject: Query<Option<String>>,
        /// `{user id}` or `Patient/{user id}` (instead of `subject`).
        patient: Query<Option<String>>,
        /// LOINC codes (`8867-4` or `http://loinc.org|8867-4`), comma-separated.
        code: Query<Option<String>>,
        /// Effective time with a prefix (`ge2026-12-01`), once or twice.
        date: Query<Vec<String>>,
        /// Entries per page, 1–1000.
        #[oai(name = "_count")]
        count: Query<Option<u64>>,
        /// Where the previous page ended (from its `next` link).
        #[oai(name = "_cursor")]
        cursor: Query<Option<String>>,
    ) -> Result<SearchResponse, FhirError> {
        auth.check(&self.admin)?;
        let user = patient_of(subject.0.as_deref(), patient.0.as_deref())?;
        let vitals = vitals_of(code.0.as_deref())?;
        let count = count.0.unwrap_or(50).clamp(1, MAX_COUNT);
        let (mut from, mut to) = (None, None);
        for value in &date.0 {
            let (start, end) = date_bounds(value)
                .ok_or_else(|| FhirError::invalid(format!("date: {value:?} is not a FHIR date")))?;
            from = from.max(start);
            to = match (to, end) {
                (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                (a, b) => a.or(b),
            };
        }
        let position = match cursor.0.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => Some(decode_position(c).ok_or_else(|| {
                FhirError::invalid("_cursor: not a cursor this server gave (follow the next link)")
            })?),
            None => None,
        };
        let base = base_url(self.public_url.as_deref(), req);
        let limit = usize::try_from(count).unwrap_or(usize::MAX);
        let mut entries: Vec<Observation> = Vec::new();
        let mut end: Option<Position> = None;
        // The sample the previous page stopped in, first.
        if let Some(p) = position.filter(|p| p.next_vital < vitals.len())
            && let Some(stored) = self.store.sample_by_id(p.key.id).await?
            && stored.wearer.user_id == user
        {
            for (i, &vital) in vitals.iter().enumerate().skip(p.next_vital) {
                if entries.len() == limit {
                    end = Some(Position {
                        key: p.key,
                        next_vital: i,
                    });
                    break;
                }
                entries.extend(fhir::observation(&stored, vital));
            }
        }
        let mut after = position.map(|p| p.key);
        while end.is_none() && entries.len() < limit {
            let mut query = SampleQuery::of(SampleOwner::User(user), count);
            query.from = from;
            query.to = to;
            query.after = after;
            if let [only] = vitals.as_slice() {
                query.having = Some(*only);
            }
            let page = self.store.samples(&query).await?;
            let exhausted = (page.len() as u64) < count;
            for stored in &page {
                let key = SampleKey::of(stored);
                after = Some(key);
                for (i, &vital) in vitals.iter().enumerate() {
                    if !vital.present_in(&stored.sample) {
                        continue;
                    }
                    if entries.len() == limit {
                        end = Some(Position { key, next_vital: i });
                        break;
                    }
                    entries.extend(fhir::observation(stored, vital));
                }
                if end.is_some() {
                    break;
                }
            }
            if exhausted {
                break;
            }
            if end.is_none() && entries.len() == limit {
                // Full at a sample's last vital: the next page starts after it.
                end = after.map(|key| Position {
                    key,
                    next_vital: vitals.len(),
                });
            }
        }
        let self_url = format!("{base}{}", req.uri());
        let mut link = vec![BundleLink {
            relation: "self",
            url: self_url,
        }];
        if let Some(end) = end {
            link.push(BundleLink {
                relation: "next",
                url: next_url(&base, req, &encode_position(end)),
            });
        }
        Ok(SearchResponse::Ok(Fhir(Bundle {
            resource_type: "Bundle",
            kind: "searchset",
            timestamp: instant(Utc::now()),
            link,
            entry: entries
                .into_iter()
                .map(|resource| BundleEntry {
                    full_url: format!("{base}/fhir/Observation/{}", resource.id),
                    resource,
                    search: EntrySearch { mode: "match" },
                })
                .collect(),
        })))
    }

    /// Read an observation
    ///
    /// One observation by id (`hr-123`: the vital and the sample).
    #[oai(path = "/fhir/Observation/:id", method = "get")]
    async fn read(
        &self,
        auth: ReadToken,
        /// The observation id.
        id: Path<String>,
    ) -> Result<ReadResponse, FhirError> {
        auth.check(&self.admin)?;
        let missing = || FhirError::not_found(format!("no Observation/{}", id.0));
        let (vital, row) = fhir::parse_observation_id(&id.0).ok_or_else(missing)?;
        let stored = self.store.sample_by_id(row).await?.ok_or_else(missing)?;
        let observation = fhir::observation(&stored, vital).ok_or_else(missing)?;
        Ok(ReadResponse::Ok(Fhir(observation)))
    }
}
