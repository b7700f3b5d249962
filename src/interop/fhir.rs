//! Samples as FHIR R4 resources: each measurement of a sample is an `Observation` of the
//! vital-signs profile (heart rate, SpO2, body temperature, blood pressure) or of the activity
//! category (steps), with LOINC codes and UCUM units; search results are `Bundle`s, and the
//! server describes itself in a `CapabilityStatement`.
//!
//! Ids and identifiers are stable: an observation's id is the vital's short name and the
//! sample's row id (`hr-123`), its identifier the device, the sample time and the vital, so a
//! receiver can de-duplicate what it got twice (`ifNoneExist` on the identifier).

use crate::domain::{StoredSample, Vital};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// The FHIR version served.
pub const FHIR_VERSION: &str = "4.0.1";
/// The identifier system of observations.
pub const IDENTIFIER_SYSTEM: &str = "urn:ljwx-bigscreen:observation";
/// The identifier system of devices (watch serial numbers).
pub const DEVICE_SYSTEM: &str = "urn:ljwx-bigscreen:device-sn";
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
/// The vital-signs profile every vital observation claims.
pub const VITAL_SIGNS_PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/vitalsigns";

/// A code in a code system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coding {
    /// The code system.
    pub system: String,
    /// The code.
    pub code: String,
    /// What it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Codes and a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeableConcept {
    /// The codes.
    pub coding: Vec<Coding>,
    /// Plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A measured amount in UCUM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantity {
    /// The value: whole numbers as integers (`72`), temperatures with their decimal.
    pub value: serde_json::Number,
    /// The unit for people.
    pub unit: String,
    /// UCUM.
    pub system: String,
    /// The UCUM code.
    pub code: String,
}

/// An identifier in a system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identifier {
    /// The system.
    pub system: String,
    /// The value.
    pub value: String,
}

/// A reference to another resource, by URL or (for devices we do not serve) by identifier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    /// `Patient/123`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// A logical reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    /// Text for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Metadata of a resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// The profiles it conforms to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
    /// When it last changed (the sample's commit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
}

/// A component of a panel (blood pressure's systolic and diastolic values).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// What it is.
    pub code: CodeableConcept,
    /// Its value.
    pub value_quantity: Quantity,
}

/// An `Observation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// Always `Observation`.
    pub resource_type: &'static str,
    /// `hr-123`: the vital and the sample's row id.
    pub id: String,
    /// Profiles and last change.
    pub meta: Meta,
    /// Device, sample time and vital: stable across reads and exports.
    pub identifier: Vec<Identifier>,
    /// Always `final`.
    pub status: &'static str,
    /// `vital-signs` or `activity`.
    pub category: Vec<CodeableConcept>,
    /// The LOINC code.
    pub code: CodeableConcept,
    /// `Patient/{user id}`.
    pub subject: Reference,
    /// When the sample was taken.
    pub effective_date_time: String,
    /// When the service stored it.
    pub issued: String,
    /// The watch, by serial number.
    pub device: Reference,
    /// The value (all but blood pressure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    /// Systolic and diastolic (blood pressure).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub component: Vec<Component>,
}

/// RFC 3339 with seconds and `Z`, as FHIR's `dateTime` and `instant` take it.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn loinc(code: &str, display: &str) -> Coding {
    Coding {
        system: LOINC.to_owned(),
        code: code.to_owned(),
        display: Some(display.to_owned()),
    }
}

fn quantity(value: impl Into<Amount>, unit: &str, code: &str) -> Quantity {
    Quantity {
        value: value.into().0,
        unit: unit.to_owned(),
        system: UCUM.to_owned(),
        code: code.to_owned(),
    }
}

/// A quantity's value as JSON writes it.
struct Amount(serde_json::Number);

impl From<i32> for Amount {
    fn from(v: i32) -> Self {
        Amount(v.into())
    }
}

impl From<f64> for Amount {
    fn from(v: f64) -> Self {
        Amount(serde_json::Number::from_f64(v).unwrap_or_else(|| 0.into()))
    }
}

/// What a vital is in FHIR: its LOINC codings, text, category and profile.
pub struct VitalCode {
    /// The LOINC codings, the profile's own first.
    pub codings: &'static [(&'static str, &'static str)],
    /// Text.
    pub text: &'static str,
    /// `vital-signs` or `activity`.
    pub category: (&'static str, &'static str),
    /// The specific vital-signs profile, if it has one.
    pub profile: Option<&'static str>,
}

