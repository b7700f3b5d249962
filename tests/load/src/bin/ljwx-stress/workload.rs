//! Record and batch generation: the seed stress test's samples, made unique.
//!
//! The Python seed picked a random device and the current time for every record, so many of
//! its records collided on `(deviceSn, timestamp)` and were silently folded together by the
//! server's dedup. A lost record would then be indistinguishable from a duplicate. Here every
//! record gets its own `(deviceSn, timestamp)` from a global counter, so every acknowledged
//! insert must show up as a stored row, and a missing row is a real loss.
//!
//! The body is written by hand with [`std::fmt::Write`]: the generator must keep up with
//! thousands of batches per second on one core, and serde would first build a value tree.

use rand::Rng;
use rand::rngs::SmallRng;
use std::cell::Cell;
use std::fmt::Write;

/// Default for how many days before the start of the run the first timestamp lies. The seed
/// sent "now"; going 30 days back leaves room for ~2.6 million records per device before a
/// timestamp would reach the server's "not more than 1 day in the future" limit.
pub const DEFAULT_DAYS_BACK: u32 = 30;

/// Seconds per day.
const DAY_SECS: i64 = 24 * 3600;

/// 2000-01-01T00:00:00Z: the server rejects timestamps up to this.
const EPOCH_2000: i64 = 946_684_800;

/// Longest device serial number the server accepts.
const MAX_DEVICE_SN: usize = 64;
/// Shortest device serial number the server accepts.
const MIN_DEVICE_SN: usize = 5;

/// The shared generator state: which devices exist and which record comes next.
///
/// Shared by every sender of the run through an `Rc` (the run is single-threaded), so the
/// counter is a plain [`Cell`].
#[derive(Debug)]
pub struct Workload {
    /// Device serial number prefix, e.g. `TEST_`.
    prefix: String,
    /// Number of devices, numbered 1..=devices.
    devices: u64,
    /// Timestamp of the first record (epoch seconds).
    base_ts: i64,
    /// Index of the next record to hand out.
    next: Cell<u64>,
    /// Records per thousand with an alerting heart rate.
    breach_per_mille: u32,
}

