//! The admin API, the dashboard login and the dashboard.

use super::Secret;
use serde::{Deserialize, Serialize};

/// The admin API (alert lifecycle) and the dashboard login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token the admin API requires (`LJWX_ADMIN__TOKEN`). Unset (default): the admin
    /// API answers 403, it is disabled.
    pub token: Option<Secret>,
    /// Bearer token of the read API only (`LJWX_ADMIN__READ_TOKEN`): samples, summaries,
    /// bindings (reading), FHIR and Open mHealth — for integrators who must not change
    /// anything. The admin token reads too. Unset (default): only the admin token reads.
    pub read_token: Option<Secret>,
    /// Argon2 PHC hash of the dashboard password (`LJWX_ADMIN__PASSWORD_HASH`,
    /// `$argon2id$v=19$…`; `ljwx-bigscreen hash-password` makes one). Wins over `password`.
    pub password_hash: Option<Secret>,
    /// The dashboard password in plain text, for automation (`LJWX_ADMIN__PASSWORD`); hashed
    /// at start, never logged. With neither set, a password is generated at first start,
    /// printed once, and only its hash is kept (in the database, for every instance).
    pub password: Option<Secret>,
    /// Hours a dashboard session lasts without use; each use renews it. Default 12.
    pub session_ttl_hours: u64,
    /// Mark the session cookie `Secure` (serve the dashboard over HTTPS, e.g. behind nginx).
    /// Default false: intranet deployments often serve plain HTTP.
    pub secure_cookie: bool,
    /// Login attempts allowed per client address per minute (burst of the same size).
    /// Default 5.
    pub login_attempts_per_minute: u32,
    /// Hours a dashboard session lasts at most from its login, however often it is renewed.
    /// Default 168 (7 days).
    pub session_max_hours: u64,
    /// Password checks (argon2, deliberately slow) running at once; more logins wait, and
    /// get 503 after 10 s. Default 2.
    pub password_checks: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token: None,
            read_token: None,
            password_hash: None,
            password: None,
            session_ttl_hours: 12,
            secure_cookie: false,
            login_attempts_per_minute: 5,
            session_max_hours: 168,
            password_checks: 2,
        }
    }
}

/// The dashboard (DESIGN §9).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Milliseconds between live updates of the overview. Computed once per interval for
    /// every open dashboard, and only while one is open. Default 2000 (at least 200).
    pub refresh_ms: u64,
    /// Rows per page of the alert and device tables. Default 50 (at most 500).
    pub page_size: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            refresh_ms: 2000,
            page_size: 50,
        }
    }
}