/// The FHIR codes of `vital`.
pub fn code_of(vital: Vital) -> VitalCode {
    const VITAL: (&str, &str) = ("vital-signs", "Vital Signs");
    match vital {
        Vital::HeartRate => VitalCode {
            codings: &[("8867-4", "Heart rate")],
            text: "Heart rate",
            category: VITAL,
            profile: Some("http://hl7.org/fhir/StructureDefinition/heartrate"),
        },
        Vital::BloodOxygen => VitalCode {
            codings: &[
                ("2708-6", "Oxygen saturation in Arterial blood"),
                (
                    "59408-5",
                    "Oxygen saturation in Arterial blood by Pulse oximetry",
                ),
            ],
            text: "Oxygen saturation",
            category: VITAL,
            profile: Some("http://hl7.org/fhir/StructureDefinition/oxygensat"),
        },
        Vital::Temperature => VitalCode {
            codings: &[("8310-5", "Body temperature")],
            text: "Body temperature",
            category: VITAL,
            profile: Some("http://hl7.org/fhir/StructureDefinition/bodytemp"),
        },
        Vital::BloodPressure => VitalCode {
            codings: &[("85354-9", "Blood pressure panel with all children optional")],
            text: "Blood pressure",
            category: VITAL,
            profile: Some("http://hl7.org/fhir/StructureDefinition/bp"),
        },
        Vital::Steps => VitalCode {
            codings: &[("41950-7", "Number of steps in 24 hour Measured")],
            text: "Steps",
            category: ("activity", "Activity"),
            profile: None,
        },
    }
}

/// The vital a LOINC code (a search's `code`, with or without `http://loinc.org|`) stands for.
pub fn vital_of_code(token: &str) -> Option<Vital> {
    let code = match token.split_once('|') {
        Some((system, code)) if system.is_empty() || system == LOINC => code,
        Some(_) => return None,
        None => token,
    };
    Vital::ALL.into_iter().find(|&v| {
        code_of(v).codings.iter().any(|(c, _)| *c == code)
            || (v == Vital::BloodPressure && matches!(code, "8480-6" | "8462-4"))
    })
}

/// The observation id of `vital` of the sample with row id `id`.
pub fn observation_id(vital: Vital, id: i64) -> String {
    format!("{}-{id}", vital.short())
}

/// The vital and row id an observation id stands for.
pub fn parse_observation_id(id: &str) -> Option<(Vital, i64)> {
    let (vital, row) = id.split_once('-')?;
    Some((Vital::from_short(vital)?, row.parse().ok()?))
}

/// The observation of `vital` in `stored`, when the sample holds it.
pub fn observation(stored: &StoredSample, vital: Vital) -> Option<Observation> {
    let s = &stored.sample;
    if !vital.present_in(s) {
        return None;
    }
    let code = code_of(vital);
    let mut value_quantity = None;
    let mut component = Vec::new();
    match vital {
        Vital::HeartRate => {
            value_quantity = s.heart_rate.map(|v| quantity(v, "beats/minute", "/min"));
        }
        Vital::BloodOxygen => {
            value_quantity = s.blood_oxygen.map(|v| quantity(v, "%", "%"));
        }
        Vital::Temperature => {
            value_quantity = s.temperature.map(|v| quantity(v, "C", "Cel"));
        }
        Vital::BloodPressure => {
            let part = |code: &str, display: &str, value: Option<i32>| {
                value.map(|v| Component {
                    code: CodeableConcept {
                        coding: vec![loinc(code, display)],
                        text: Some(display.to_owned()),
                    },
                    value_quantity: quantity(v, "mmHg", "mm[Hg]"),
                })
            };
            component.extend(part("8480-6", "Systolic blood pressure", s.pressure_high));
            component.extend(part("8462-4", "Diastolic blood pressure", s.pressure_low));
        }
        Vital::Steps => {
            value_quantity = s.step.map(|v| quantity(v, "steps", "{steps}"));
        }
    }
    let mut profile = Vec::new();
    if code.category.0 == "vital-signs" {
        profile.push(VITAL_SIGNS_PROFILE.to_owned());
    }
    profile.extend(code.profile.map(str::to_owned));
    Some(Observation {
        resource_type: "Observation",
        id: observation_id(vital, stored.id),
        meta: Meta {
            profile,
            last_updated: Some(instant(stored.stored_at)),
        },
        identifier: vec![Identifier {
            system: IDENTIFIER_SYSTEM.to_owned(),
            value: format!(
                "{}/{}/{}",
                s.device_sn,
                s.timestamp.timestamp(),
                vital.short()
            ),
        }],
        status: "final",
        category: vec![CodeableConcept {
            coding: vec![Coding {
                system: CATEGORY_SYSTEM.to_owned(),
                code: code.category.0.to_owned(),
                display: Some(code.category.1.to_owned()),
            }],
            text: Some(code.category.1.to_owned()),
        }],
        code: CodeableConcept {
            coding: code.codings.iter().map(|(c, d)| loinc(c, d)).collect(),
            text: Some(code.text.to_owned()),
        },
        subject: Reference {
            reference: Some(format!("Patient/{}", stored.wearer.user_id)),
            identifier: None,
            display: None,
        },
        effective_date_time: instant(s.timestamp),
        issued: instant(stored.stored_at),
        device: Reference {
            reference: None,
            identifier: Some(Identifier {
                system: DEVICE_SYSTEM.to_owned(),
                value: s.device_sn.clone(),
            }),
            display: Some(s.device_sn.clone()),
        },
        value_quantity,
        component,
    })
}

