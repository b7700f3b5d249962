//! FHIR R4 (DESIGN §12): the CapabilityStatement, Observation search and read, and Bulk Data
//! export — every resource checked against HL7's published R4 JSON schema
//! (`tests/api/schemas/fhir`) and the vital-signs profile's rules, not only by the code that
//! wrote it.

use crate::common::schemas::fhir_errors;
use crate::common::{Backend, TestApp, eventually_some, now};
use crate::samples::{READER, spawn};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

crate::backend_tests!(
    observations_are_vital_signs_searched_by_patient_code_and_date,
    a_bulk_export_streams_every_observation_as_ndjson,
);

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";

/// Three samples of user 700's watch: all five measurements, a heart rate alone, and a blood
/// pressure with steps.
async fn upload_samples(app: &TestApp, t: i64) {
    app.bind("FHIR00001", 700, 7, 70).await;
    let reply = app
        .upload(
            json!([
                {"deviceSn": "FHIR00001", "heartRate": 72, "bloodOxygen": 97, "temperature": 36.6,
                 "pressureHigh": 121, "pressureLow": 79, "step": 4000, "timestamp": t},
                {"deviceSn": "FHIR00001", "heartRate": 88, "timestamp": t + 60},
                {"deviceSn": "FHIR00001", "pressureHigh": 130, "pressureLow": 85, "step": 5200,
                 "timestamp": t + 120},
            ]),
            None,
        )
        .await;
    assert_eq!(reply.body["inserted"], 3, "{}", reply.text);
}

