//! The admin token (`LJWX_ADMIN__TOKEN`) that the admin API and the observability endpoints
//! accept, and the read-only token (`LJWX_ADMIN__READ_TOKEN`) of the read API.

use crate::config::Secret;
use subtle::ConstantTimeEq;

/// Checks presented admin tokens against the configured one. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    token: Option<Secret>,
    read_token: Option<Secret>,
}

/// Why an admin call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token is configured for the call.
    Disabled,
    /// The token does not match.
    WrongToken,
}

impl Admin {
    /// Open to callers presenting `token`; `None` (or empty) disables the admin API.
    pub fn new(token: Option<Secret>) -> Self {
        Self {
            token: token.filter(|t| !t.expose().is_empty()),
            read_token: None,
        }
    }

    /// Also open the read API to callers presenting `token` (`None` or empty: only to the
    /// admin token).
    pub fn with_read_token(mut self, token: Option<Secret>) -> Self {
        self.read_token = token.filter(|t| !t.expose().is_empty());
        self
    }

    /// Whether `presented` is the admin token (compared in constant time).
    pub fn check(&self, presented: &str) -> Result<(), Denied> {
        let Some(token) = &self.token else {
            return Err(Denied::Disabled);
        };
        matches(token, presented)
    }

    /// Whether `presented` may read: the admin token or the read token.
    pub fn check_read(&self, presented: &str) -> Result<(), Denied> {
        match (&self.token, &self.read_token) {
            (None, None) => Err(Denied::Disabled),
            (admin, read) => {
                let accepted = [admin, read]
                    .into_iter()
                    .flatten()
                    .any(|token| matches(token, presented).is_ok());
                if accepted {
                    Ok(())
                } else {
                    Err(Denied::WrongToken)
                }
            }
        }
    }
}

/// Whether `presented` is `token`, compared in constant time.
fn matches(token: &Secret, presented: &str) -> Result<(), Denied> {
    if bool::from(token.expose().as_bytes().ct_eq(presented.as_bytes())) {
        Ok(())
    } else {
        Err(Denied::WrongToken)
    }
}