/// Every observation `stored` holds, in the order of [`Vital::ALL`], limited to `vitals`.
pub fn observations<'a>(
    stored: &'a StoredSample,
    vitals: &'a [Vital],
) -> impl Iterator<Item = Observation> + 'a {
    vitals.iter().filter_map(move |&v| observation(stored, v))
}

/// A link of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BundleLink {
    /// `self` or `next`.
    pub relation: &'static str,
    /// The URL.
    pub url: String,
}

/// How an entry came into a search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntrySearch {
    /// Always `match`.
    pub mode: &'static str,
}

/// An entry of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    /// The resource's absolute URL.
    pub full_url: String,
    /// The resource.
    pub resource: Observation,
    /// Why it is there.
    pub search: EntrySearch,
}

/// A `Bundle` of type `searchset`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// Always `Bundle`.
    pub resource_type: &'static str,
    /// Always `searchset`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When it was assembled.
    pub timestamp: String,
    /// `self` and, when there is more, `next`.
    pub link: Vec<BundleLink>,
    /// The observations.
    pub entry: Vec<BundleEntry>,
}

/// An issue of an `OperationOutcome`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    /// `error`.
    pub severity: &'static str,
    /// `invalid`, `not-found`, `security`, `exception`, `not-supported`.
    pub code: &'static str,
    /// What went wrong.
    pub diagnostics: String,
}

/// An `OperationOutcome`: FHIR's error answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    /// Always `OperationOutcome`.
    pub resource_type: &'static str,
    /// The issues.
    pub issue: Vec<Issue>,
}

impl OperationOutcome {
    /// One error `code` saying `diagnostics`.
    pub fn error(code: &'static str, diagnostics: impl Into<String>) -> Self {
        Self {
            resource_type: "OperationOutcome",
            issue: vec![Issue {
                severity: "error",
                code,
                diagnostics: diagnostics.into(),
            }],
        }
    }
}

/// The server's `CapabilityStatement`: Observation read and search, and Bulk Data export.
pub fn capability_statement(software_version: &str, date: DateTime<Utc>) -> serde_json::Value {
    let search_param = |name: &str, kind: &str, doc: &str| serde_json::json!({"name": name, "type": kind, "documentation": doc});
    serde_json::json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(date),
        "publisher": "ljwx-bigscreen",
        "kind": "instance",
        "software": {"name": "ljwx-bigscreen", "version": software_version},
        "implementation": {"description": "Smartwatch vital signs of ljwx-bigscreen"},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "rest": [{
            "mode": "server",
            "documentation": "Every call but this one needs Authorization: Bearer <admin or read token>.",
            "resource": [{
                "type": "Observation",
                "profile": "http://hl7.org/fhir/StructureDefinition/Observation",
                "supportedProfile": [
                    VITAL_SIGNS_PROFILE,
                    "http://hl7.org/fhir/StructureDefinition/heartrate",
                    "http://hl7.org/fhir/StructureDefinition/oxygensat",
                    "http://hl7.org/fhir/StructureDefinition/bodytemp",
                    "http://hl7.org/fhir/StructureDefinition/bp"
                ],
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": [
                    search_param("subject", "reference", "Patient/{user id}: required (or `patient`)"),
                    search_param("patient", "reference", "{user id} or Patient/{user id}"),
                    search_param("code", "token", "LOINC: 8867-4, 2708-6, 59408-5, 8310-5, 85354-9, 41950-7 (comma for several)"),
                    search_param("date", "date", "effective time; ge, gt, le, lt prefixes, twice for a range"),
                    search_param("_count", "number", "entries per page, 1-1000 (default 50)")
                ]
            }],
            "operation": [
                {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"},
                {"name": "patient-export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"}
            ]
        }]
    })
}