fn codes(observation: &Value) -> Vec<String> {
    observation["code"]["coding"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The vital-signs profile's rules (http://hl7.org/fhir/R4/observation-vitalsigns.html) the
/// JSON schema does not check: status, category, LOINC code, subject, effective time, UCUM
/// units of the profile's codes.
fn assert_vital_sign(o: &Value) {
    assert_eq!(o["resourceType"], "Observation");
    assert_eq!(o["status"], "final", "{o}");
    assert!(
        o["subject"]["reference"]
            .as_str()
            .is_some_and(|r| r.starts_with("Patient/"))
    );
    assert!(
        o["effectiveDateTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{o}"
    );
    assert_eq!(o["code"]["coding"][0]["system"], LOINC);
    let category = &o["category"][0]["coding"][0];
    assert_eq!(
        category["system"],
        "http://terminology.hl7.org/CodeSystem/observation-category"
    );
    let profiles: Vec<&str> = o["meta"]["profile"]
        .as_array()
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let (code, unit, profile) = match codes(o).first().map(String::as_str) {
        Some("8867-4") => ("8867-4", Some("/min"), Some("heartrate")),
        Some("2708-6") => ("2708-6", Some("%"), Some("oxygensat")),
        Some("8310-5") => ("8310-5", Some("Cel"), Some("bodytemp")),
        Some("85354-9") => ("85354-9", None, Some("bp")),
        Some("41950-7") => ("41950-7", Some("{steps}"), None),
        other => panic!("unexpected code {other:?}: {o}"),
    };
    match profile {
        Some(profile) => {
            assert_eq!(category["code"], "vital-signs");
            assert!(profiles.contains(&"http://hl7.org/fhir/StructureDefinition/vitalsigns"));
            assert!(
                profiles.contains(
                    &format!("http://hl7.org/fhir/StructureDefinition/{profile}").as_str()
                )
            );
        }
        None => assert_eq!(category["code"], "activity"),
    }
    match unit {
        Some(unit) => {
            assert_eq!(o["valueQuantity"]["system"], UCUM, "{code}");
            assert_eq!(o["valueQuantity"]["code"], unit, "{code}");
            assert!(o["valueQuantity"]["value"].is_number());
        }
        None => {
            // The panel: systolic and diastolic components in mm[Hg], no value of its own.
            let parts: Vec<(Vec<String>, &Value)> = o["component"]
                .as_array()
                .expect("components")
                .iter()
                .map(|c| (codes(c), &c["valueQuantity"]))
                .collect();
            assert_eq!(parts.len(), 2, "{o}");
            assert_eq!(parts[0].0, vec!["8480-6"]);
            assert_eq!(parts[1].0, vec!["8462-4"]);
            for (_, q) in parts {
                assert_eq!(q["code"], "mm[Hg]");
                assert_eq!(q["system"], UCUM);
            }
            assert!(o.get("valueQuantity").is_none());
        }
    }
    if code == "2708-6" {
        assert!(codes(o).contains(&"59408-5".to_owned()), "{o}");
    }
    let errors = fhir_errors("Observation", o);
    assert!(errors.is_empty(), "{errors:?}\n{o}");
}

/// Every entry of the search at `path`, following `next` links; each bundle checked.
async fn search_all(app: &TestApp, path: &str) -> (Vec<Value>, usize) {
    let mut entries = Vec::new();
    let mut url = app.url(path);
    let mut pages = 0;
    loop {
        let reply = app.admin(app.client.get(&url), READER).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.text);
        assert_eq!(reply.headers["content-type"], "application/fhir+json");
        let errors = fhir_errors("Bundle", &reply.body);
        assert!(errors.is_empty(), "{errors:?}\n{}", reply.text);
        assert_eq!(reply.body["type"], "searchset");
        pages += 1;
        for entry in reply.body["entry"].as_array().cloned().unwrap_or_default() {
            assert_eq!(
                entry["fullUrl"].as_str().map(|u| u.ends_with(&format!(
                    "/fhir/Observation/{}",
                    entry["resource"]["id"].as_str().unwrap_or("")
                ))),
                Some(true)
            );
            entries.push(entry["resource"].clone());
        }
        let next = reply.body["link"]
            .as_array()
            .and_then(|links| links.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str().map(str::to_owned));
        match next {
            Some(next) => url = next,
            None => return (entries, pages),
        }
        assert!(pages < 50, "paging never ends");
    }
}

fn ids(observations: &[Value]) -> Vec<String> {
    observations
        .iter()
        .filter_map(|o| o["id"].as_str().map(str::to_owned))
        .collect()
}

async fn observations_are_vital_signs_searched_by_patient_code_and_date(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let t = now() - 7_200;
    upload_samples(&app, t).await;

    let metadata = app.get("/fhir/metadata").await;
    assert_eq!(metadata.status, 200);
    let errors = fhir_errors("CapabilityStatement", &metadata.body);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(metadata.body["fhirVersion"], "4.0.1");

    // Every observation, two a page: 5 + 1 + 2 of the three samples, in time order.
    let (all, pages) = search_all(&app, "/fhir/Observation?subject=Patient/700&_count=2").await;
    assert_eq!(all.len(), 8, "{:?}", ids(&all));
    assert_eq!(pages, 4);
    let unique: BTreeSet<String> = ids(&all).into_iter().collect();
    assert_eq!(unique.len(), 8, "no entry twice across pages");
    for o in &all {
        assert_vital_sign(o);
        assert_eq!(o["subject"]["reference"], "Patient/700");
        assert_eq!(o["device"]["identifier"]["value"], "FHIR00001");
    }
    let first = &all[0];
    assert_eq!(codes(first), vec!["8867-4"]);
    assert_eq!(first["valueQuantity"]["value"], 72);
    assert_eq!(first["valueQuantity"]["unit"], "beats/minute");
    let temperature = all
        .iter()
        .find(|o| codes(o) == vec!["8310-5"])
        .expect("temperature");
    assert_eq!(temperature["valueQuantity"]["value"], 36.6);

    // By code (with and without the system), and by date.
    let (heart, _) = search_all(
        &app,
        "/fhir/Observation?patient=700&code=http://loinc.org|8867-4",
    )
    .await;
    assert_eq!(heart.len(), 2);
    let (pressure_steps, _) = search_all(
        &app,
        "/fhir/Observation?subject=Patient/700&code=85354-9,41950-7&_count=3",
    )
    .await;
    assert_eq!(pressure_steps.len(), 4);
    let from = chrono::DateTime::from_timestamp(t + 30, 0)
        .expect("time")
        .to_rfc3339();
    let (later, _) = search_all(
        &app,
        &format!(
            "/fhir/Observation?subject=Patient/700&date=ge{}&date=lt{}",
            from.replace('+', "%2B"),
            chrono::DateTime::from_timestamp(t + 100, 0)
                .expect("time")
                .format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    assert_eq!(
        ids(&later),
        vec![all[5]["id"].as_str().unwrap_or("").to_owned()]
    );
    let (none, _) = search_all(&app, "/fhir/Observation?subject=Patient/701").await;
    assert!(none.is_empty());

    // Read: the same resource, with the same identifier.
    let id = first["id"].as_str().expect("id");
    let read = app
        .admin_get(&format!("/fhir/Observation/{id}"), READER)
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, *first);
    let missing = app.admin_get("/fhir/Observation/hr-999999", READER).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.headers["content-type"], "application/fhir+json");
    assert!(fhir_errors("OperationOutcome", &missing.body).is_empty());
    for bad in [
        "/fhir/Observation",
        "/fhir/Observation?subject=Group/1",
        "/fhir/Observation?subject=Patient/700&code=1234-5",
        "/fhir/Observation?subject=Patient/700&date=ge12/05/2026",
        "/fhir/Observation?subject=Patient/700&_cursor=nonsense",
    ] {
        let reply = app.admin_get(bad, READER).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        assert_eq!(reply.body["resourceType"], "OperationOutcome", "{bad}");
        assert!(fhir_errors("OperationOutcome", &reply.body).is_empty());
    }
    assert_eq!(
        app.get("/fhir/Observation?subject=Patient/700")
            .await
            .status,
        401
    );
    app.stop().await;
}

/// Starts the export at `path`.
async fn kick_off(app: &TestApp, path: &str) -> crate::common::Reply {
    app.admin(
        app.client
            .get(app.url(path))
            .header("Prefer", "respond-async")
            .header("Accept", "application/fhir+json"),
        READER,
    )
    .await
}

/// Follows an export's status URL until its manifest.
async fn manifest_of(app: &TestApp, status_url: &str) -> Value {
    eventually_some(
        "the export's manifest",
        Duration::from_secs(30),
        async || {
            let reply = app.admin(app.client.get(status_url), READER).await;
            match reply.status.as_u16() {
                200 => Some(reply.body),
                202 => {
                    assert!(
                        reply.headers.contains_key("x-progress"),
                        "{:?}",
                        reply.headers
                    );
                    assert!(reply.headers.contains_key("retry-after"));
                    None
                }
                other => panic!("status {other}: {}", reply.text),
            }
        },
    )
    .await
}

async fn a_bulk_export_streams_every_observation_as_ndjson(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let t = now() - 20_000;
    upload_samples(&app, t).await;
    // More samples than one chunk of the stream.
    app.bind("FHIR00002", 701, 7, 70).await;
    for chunk in 0..3 {
        let records: Value = (0..500)
            .map(|i| json!({"deviceSn": "FHIR00002", "heartRate": 70, "bloodOxygen": 98, "timestamp": t + 1_000 + chunk * 500 + i}))
            .collect();
        app.upload(records, None).await;
    }
    let no_prefer = app.admin_get("/fhir/$export", READER).await;
    assert_eq!(no_prefer.status, 400);
    let patients_only = app
        .admin(
            app.client
                .get(app.url("/fhir/$export?_type=Patient"))
                .header("Prefer", "respond-async"),
            READER,
        )
        .await;
    assert_eq!(patients_only.status, 400);

    let accepted = kick_off(&app, "/fhir/$export?_type=Observation").await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let status_url = accepted.headers["content-location"]
        .to_str()
        .expect("url")
        .to_owned();
    let manifest = manifest_of(&app, &status_url).await;
    assert_eq!(manifest["requiresAccessToken"], true);
    assert!(manifest["transactionTime"].as_str().is_some());
    let files = manifest["output"].as_array().expect("output");
    assert!(!files.is_empty());
    let mut lines = 0;
    let mut seen = BTreeSet::new();
    for file in files {
        assert_eq!(file["type"], "Observation");
        let url = file["url"].as_str().expect("url");
        let resp = app
            .client
            .get(url)
            .bearer_auth(READER)
            .send()
            .await
            .expect("file");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/fhir+ndjson");
        let body = resp.text().await.expect("body");
        for line in body.lines() {
            let o: Value = serde_json::from_str(line).expect("one resource per line");
            assert_vital_sign(&o);
            assert!(
                seen.insert(
                    o["identifier"][0]["value"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned()
                )
            );
            lines += 1;
        }
        // The files need the token.
        assert_eq!(
            app.client.get(url).send().await.expect("file").status(),
            401
        );
    }
    assert_eq!(lines, 8 + 1_500 * 2);
    // The patient-level export holds the same; `_since` after everything holds nothing.
    let patients = kick_off(&app, "/fhir/Patient/$export").await;
    assert_eq!(patients.status, 202);
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    let since = kick_off(
        &app,
        &format!(
            "/fhir/$export?_since={}",
            later.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    let empty = manifest_of(
        &app,
        since.headers["content-location"].to_str().expect("url"),
    )
    .await;
    assert_eq!(empty["output"], json!([]));
    // Cancelled: the status and the files are gone.
    let url = patients.headers["content-location"]
        .to_str()
        .expect("url")
        .to_owned();
    let done = manifest_of(&app, &url).await;
    let file = done["output"][0]["url"].as_str().expect("file").to_owned();
    let cancel = app.admin(app.client.delete(&url), READER).await;
    assert_eq!(cancel.status, 202);
    assert_eq!(app.admin(app.client.get(&url), READER).await.status, 404);
    assert_eq!(app.admin(app.client.get(&file), READER).await.status, 404);
    app.stop().await;
}
