//! Per-request results of a run, accumulated in one place.
//!
//! The run is single-threaded, so senders share one [`Stats`] through `Rc<RefCell<_>>` and
//! record into it between awaits. One histogram for the whole run keeps memory flat however
//! many users there are (a histogram per user would cost ~100 KiB each).

use hdrhistogram::Histogram;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest latency the histogram tracks, in microseconds (120 s, above any sane `--timeout`);
/// larger values are clamped to it.
pub const MAX_LATENCY_US: u64 = 120_000_000;

/// Error kind: the client timeout (`--timeout`) expired.
pub const KIND_TIMEOUT: &str = "timeout";
/// Error kind: the TCP connection could not be made.
pub const KIND_CONNECT: &str = "connect";
/// Error kind: any other transport failure (reset connection, truncated body, ...).
pub const KIND_OTHER_IO: &str = "other_io";
/// Error kind: a 200 whose body is not the expected JSON.
pub const KIND_INVALID_RESPONSE: &str = "invalid_response";
/// Error kind (open loop): not sent because `--max-in-flight` requests were outstanding.
pub const KIND_CLIENT_OVERLOAD: &str = "client_overload";
/// Error kind: still in flight when the drain limit passed, and abandoned.
pub const KIND_ABANDONED: &str = "abandoned";

/// The figures of a 200 answer the run adds up. Other fields of the answer are ignored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Ack {
    /// Records that passed validation: `inserted + duplicates + unknown_device`.
    #[serde(default)]
    pub valid_records: u64,
    /// Records newly stored in `t_user_health_data`.
    #[serde(default)]
    pub inserted: u64,
    /// Records already stored before.
    #[serde(default)]
    pub duplicates: u64,
    /// Records of unbound devices, quarantined in `t_unknown_device_data`.
    #[serde(default)]
    pub unknown_device: u64,
    /// Records the server rejected; the generator should never produce any.
    #[serde(default)]
    pub errors: u64,
}

impl Ack {
    /// Adds `other` field by field.
    fn add(&mut self, other: &Ack) {
        self.valid_records += other.valid_records;
        self.inserted += other.inserted;
        self.duplicates += other.duplicates;
        self.unknown_device += other.unknown_device;
        self.errors += other.errors;
    }
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// HTTP 200 with its parsed figures.
    Accepted(Ack),
    /// Any other HTTP status; `retry_after` holds the `Retry-After` header's seconds when it
    /// came with one (1 when its value is not a number of seconds).
    Status {
        /// The HTTP status code.
        code: u16,
        /// Whether the answer carried `Retry-After`.
        retry_after: Option<u64>,
    },
    /// No usable answer; one of the `KIND_*` constants.
    Failed(&'static str),
}

/// How many answers of one status carried `Retry-After`, and how many did not.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RetryAfterCount {
    /// Answers with the header.
    pub with: u64,
    /// Answers without it (a contract violation for 503 and 429).
    pub without: u64,
}

/// Everything recorded during a run.
#[derive(Debug)]
pub struct Stats {
    /// Latency of every request that was sent, in microseconds.
    pub latency: Histogram<u64>,
    /// Requests attempted, including ones not sent (`client_overload`).
    pub requests: u64,
    /// Requests answered 200.
    pub ok: u64,
    /// Records in the requests that were sent.
    pub records_sent: u64,
    /// Sum of the figures of all 200 answers.
    pub acked: Ack,
    /// Failed requests by kind: `HTTP_503`, `timeout`, ...
    pub errors: BTreeMap<String, u64>,
    /// `Retry-After` presence on 503 answers.
    pub retry_after_503: RetryAfterCount,
    /// `Retry-After` presence on 429 answers.
    pub retry_after_429: RetryAfterCount,
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Self {
        Self {
            // 3 significant figures: 0.1 % resolution at every magnitude, ~100 KiB.
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid"),
            requests: 0,
            ok: 0,
            records_sent: 0,
            acked: Ack::default(),
            errors: BTreeMap::new(),
            retry_after_503: RetryAfterCount::default(),
            retry_after_429: RetryAfterCount::default(),
        }
    }

