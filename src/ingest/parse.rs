//! Request bodies to records. Request-level problems fail the request; a record that is not
//! an object or has a field of the wrong type fails only that record.

use super::IngestError;
use super::record::{Field, RawRecord};
use crate::telemetry::traceparent::hex;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Longest `batchId`, in characters (the column is `VARCHAR(64)`).
const MAX_BATCH_ID_CHARS: usize = 64;

/// A parsed upload: its records (each parsed or failed on its own) and the client's batch id.
#[derive(Debug)]
pub struct Upload {
    /// The client's `batchId`, if it sent a non-empty one.
    pub batch_id: Option<String>,
    /// With a client `batchId`: SHA-256 (hex) of the records as sent, so that a repeat of
    /// the same batch can be told from another batch that reuses the id. Empty otherwise.
    pub fingerprint: String,
    /// One entry per element of `data`, in order.
    pub records: Vec<Result<RawRecord, String>>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Option<Vec<&'a RawValue>>,
    #[serde(rename = "batchId", default)]
    batch_id: Field<String>,
}

/// Parses `POST /upload_health_data_batch`: `{"data": [...], "batchId": "..."}`.
pub fn parse_batch(body: &[u8], max_records: usize) -> Result<Upload, IngestError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(json_error)?;
    let data = envelope
        .data
        .ok_or_else(|| IngestError::InvalidRequest("`data` is required".to_owned()))?;
    if data.is_empty() {
        return Err(IngestError::EmptyBatch);
    }
    if data.len() > max_records {
        return Err(IngestError::TooManyRecords {
            count: data.len(),
            limit: max_records,
        });
    }
    let batch_id = batch_id(envelope.batch_id)?;
    let fingerprint = if batch_id.is_some() {
        fingerprint(&data)
    } else {
        String::new()
    };
    let records = data
        .iter()
        .enumerate()
        .map(|(index, raw)| record(index, raw.get()))
        .collect();
    Ok(Upload {
        batch_id,
        fingerprint,
        records,
    })
}

/// SHA-256 of the records' JSON text, each prefixed by its length: the same records sent
/// again (a retry) give the same fingerprint whatever the spacing between them; any change
/// inside a record gives another. A cryptographic hash, so that nobody can make other records
/// pass for a batch already stored under the id.
fn fingerprint(records: &[&RawValue]) -> String {
    let mut hash = Sha256::new();
    for raw in records {
        let text = raw.get().as_bytes();
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text);
    }
    hex(&hash.finalize())
}

/// Parses `POST /upload_health_data`: one record object.
pub fn parse_single(body: &[u8]) -> Result<Upload, IngestError> {
    let raw: &RawValue = serde_json::from_slice(body).map_err(json_error)?;
    Ok(Upload {
        batch_id: None,
        fingerprint: String::new(),
        records: vec![record(0, raw.get())],
    })
}

fn record(index: usize, json: &str) -> Result<RawRecord, String> {
    if !json.starts_with('{') {
        return Err(format!("index {index}: must be a JSON object"));
    }
    serde_json::from_str(json).map_err(|err| {
        // Only a structural problem such as a repeated key gets here; the position would be
        // relative to the record, so keep the parser's reason alone.
        let reason = err.to_string();
        let reason = reason.split(" at line ").next().unwrap_or(reason.as_str());
        format!("index {index}: {reason}")
    })
}

fn batch_id(value: Field<String>) -> Result<Option<String>, IngestError> {
    match value {
        Field::Absent | Field::Null => Ok(None),
        // The seed fell back to a generated id for an empty one (`batch.batchId or ...`).
        Field::Value(id) if id.is_empty() => Ok(None),
        Field::Value(id)
            if id.chars().count() <= MAX_BATCH_ID_CHARS
                && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(id))
        }
        Field::Value(_) => Err(IngestError::InvalidRequest(format!(
            "`batchId` must be 1–{MAX_BATCH_ID_CHARS} printable ASCII characters without spaces"
        ))),
        Field::WrongType(sent) => Err(IngestError::InvalidRequest(format!(
            "`batchId` must be a string, got {sent}"
        ))),
    }
}

fn json_error(err: serde_json::Error) -> IngestError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            IngestError::MalformedJson(err.to_string())
        }
        Category::Data => IngestError::InvalidRequest(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bad_record_does_not_fail_the_batch() {
        let upload = parse_batch(
            br#"{"data": [{"deviceSn": "W0001"}, 5, {"deviceSn": "W0002", "heartRate": 1, "heartRate": 2}]}"#,
            10,
        )
        .expect("batch parses");
        assert!(upload.records[0].is_ok());
        assert_eq!(
            upload.records[1].as_ref().err().map(String::as_str),
            Some("index 1: must be a JSON object")
        );
        assert_eq!(
            upload.records[2].as_ref().err().map(String::as_str),
            Some("index 2: duplicate field `heartRate`")
        );
    }

    #[test]
    fn fingerprint_tells_other_records_from_a_retry() {
        let of = |body: &str| {
            parse_batch(body.as_bytes(), 10)
                .expect("parses")
                .fingerprint
        };
        let first = of(r#"{"batchId": "b1", "data": [{"deviceSn": "W0001", "timestamp": 1}]}"#);
        assert_eq!(first.len(), 64);
        assert_eq!(
            first,
            of(r#"{"data":  [ {"deviceSn": "W0001", "timestamp": 1} ],"batchId":"b1"}"#),
            "spacing between records and the order of the envelope's keys do not matter"
        );
        assert_ne!(
            first,
            of(r#"{"batchId": "b1", "data": [{"deviceSn": "W0002", "timestamp": 1}]}"#)
        );
        // Records are length-prefixed: moving a boundary is another batch.
        assert_ne!(
            of(r#"{"batchId": "b", "data": ["ab", "c"]}"#),
            of(r#"{"batchId": "b", "data": ["a", "bc"]}"#)
        );
        assert_eq!(
            of(r#"{"data": [{"deviceSn": "W0001", "timestamp": 1}]}"#),
            ""
        );
    }

    #[test]
    fn request_level_errors() {
        assert!(matches!(
            parse_batch(br#"{"data": [1,2,3]}"#, 2),
            Err(IngestError::TooManyRecords { count: 3, limit: 2 })
        ));
        assert!(matches!(
            parse_batch(br#"{"data": []}"#, 2),
            Err(IngestError::EmptyBatch)
        ));
        assert!(matches!(
            parse_batch(br#"{"data": [}"#, 2),
            Err(IngestError::MalformedJson(m)) if m.contains("line 1 column")
        ));
        assert!(matches!(
            parse_batch(br#"{"data": {}}"#, 2),
            Err(IngestError::InvalidRequest(_))
        ));
    }
}
