//! Property tests of the body parser and the validator: arbitrary bytes, arbitrary JSON and
//! record-shaped JSON with values of every type and range. They run with the suite (256 cases
//! each); a long run is `PROPTEST_CASES=200000 cargo test --release --lib ingest::props`
//! (docs/FUZZING.md). Every failure found becomes a regression test below.

use super::IngestError;
use super::parse::parse_batch;
use super::validate::{Checked, check};
use crate::domain::is_valid_device_sn;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The clock validation runs against.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_000_000, 0).expect("valid time")
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[0-9]{1,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for field `name`: mostly of its own kind, in and around its range, sometimes of
/// another type.
fn field_value(name: &'static str) -> BoxedStrategy<Value> {
    let numeric = match name {
        "timestamp" => prop_oneof![
            (946_684_800i64..1_764_086_400).prop_map(Value::from),
            (946_684_800_000i64..1_764_086_400_000).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
        ]
        .boxed(),
        "temperature" | "latitude" | "longitude" => prop_oneof![
            (-200.0f64..200.0).prop_map(Value::from),
            Just(Value::from(0.0)),
        ]
        .boxed(),
        _ => prop_oneof![
            (-10i64..400).prop_map(Value::from),
            any::<i64>().prop_map(Value::from)
        ]
        .boxed(),
    };
    let text = match name {
        "deviceSn" => prop_oneof!["[!-~]{5,64}", ".{0,70}"].boxed(),
        _ => ".{0,30}".boxed(),
    };
    prop_oneof![
        6 => numeric,
        2 => text.prop_map(Value::from),
        1 => any_json(),
    ]
    .boxed()
}

const FIELDS: [&str; 15] = [
    "deviceSn",
    "heartRate",
    "bloodOxygen",
    "temperature",
    "pressureHigh",
    "pressureLow",
    "stress",
    "step",
    "distance",
    "calorie",
    "latitude",
    "longitude",
    "sleep",
    "timestamp",
    "uploadMethod",
];

/// A record: each known field present or not, with a value of any kind, and unknown fields.
fn record() -> impl Strategy<Value = Value> {
    let fields: Vec<_> = FIELDS
        .iter()
        .map(|&name| prop::option::weighted(0.8, field_value(name)).prop_map(move |v| (name, v)))
        .collect();
    (
        fields,
        prop::collection::btree_map("[a-z]{1,6}", any_json(), 0..2),
    )
        .prop_map(|(fields, extra)| {
            let mut map = Map::new();
            for (key, value) in extra {
                map.insert(key, value);
            }
            for (name, value) in fields {
                if let Some(value) = value {
                    map.insert(name.to_owned(), value);
                }
            }
            Value::Object(map)
        })
}

/// Whether `value` is of a type field `name` takes (coercions as the seed's parser made them:
/// numbers as strings, strings of digits as numbers).
fn type_ok(name: &str, value: &Value) -> bool {
    let number = |s: &str| s.trim().parse::<f64>().is_ok_and(f64::is_finite);
    let integer = |s: &str| {
        let s = s.trim();
        s.parse::<i128>().is_ok()
            || s.parse::<f64>()
                .is_ok_and(|f| f.is_finite() && f.abs() < 1e30)
    };
    match (name, value) {
        (_, Value::Null) => true,
        ("deviceSn" | "sleep" | "uploadMethod", Value::String(_) | Value::Number(_)) => true,
        ("temperature" | "latitude" | "longitude", Value::Number(_)) => true,
        ("temperature" | "latitude" | "longitude", Value::String(s)) => number(s),
        (_, Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.abs() < 1e30)
        }
        (_, Value::String(s)) => integer(s),
        _ => false,
    }
}

/// What every checked record must satisfy: exactly one outcome, messages naming the record,
/// and kept samples within DESIGN §3.
fn assert_well_checked(index: usize, outcome: &Checked) {
    let prefix = format!("index {index}: ");
    match outcome {
        Checked::Rejected(errors) => {
            assert!(!errors.is_empty(), "a rejection says why");
            assert!(errors.iter().all(|e| e.starts_with(&prefix)), "{errors:?}");
        }
        Checked::Valid(s, warnings) => {
            assert!(
                warnings
                    .iter()
                    .all(|w| w.starts_with(&prefix) && w.ends_with("; stored as null"))
            );
            assert!(is_valid_device_sn(&s.device_sn), "{:?}", s.device_sn);
            let t = s.timestamp.timestamp();
            assert!(
                (946_684_800..=now().timestamp() + 86_400).contains(&t),
                "{t}"
            );
            let within =
                |v: Option<i32>, lo: i32, hi: i32| v.is_none_or(|v| (lo..=hi).contains(&v));
            assert!(within(s.heart_rate, 20, 250));
            assert!(within(s.blood_oxygen, 50, 100));
            assert!(within(s.pressure_high, 50, 260));
            assert!(within(s.pressure_low, 30, 200));
            if let (Some(low), Some(high)) = (s.pressure_low, s.pressure_high) {
                assert!(low < high);
            }
            assert!(within(s.stress, 0, 100));
            for count in [s.step, s.distance, s.calorie] {
                assert!(count.is_none_or(|c| c >= 0));
            }
            assert!(s.temperature.is_none_or(|t| (30.0..=45.0).contains(&t)));
            assert!(s.latitude.is_none_or(|c| c.abs() <= 90.0));
            assert!(s.longitude.is_none_or(|c| c.abs() <= 180.0));
            assert!(
                s.sleep
                    .as_ref()
                    .is_none_or(|v| v.len() <= 4096 && !v.contains('\0'))
            );
            assert!(
                s.upload_method
                    .as_ref()
                    .is_none_or(|m| m.chars().count() <= 20 && !m.contains('\0'))
            );
        }
    }
}