impl Workload {
    /// A generator over `devices` devices named `{prefix}{n:04}`, with timestamps counting up
    /// from `now_secs` − `days_back` days.
    pub fn new(prefix: &str, devices: u64, now_secs: i64, days_back: u32) -> anyhow::Result<Self> {
        check_prefix(prefix, devices)?;
        let base_ts = now_secs - i64::from(days_back) * DAY_SECS;
        if days_back == 0 || base_ts <= EPOCH_2000 {
            anyhow::bail!("--days-back must be at least 1 and stay after 2000-01-01");
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            devices,
            base_ts,
            next: Cell::new(0),
            breach_per_mille: 0,
        })
    }

    /// Gives `per_mille` records in a thousand a heart rate of 121–160, which the default
    /// alert rules flag.
    pub fn with_breaches(mut self, per_mille: u32) -> Self {
        self.breach_per_mille = per_mille.min(1000);
        self
    }

    /// The span of timestamps handed out so far, first and last; `None` before the first
    /// record.
    pub fn timestamp_span(&self) -> Option<[i64; 2]> {
        let n = self.next.get();
        (n > 0).then(|| [self.timestamp(0), self.timestamp(n - 1)])
    }

    /// Reserves `n` consecutive record indices and returns the first.
    pub fn reserve(&self, n: u64) -> u64 {
        let first = self.next.get();
        self.next.set(first + n);
        first
    }

    /// Records handed out so far.
    pub fn records_reserved(&self) -> u64 {
        self.next.get()
    }

    /// Device number (1-based) of record `k`.
    ///
    /// Round-robin over the devices: together with [`Self::timestamp`] this maps `k` one to
    /// one onto `(device, timestamp)`, so no two records of a run ever collide.
    pub fn device(&self, k: u64) -> u64 {
        k % self.devices + 1
    }

    /// Timestamp (epoch seconds) of record `k`: one second later for each full round over
    /// the devices.
    pub fn timestamp(&self, k: u64) -> i64 {
        // `k / devices` stays far below i64::MAX for any real run; saturate rather than wrap.
        self.base_ts
            .saturating_add(i64::try_from(k / self.devices).unwrap_or(i64::MAX))
    }

    /// Writes the upload body `{"data":[...],"batchId":"..."}` with `count` new records into
    /// `out` (cleared first, capacity kept), and returns the number of records written.
    pub fn write_batch(
        &self,
        out: &mut String,
        rng: &mut SmallRng,
        batch_id: &str,
        count: usize,
    ) -> usize {
        out.clear();
        let first = self.reserve(count as u64);
        out.push_str("{\"data\":[");
        for i in 0..count as u64 {
            if i > 0 {
                out.push(',');
            }
            self.write_record(out, rng, first + i);
        }
        // batch_id is checked to be plain ASCII without quotes (see `check_run_id`), so it
        // needs no escaping.
        out.push_str("],\"batchId\":\"");
        out.push_str(batch_id);
        out.push_str("\"}");
        count
    }

    /// Appends record `k` as a JSON object. Values are drawn in the seed's ranges.
    fn write_record(&self, out: &mut String, rng: &mut SmallRng, k: u64) {
        // Decimals are generated as scaled integers and printed with fixed digits: exact,
        // and much faster than float formatting.
        let temperature: u32 = rng.random_range(360..=375);
        let latitude: u64 = rng.random_range(22_500_000..=22_600_000);
        let longitude: u64 = rng.random_range(114_000_000..=114_300_000);
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            concat!(
                "{{\"deviceSn\":\"{prefix}{device:04}\",",
                "\"heartRate\":{hr},\"bloodOxygen\":{bo},",
                "\"temperature\":{t_int}.{t_frac},",
                "\"pressureHigh\":{ph},\"pressureLow\":{pl},\"stress\":{stress},",
                "\"step\":{step},\"distance\":{distance},\"calorie\":{calorie},",
                "\"latitude\":{lat_int}.{lat_frac:06},\"longitude\":{lon_int}.{lon_frac:06},",
                "\"timestamp\":{ts},\"uploadMethod\":\"stress_test\"}}"
            ),
            prefix = self.prefix,
            device = self.device(k),
            hr = if rng.random_range(0..1000u32) < self.breach_per_mille {
                rng.random_range(121..=160u32)
            } else {
                rng.random_range(60..=120u32)
            },
            bo = rng.random_range(95..=100u32),
            t_int = temperature / 10,
            t_frac = temperature % 10,
            ph = rng.random_range(110..=140u32),
            pl = rng.random_range(70..=90u32),
            stress = rng.random_range(30..=80u32),
            step = rng.random_range(8000..=15000u32),
            distance = rng.random_range(5000..=10000u32),
            calorie = rng.random_range(2000..=4000u32),
            lat_int = latitude / 1_000_000,
            lat_frac = latitude % 1_000_000,
            lon_int = longitude / 1_000_000,
            lon_frac = longitude % 1_000_000,
            ts = self.timestamp(k),
        );
    }
}

/// Serial number of device `n` (1-based): `{prefix}{n:04}`.
pub fn device_sn(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:04}")
}

