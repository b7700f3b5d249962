//! The admin password: argon2id hashes, and where the hash comes from at start.

use crate::config::AdminConfig;
use crate::store::{Store, StoreError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use tracing::{info, warn};

/// The setting that holds the hash of a generated password.
const GENERATED_HASH_SETTING: &str = "admin_password_hash";
/// Length of a generated password (~119 bits).
const GENERATED_LENGTH: usize = 20;

/// Why no admin password could be set up.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// `admin.password_hash` is not an argon2 PHC string.
    #[error("admin.password_hash is not a valid argon2 hash ($argon2id$v=19$...)")]
    InvalidHash,
    /// Hashing failed (never with valid parameters).
    #[error("cannot hash the admin password")]
    Hashing,
    /// The stored hash could not be read or written.
    #[error("cannot read or store the admin password hash: {0}")]
    Storage(#[from] StoreError),
}

/// The argon2id PHC string of `password`, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let salt =
        SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|_| PasswordError::Hashing)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

/// Whether `password` matches the PHC string `phc` (constant time inside argon2).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The hash the dashboard checks logins against: `admin.password_hash`, else the hash of
/// `admin.password`, else the hash generated at an earlier start (kept in the database), else
/// a new password — printed once to standard error, only its hash stored.
pub async fn resolve(config: &AdminConfig, store: &Store) -> Result<String, PasswordError> {
    if let Some(phc) = config.password_hash.as_ref().map(|s| s.expose().trim()) {
        if phc.is_empty() || PasswordHash::new(phc).is_err() {
            return Err(PasswordError::InvalidHash);
        }
        return Ok(phc.to_owned());
    }
    if let Some(password) = config.password.as_ref().map(|s| s.expose())
        && !password.is_empty()
    {
        let password = password.to_owned();
        return tokio::task::spawn_blocking(move || hash(&password))
            .await
            .map_err(|_| PasswordError::Hashing)?;
    }
    if let Some(stored) = store.setting(GENERATED_HASH_SETTING).await? {
        return Ok(stored);
    }
    let password: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(GENERATED_LENGTH)
        .map(char::from)
        .collect();
    let phc = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash(&password))
            .await
            .map_err(|_| PasswordError::Hashing)??
    };
    if store
        .insert_setting_if_absent(GENERATED_HASH_SETTING, &phc, Utc::now())
        .await?
    {
        // Printed, not logged: log pipelines keep what they see.
        eprintln!(
            "\n  Dashboard admin password (shown once, only its hash is kept): {password}\n  \
             Set LJWX_ADMIN__PASSWORD_HASH or LJWX_ADMIN__PASSWORD to choose your own.\n"
        );
        info!("Generated the dashboard admin password and printed it to standard error.");
        Ok(phc)
    } else {
        // Another instance generated one at the same moment; its password is the one.
        warn!("Another instance generated the dashboard password first; using its hash.");
        store
            .setting(GENERATED_HASH_SETTING)
            .await?
            .ok_or(PasswordError::Hashing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_its_own_hashes_only() {
        let phc = hash("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse", &phc));
        assert!(!verify("correct horse!", &phc));
        assert!(!verify("correct horse", "not a hash"));
        // A new salt each time.
        assert_ne!(hash("correct horse").expect("hash"), phc);
    }
}
