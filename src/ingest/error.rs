//! The domain error of an upload. It knows nothing of HTTP: the API layer maps every variant
//! to a status code with an exhaustive `match`.

use super::WriteError;
use crate::store::StoreError;

/// Why an upload was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not JSON; the message is the parser's, with line and column.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON of the wrong shape (no `data` array, bad `batchId`, …).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The body is larger than `ingest.max_body_bytes`.
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// The body arrived slower than the server's minimum pace and was cut off.
    #[error("the request body arrived too slowly")]
    BodyTimeout,
    /// The batch has more records than `ingest.max_records`.
    #[error("{count} records, more than the limit of {limit}")]
    TooManyRecords {
        /// Records in the request.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// `data` is an empty array.
    #[error("the batch has no records")]
    EmptyBatch,
    /// Every record was rejected; `details` says why (at most 10 lines).
    #[error("no valid record in the batch")]
    NoValidRecords {
        /// `index N: field: reason` lines.
        details: Vec<String>,
    },
    /// Storage failed; nothing of the batch was committed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer refused or failed the batch; nothing of it was committed.
    #[error(transparent)]
    Write(#[from] WriteError),
}