/// Checks that every serial number `{prefix}{n:04}` for n in 1..=devices is one the server
/// accepts and that can be written into JSON without escaping.
pub fn check_prefix(prefix: &str, devices: u64) -> anyhow::Result<()> {
    if devices == 0 {
        anyhow::bail!("--devices must be at least 1");
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b',')
    {
        anyhow::bail!(
            "--device-prefix must be printable ASCII without spaces, quotes, backslashes or commas"
        );
    }
    let shortest = device_sn(prefix, 1).len();
    let longest = device_sn(prefix, devices).len();
    if shortest < MIN_DEVICE_SN || longest > MAX_DEVICE_SN {
        anyhow::bail!(
            "device serial numbers must be {MIN_DEVICE_SN}–{MAX_DEVICE_SN} characters; \
             {prefix:?} with {devices} devices gives {shortest}–{longest}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    const NOW: i64 = 1_750_000_000;
    const BASE_OFFSET_SECS: i64 = 30 * DAY_SECS;

    fn workload(devices: u64) -> Workload {
        Workload::new("TEST_", devices, NOW, DEFAULT_DAYS_BACK).expect("valid prefix")
    }

    #[test]
    fn device_and_timestamp_are_unique_over_10_000_records() {
        let w = workload(1000);
        let mut seen = HashSet::new();
        for k in 0..10_000 {
            let (d, ts) = (w.device(k), w.timestamp(k));
            assert!((1..=1000).contains(&d));
            assert!(seen.insert((d, ts)), "record {k} repeats ({d}, {ts})");
        }
        assert_eq!(w.timestamp(0), NOW - BASE_OFFSET_SECS);
        assert_eq!(w.timestamp(9_999), NOW - BASE_OFFSET_SECS + 9);
        assert_eq!(w.timestamp_span(), None);
        w.reserve(10_000);
        assert_eq!(
            w.timestamp_span(),
            Some([NOW - BASE_OFFSET_SECS, NOW - BASE_OFFSET_SECS + 9])
        );
    }

    #[test]
    fn generated_batches_are_unique_across_batches() {
        let w = workload(7);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut buf = String::new();
        let mut seen = HashSet::new();
        for b in 0..100 {
            w.write_batch(&mut buf, &mut rng, &format!("run_1_{b}"), 100);
            let body: serde_json::Value = serde_json::from_str(&buf).expect("valid JSON");
            for rec in body["data"].as_array().expect("data array") {
                let key = (
                    rec["deviceSn"].as_str().expect("sn").to_owned(),
                    rec["timestamp"].as_i64().expect("ts"),
                );
                assert!(seen.insert(key));
            }
        }
        assert_eq!(seen.len(), 10_000);
        assert_eq!(w.records_reserved(), 10_000);
    }

    #[test]
    fn generated_json_parses_and_stays_in_the_seed_ranges() {
        let w = workload(1000);
        let mut rng = SmallRng::seed_from_u64(42);
        let mut buf = String::with_capacity(64);
        let n = w.write_batch(&mut buf, &mut rng, "stress_1_2_3", 500);
        assert_eq!(n, 500);
        let body: serde_json::Value = serde_json::from_str(&buf).expect("valid JSON");
        assert_eq!(body["batchId"], "stress_1_2_3");
        let data = body["data"].as_array().expect("data array");
        assert_eq!(data.len(), 500);
        let int = |rec: &serde_json::Value, f: &str, lo: i64, hi: i64| {
            let v = rec[f]
                .as_i64()
                .unwrap_or_else(|| panic!("{f} is an integer"));
            assert!((lo..=hi).contains(&v), "{f} = {v} outside {lo}..={hi}");
        };
        let float = |rec: &serde_json::Value, f: &str, lo: f64, hi: f64, decimals: usize| {
            let v = rec[f].as_f64().unwrap_or_else(|| panic!("{f} is a number"));
            assert!((lo..=hi).contains(&v), "{f} = {v} outside {lo}..={hi}");
            let text = rec[f].to_string();
            let frac = text.split('.').nth(1).map_or(0, str::len);
            assert!(
                frac <= decimals,
                "{f} = {text} has more than {decimals} decimals"
            );
        };
        for (i, rec) in data.iter().enumerate() {
            let sn = rec["deviceSn"].as_str().expect("deviceSn");
            assert_eq!(sn, format!("TEST_{:04}", i + 1));
            int(rec, "heartRate", 60, 120);
            int(rec, "bloodOxygen", 95, 100);
            float(rec, "temperature", 36.0, 37.5, 1);
            int(rec, "pressureHigh", 110, 140);
            int(rec, "pressureLow", 70, 90);
            int(rec, "stress", 30, 80);
            int(rec, "step", 8000, 15000);
            int(rec, "distance", 5000, 10000);
            int(rec, "calorie", 2000, 4000);
            float(rec, "latitude", 22.5, 22.6, 6);
            float(rec, "longitude", 114.0, 114.3, 6);
            assert_eq!(rec["timestamp"].as_i64(), Some(NOW - BASE_OFFSET_SECS));
            assert_eq!(rec["uploadMethod"], "stress_test");
        }
    }

    #[test]
    fn the_base_stays_after_2000() {
        assert!(Workload::new("TEST_", 10, NOW, 0).is_err());
        assert!(Workload::new("TEST_", 10, NOW, 365 * 30).is_err());
        assert!(Workload::new("TEST_", 10, NOW, 365).is_ok());
    }

    #[test]
    fn prefixes_that_make_bad_serial_numbers_are_refused() {
        assert!(check_prefix("TEST_", 1000).is_ok());
        assert!(check_prefix("T", 1).is_ok()); // "T0001" has 5 characters
        assert!(check_prefix("", 1).is_err());
        assert!(check_prefix("A B", 1).is_err());
        assert!(check_prefix("A\"B", 1).is_err());
        assert!(check_prefix(&"X".repeat(60), 1).is_ok());
        assert!(check_prefix(&"X".repeat(60), 100_000).is_err());
        assert!(check_prefix("TEST_", 0).is_err());
    }
}
