//! The admin token (`LJWX_ADMIN__TOKEN`) that the admin API and the observability endpoints
//! accept.

use crate::config::Secret;
use subtle::ConstantTimeEq;

/// Checks presented admin tokens against the configured one. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    token: Option<Secret>,
}

/// Why an admin call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No admin token is configured.
    Disabled,
    /// The token does not match.
    WrongToken,
}

impl Admin {
    /// Open to callers presenting `token`; `None` (or empty) disables the admin API.
    pub fn new(token: Option<Secret>) -> Self {
        Self {
            token: token.filter(|t| !t.expose().is_empty()),
        }
    }

    /// Whether `presented` is the admin token (compared in constant time).
    pub fn check(&self, presented: &str) -> Result<(), Denied> {
        let Some(token) = &self.token else {
            return Err(Denied::Disabled);
        };
        if bool::from(token.expose().as_bytes().ct_eq(presented.as_bytes())) {
            Ok(())
        } else {
            Err(Denied::WrongToken)
        }
    }
}