    /// Requests that did not get a 200.
    pub fn failed(&self) -> u64 {
        self.requests - self.ok
    }

    /// Records a request of `records` records that was sent and ended with `outcome` after
    /// `latency`.
    pub fn record(&mut self, outcome: &Outcome, latency: Duration, records: u64) {
        self.requests += 1;
        self.records_sent += records;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // Clamp instead of failing: a value past the top is still "very slow".
        self.latency.saturating_record(micros.max(1));
        match outcome {
            Outcome::Accepted(ack) => {
                self.ok += 1;
                self.acked.add(ack);
            }
            Outcome::Status { code, retry_after } => {
                let count = match code {
                    503 => Some(&mut self.retry_after_503),
                    429 => Some(&mut self.retry_after_429),
                    _ => None,
                };
                if let Some(count) = count {
                    if retry_after.is_some() {
                        count.with += 1;
                    } else {
                        count.without += 1;
                    }
                }
                *self.errors.entry(format!("HTTP_{code}")).or_default() += 1;
            }
            Outcome::Failed(kind) => self.count_error(kind),
        }
    }

    /// Records a request that was never sent (or whose answer was never waited for): it
    /// counts as failed with `kind`, and has no latency.
    pub fn record_unsent(&mut self, kind: &str) {
        self.requests += 1;
        self.count_error(kind);
    }

    /// Adds one to the error kind `kind`.
    fn count_error(&mut self, kind: &str) {
        match self.errors.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                self.errors.insert(kind.to_owned(), 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_by_kind() {
        let mut s = Stats::new();
        let ms = Duration::from_millis;
        let ack = Ack {
            valid_records: 100,
            inserted: 90,
            duplicates: 0,
            unknown_device: 10,
            errors: 0,
        };
        s.record(&Outcome::Accepted(ack), ms(5), 100);
        s.record(&Outcome::Accepted(ack), ms(7), 100);
        let overloaded = Outcome::Status {
            code: 503,
            retry_after: Some(1),
        };
        s.record(&overloaded, ms(1), 100);
        let bare = Outcome::Status {
            code: 503,
            retry_after: None,
        };
        s.record(&bare, ms(1), 100);
        s.record(&Outcome::Failed(KIND_TIMEOUT), Duration::from_secs(30), 100);
        s.record_unsent(KIND_CLIENT_OVERLOAD);
        assert_eq!(s.requests, 6);
        assert_eq!(s.ok, 2);
        assert_eq!(s.failed(), 4);
        assert_eq!(s.records_sent, 500);
        assert_eq!(s.acked.inserted, 180);
        assert_eq!(s.acked.unknown_device, 20);
        assert_eq!(s.errors.get("HTTP_503"), Some(&2));
        assert_eq!(s.errors.get("timeout"), Some(&1));
        assert_eq!(s.errors.get("client_overload"), Some(&1));
        assert_eq!(
            s.retry_after_503,
            RetryAfterCount {
                with: 1,
                without: 1
            }
        );
        // The unsent request has no latency.
        assert_eq!(s.latency.len(), 5);
    }

    #[test]
    fn the_answer_of_the_service_parses() {
        let body = r#"{"status":"accepted","batch_id":"b","total_records":100,"valid_records":100,
            "errors":0,"warnings":0,"inserted":97,"duplicates":2,"unknown_device":1,
            "processing_time_ms":3.1,"error_details":[],"trace_id":null}"#;
        let ack: Ack = serde_json::from_str(body).expect("parses");
        assert_eq!(ack.valid_records, 100);
        assert_eq!(ack.inserted, 97);
        assert_eq!(ack.duplicates, 2);
        assert_eq!(ack.unknown_device, 1);
    }
}