#[test]
fn a_tiny_fraction_as_serial_is_written_out_in_full() {
    // Found by the long run: the model wrote it as 2.43e-173 (JSON's notation); the parser
    // writes it out (192 characters), too long for a serial.
    let body = br#"{"data": [{"deviceSn": -2.4317557895289892e-173, "timestamp": 946684800}]}"#;
    let upload = parse_batch(body, 10).expect("parses");
    let raw = upload
        .records
        .into_iter()
        .next()
        .expect("one")
        .expect("a record");
    assert!(matches!(check(0, raw, now()), Checked::Rejected(e) if e[0].contains("got 192")));
}

proptest! {
    // Cases found are kept as the named regression tests above, not in files of seeds.
    // `ProptestConfig::default()` still reads `PROPTEST_CASES`.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_are_parsed_or_refused_never_a_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_batch(&body, 100);
    }

    #[test]
    fn any_json_is_parsed_or_refused_and_each_record_checked_alone(data in any_json(), id in any_json()) {
        let body = json!({"data": data, "batchId": id});
        match parse_batch(body.to_string().as_bytes(), 100) {
            Ok(upload) => {
                let records = body["data"].as_array().map_or(0, Vec::len);
                prop_assert_eq!(upload.records.len(), records);
                for (index, record) in upload.records.into_iter().enumerate() {
                    match record {
                        Ok(raw) => assert_well_checked(index, &check(index, raw, now())),
                        Err(error) => {
                            let prefix = format!("index {index}: ");
                            prop_assert!(error.starts_with(&prefix), "{}", error);
                        }
                    }
                }
            }
            Err(err) => prop_assert!(matches!(
                err,
                IngestError::InvalidRequest(_) | IngestError::EmptyBatch | IngestError::TooManyRecords { .. }
            ), "{err:?}"),
        }
    }

    #[test]
    fn records_of_every_kind_are_kept_or_rejected_as_designed(records in prop::collection::vec(record(), 1..8)) {
        let body = json!({"data": records});
        let upload = parse_batch(body.to_string().as_bytes(), 100).expect("an array of objects parses");
        prop_assert_eq!(upload.records.len(), records.len());
        for (index, (record, sent)) in upload.records.into_iter().zip(&records).enumerate() {
            let raw = record.expect("an object is a record");
            let outcome = check(index, raw, now());
            assert_well_checked(index, &outcome);
            // A valid serial and time, and no value of a wrong type: the record is kept, and
            // a vital sign in range is kept exactly.
            // Numbers are serials too, as the seed's parser coerced them (a fraction written
            // out in full, as Rust prints it).
            let sent_sn = match &sent["deviceSn"] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                Value::Number(n) => n.as_f64().map(|f| f.to_string()),
                _ => None,
            };
            let sn_ok = sent_sn.as_deref().is_some_and(is_valid_device_sn);
            let now_s = now().timestamp();
            let ts_ok = sent["timestamp"].as_i64().is_some_and(|t| {
                let secs = if t >= 1_000_000_000_000 { t / 1000 } else { t };
                (946_684_800..=now_s + 86_400).contains(&secs)
            });
            let types_ok = FIELDS.iter().all(|&name| sent.get(name).is_none_or(|v| type_ok(name, v)));
            let valid = matches!(outcome, Checked::Valid(..));
            if sent["timestamp"].is_i64() {
                // The rule exactly: kept if and only if serial, time and every type are right.
                prop_assert_eq!(
                    valid, sn_ok && ts_ok && types_ok,
                    "serial {:?}, time {}, types {}: {:?}", sent_sn, sent["timestamp"], types_ok, outcome
                );
            } else if valid {
                // A time sent otherwise (as text, as a fraction) was read as a time.
                prop_assert!(sn_ok && types_ok, "{:?}", outcome);
            }
            if let Checked::Valid(sample, _) = &outcome {
                prop_assert!(sn_ok, "{:?}", sent_sn);
                prop_assert_eq!(Some(&sample.device_sn), sent_sn.as_ref());
                if let Some(hr) = sent["heartRate"].as_i64().filter(|hr| (20..=250).contains(hr)) {
                    prop_assert_eq!(sample.heart_rate, i32::try_from(hr).ok());
                }
            }
        }
    }

    #[test]
    fn unknown_fields_change_nothing(record in record(), extra in prop::collection::btree_map("x[a-z]{1,6}", any_json(), 1..3)) {
        let mut with_extra = record.clone();
        if let Some(map) = with_extra.as_object_mut() {
            map.extend(extra);
        }
        let checked = |r: &Value| {
            let upload = parse_batch(json!({"data": [r]}).to_string().as_bytes(), 10).expect("parses");
            let raw = upload.records.into_iter().next().expect("one").expect("a record");
            match check(0, raw, now()) {
                Checked::Valid(sample, warnings) => format!("{sample:?} {warnings:?}"),
                Checked::Rejected(errors) => format!("{errors:?}"),
            }
        };
        prop_assert_eq!(checked(&record), checked(&with_extra));
    }

    #[test]
    fn a_fingerprint_is_the_records_and_only_them(records in prop::collection::vec(record(), 1..4), id in "[a-z]{1,10}") {
        let of = |body: Value| parse_batch(body.to_string().as_bytes(), 10).expect("parses").fingerprint;
        let first = of(json!({"batchId": id, "data": records}));
        prop_assert_eq!(&first, &of(json!({"data": records, "batchId": id})));
        let mut other = records.clone();
        other.push(json!({}));
        prop_assert_ne!(first, of(json!({"batchId": id, "data": other})));
    }
}
