//! The calendar of the service: which day "today" is (DESIGN §5).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;

/// The time zone that defines calendar days for statistics.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    /// An IANA zone from the configuration.
    Named(Tz),
    /// The host's local zone (the default).
    Local,
}

/// The configured time zone name is not an IANA zone.
#[derive(Debug, thiserror::Error)]
#[error("unknown time zone `{0}` (expected an IANA name such as `Asia/Shanghai`)")]
pub struct UnknownZone(String);

impl Zone {
    /// The zone named in the configuration, or the host's when none is.
    pub fn from_config(name: Option<&str>) -> Result<Self, UnknownZone> {
        match name {
            None => Ok(Zone::Local),
            Some(name) => name
                .parse::<Tz>()
                .map(Zone::Named)
                .map_err(|_| UnknownZone(name.to_owned())),
        }
    }

    /// The calendar day `at` falls on.
    pub fn day(&self, at: DateTime<Utc>) -> NaiveDate {
        match self {
            Zone::Named(tz) => at.with_timezone(tz).date_naive(),
            Zone::Local => at.with_timezone(&chrono::Local).date_naive(),
        }
    }

    /// How far this zone is ahead of UTC at `at`, in seconds.
    pub fn offset_secs(&self, at: DateTime<Utc>) -> i64 {
        use chrono::Offset;
        let seconds = match self {
            Zone::Named(tz) => at.with_timezone(tz).offset().fix().local_minus_utc(),
            Zone::Local => at
                .with_timezone(&chrono::Local)
                .offset()
                .fix()
                .local_minus_utc(),
        };
        i64::from(seconds)
    }

    /// Midnight (in this zone) of the day `at` falls on.
    pub fn day_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let offset = self.offset_secs(at);
        let local = at.timestamp() + offset;
        DateTime::from_timestamp(local - local.rem_euclid(86_400) - offset, 0).unwrap_or(at)
    }

    /// `at` for people: `YYYY-MM-DD HH:MM:SS` in this zone.
    pub fn display(&self, at: DateTime<Utc>) -> String {
        self.strftime(at, "%Y-%m-%d %H:%M:%S")
    }

    /// `at` for a narrow column: `MM-DD HH:MM:SS` in this zone.
    pub fn display_short(&self, at: DateTime<Utc>) -> String {
        self.strftime(at, "%m-%d %H:%M:%S")
    }

    /// `at` as the time of day, `HH:MM:SS`, in this zone.
    pub fn display_time(&self, at: DateTime<Utc>) -> String {
        self.strftime(at, "%H:%M:%S")
    }

    fn strftime(&self, at: DateTime<Utc>, format: &str) -> String {
        match self {
            Zone::Named(tz) => at.with_timezone(tz).format(format).to_string(),
            Zone::Local => at.with_timezone(&chrono::Local).format(format).to_string(),
        }
    }

    /// `at` as RFC 3339 with this zone's offset, as the seed's `datetime.now().isoformat()`.
    pub fn format(&self, at: DateTime<Utc>) -> String {
        match self {
            Zone::Named(tz) => at
                .with_timezone(tz)
                .to_rfc3339_opts(SecondsFormat::Millis, false),
            Zone::Local => at
                .with_timezone(&chrono::Local)
                .to_rfc3339_opts(SecondsFormat::Millis, false),
        }
    }
}
