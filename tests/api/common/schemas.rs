//! The published JSON schemas the read side's output is checked against (`tests/api/schemas`,
//! third-party, each with its licence): FHIR R4 4.0.1 and Open mHealth (with the IEEE 1752.1
//! schemas it refers to). Loaded and compiled once per test run, resolved offline.

use jsonschema::{Draft, Registry, Resource, Validator};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::LazyLock;

const FHIR_BASE: &str = "http://hl7.org/fhir/json-schema/4.0";
const OMH_BASE: &str = "https://w3id.org/openmhealth/schemas/omh/";
const IEEE_BASE: &str = "https://w3id.org/ieee/ieee-1752-schema/";

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("schema file");
    serde_json::from_str(&text).expect("schema JSON")
}

fn folder(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/schemas")
        .join(name)
}

/// Every schema, under the URI its references use.
static REGISTRY: LazyLock<Registry<'static>> = LazyLock::new(|| {
    let mut resources: Vec<(String, Resource)> = vec![(
        FHIR_BASE.to_owned(),
        Draft::Draft6.create_resource(load(&folder("fhir").join("fhir.schema.json"))),
    )];
    for (dir, base) in [("omh", OMH_BASE), ("ieee", IEEE_BASE)] {
        for entry in std::fs::read_dir(folder(dir)).expect("schema folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let name = path.file_name().and_then(|n| n.to_str()).expect("name");
                resources.push((
                    format!("{base}{name}"),
                    Resource::from_contents(load(&path)),
                ));
            }
        }
    }
    Registry::new()
        .extend(resources)
        .expect("schema URIs")
        .prepare()
        .expect("schemas resolve")
});

fn validator(reference: &str) -> Validator {
    jsonschema::options()
        .with_registry(&REGISTRY)
        .should_validate_formats(true)
        .build(&json!({"$ref": reference}))
        .expect("validator")
}

static OBSERVATION: LazyLock<Validator> =
    LazyLock::new(|| validator(&format!("{FHIR_BASE}#/definitions/Observation")));
static BUNDLE: LazyLock<Validator> =
    LazyLock::new(|| validator(&format!("{FHIR_BASE}#/definitions/Bundle")));
static CAPABILITY: LazyLock<Validator> =
    LazyLock::new(|| validator(&format!("{FHIR_BASE}#/definitions/CapabilityStatement")));
static OPERATION_OUTCOME: LazyLock<Validator> =
    LazyLock::new(|| validator(&format!("{FHIR_BASE}#/definitions/OperationOutcome")));
static DATA_POINT: LazyLock<Validator> =
    LazyLock::new(|| validator(&format!("{OMH_BASE}data-point-1.0.json")));

fn errors(validator: &Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// What the FHIR R4 schema finds wrong with `value` as a resource of type `kind`
/// (`Observation`, `Bundle`, `CapabilityStatement`, `OperationOutcome`).
pub fn fhir_errors(kind: &str, value: &Value) -> Vec<String> {
    let validator = match kind {
        "Observation" => &*OBSERVATION,
        "Bundle" => &*BUNDLE,
        "CapabilityStatement" => &*CAPABILITY,
        "OperationOutcome" => &*OPERATION_OUTCOME,
        other => panic!("no FHIR validator for {other}"),
    };
    errors(validator, value)
}

/// What the Open mHealth schemas find wrong with data point `value` of body schema
/// `schema` (`heart-rate-2.0`): the envelope against `data-point-1.0`, the body against its
/// schema.
pub fn omh_errors(schema: &str, value: &Value) -> Vec<String> {
    let mut found = errors(&DATA_POINT, value);
    let body = validator(&format!("{OMH_BASE}{schema}.json"));
    found.extend(errors(&body, &value["body"]));
    found
}
