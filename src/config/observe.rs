//! What the service tells about itself: logs, the system monitor, the recent-trace store.

use serde::{Deserialize, Serialize};

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` overrides. Default `info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The system monitor (DESIGN §8, seed §5.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Milliseconds between samples (at least 100).
    pub interval_ms: u64,
    /// Samples kept.
    pub history: usize,
    /// Host CPU use above this percentage is a threshold event.
    pub cpu_threshold_percent: f32,
    /// Host memory use above this percentage is a threshold event.
    pub memory_threshold_percent: f32,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval_ms: 10_000,
            history: 100,
            cpu_threshold_percent: 80.0,
            memory_threshold_percent: 85.0,
        }
    }
}

/// The recent-trace store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracesConfig {
    /// Upload traces kept in memory (about 1 KiB each).
    pub recent: usize,
}

impl Default for TracesConfig {
    fn default() -> Self {
        Self { recent: 2000 }
    }
}
