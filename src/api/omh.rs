//! Open mHealth data points of a wearer (DESIGN §12): one schema at a time, in time order.
//! Admin token or read token.

use super::ApiTags;
use super::read::{ReadError, ReadToken, page_of};
use crate::access::Admin;
use crate::domain::Vital;
use crate::interop::omh;
use crate::store::{SampleOwner, SampleQuery, Store};
use crate::zone::Zone;
use chrono::DateTime;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiResponse, Enum, OpenApi};

/// The Open mHealth schemas served.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "kebab-case")]
pub enum OmhSchema {
    /// `omh:heart-rate:2.0`.
    HeartRate,
    /// `omh:oxygen-saturation:2.0`.
    OxygenSaturation,
    /// `omh:body-temperature:4.0` (measured at the wrist).
    BodyTemperature,
    /// `omh:blood-pressure:4.0`.
    BloodPressure,
    /// `omh:step-count:3.0` (the day's steps up to the sample).
    StepCount,
}

impl OmhSchema {
    fn vital(self) -> Vital {
        match self {
            OmhSchema::HeartRate => Vital::HeartRate,
            OmhSchema::OxygenSaturation => Vital::BloodOxygen,
            OmhSchema::BodyTemperature => Vital::Temperature,
            OmhSchema::BloodPressure => Vital::BloodPressure,
            OmhSchema::StepCount => Vital::Steps,
        }
    }
}

/// Open mHealth data points, as a JSON array.
pub struct DataPoints(pub Vec<serde_json::Value>);

impl Payload for DataPoints {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        let example = omh::data_point(
            &crate::interop::example_sample(),
            Vital::HeartRate,
            DateTime::UNIX_EPOCH,
        )
        .map(|p| serde_json::Value::Array(vec![p]));
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            ty: "array",
            description: Some(
                "Open mHealth data points (omh:data-point:1.0, header and body) of the schema asked \
                 for: https://www.openmhealth.org/documentation/#/schema-docs/schema-library",
            ),
            example,
            ..MetaSchema::ANY
        }))
    }
}

impl poem::IntoResponse for DataPoints {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(serde_json::Value::Array(self.0).to_string())
    }
}

/// Answers of the data points.
#[derive(ApiResponse)]
pub enum OmhResponse {
    /// The data points, oldest first. With more than `limit`, `Link: <…>; rel="next"` gives the
    /// next page.
    #[oai(status = 200)]
    Ok(DataPoints, #[oai(header = "Link")] Option<String>),
}

/// Open mHealth endpoints.
pub struct OmhApi {
    store: Store,
    admin: Admin,
    zone: Zone,
}

impl OmhApi {
    /// Open mHealth over `store`; steps count from midnight of `zone`.
    pub fn new(store: Store, admin: Admin, zone: Zone) -> Self {
        Self { store, admin, zone }
    }
}

#[OpenApi(tag = "ApiTags::Samples")]
impl OmhApi {
    /// Open mHealth data points of a wearer
    ///
    /// The wearer's samples holding the measurement of `schema`, as data points of that
    /// schema, from `from` to `to` (inclusive; RFC 3339 or epoch seconds), oldest first,
    /// `limit` per page (1–5000).
    #[oai(path = "/api/users/:id/omh", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn data_points(
        &self,
        auth: ReadToken,
        /// The wearer (`sys_user.id`).
        id: Path<i64>,
        /// The data points' schema.
        schema: Query<OmhSchema>,
        /// Taken at or after (RFC 3339 or epoch seconds).
        from: Query<Option<String>>,
        /// Taken at or before (RFC 3339 or epoch seconds).
        to: Query<Option<String>>,
        /// Data points per page, 1–5000.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "5000"))
        )]
        limit: Query<u64>,
        /// From the previous page's `Link`.
        cursor: Query<Option<String>>,
    ) -> Result<OmhResponse, ReadError> {
        auth.check(&self.admin)?;
        let vital = schema.0.vital();
        let mut query = SampleQuery::of(SampleOwner::User(id.0), limit.0);
        query.having = Some(vital);
        let (samples, next) = page_of(
            &self.store,
            query,
            from.0.as_deref(),
            to.0.as_deref(),
            cursor.0.as_deref(),
        )
        .await?;
        let link = next.map(|cursor| {
            let mut url = format!(
                "/api/users/{}/omh?schema={}&limit={}&cursor={cursor}",
                id.0,
                omh::schema_of(vital).0,
                limit.0
            );
            for (name, value) in [("from", &from.0), ("to", &to.0)] {
                if let Some(value) = value {
                    url.push_str(&format!(
                        "&{name}={}",
                        serde_urlencoded::to_string([("", value)])
                            .unwrap_or_default()
                            .trim_start_matches('=')
                    ));
                }
            }
            format!("<{url}>; rel=\"next\"")
        });
        let points = samples
            .iter()
            .filter_map(|s| omh::data_point(s, vital, self.zone.day_start(s.sample.timestamp)))
            .collect();
        Ok(OmhResponse::Ok(DataPoints(points), link))
    }
}

fn default_limit() -> u64 {
    1000
}
