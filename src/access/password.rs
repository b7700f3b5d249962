//! The admin password: argon2id hashes, and where the hash comes from at start.

use crate::config::AdminConfig;
use crate::store::{Store, StoreError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use std::io::Write;
use std::path::{Path, PathBuf};
use tracing::{info, warn};

/// The setting that holds the hash of a generated password, or of `admin.password`: one hash
/// for every instance and restart, so that sessions (bound to the hash) stay valid.
const GENERATED_HASH_SETTING: &str = "admin_password_hash";
/// Attempts to agree with other instances starting at once on a new password's hash.
const HASH_SWAPS: usize = 3;
/// Length of a generated password (~119 bits).
const GENERATED_LENGTH: usize = 20;
/// File in the data directory that receives a generated password.
pub const GENERATED_FILE: &str = "admin-password";

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
    /// A generated password could not be written to its file.
    #[error(
        "cannot write the generated admin password to {path}: {error} (make the data directory \
         writable, or set LJWX_ADMIN__PASSWORD_HASH)"
    )]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
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
/// `admin.password` (kept in the database, so every instance and restart check against the
/// same hash), else the hash generated at an earlier start, else a new password — written once
/// to `data_dir/admin-password`, readable by its owner only (never to the log), and only its
/// hash stored.
pub async fn resolve(
    config: &AdminConfig,
    store: &Store,
    data_dir: &Path,
) -> Result<String, PasswordError> {
    if let Some(phc) = config.password_hash.as_ref().map(|s| s.expose().trim()) {
        if phc.is_empty() || PasswordHash::new(phc).is_err() {
            return Err(PasswordError::InvalidHash);
        }
        return Ok(phc.to_owned());
    }
    if let Some(password) = config.password.as_ref().map(|s| s.expose())
        && !password.is_empty()
    {
        return configured(password, store).await;
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
        // Into a file only its owner reads, never the log: log pipelines keep what they see.
        let path = data_dir.join(GENERATED_FILE);
        if let Err(error) = write_private(&path, &password) {
            // Nobody could ever read this password: let the next start generate another.
            store.delete_setting(GENERATED_HASH_SETTING).await?;
            return Err(PasswordError::File { path, error });
        }
        info!(
            file = %path.display(),
            "Generated the dashboard admin password; it is in this file, readable by its \
             owner only (set LJWX_ADMIN__PASSWORD_HASH or LJWX_ADMIN__PASSWORD to choose your own)."
        );
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

/// The stored hash of `password`, stored now if the stored one is of another password.
async fn configured(password: &str, store: &Store) -> Result<String, PasswordError> {
    for _ in 0..HASH_SWAPS {
        let stored = store.setting(GENERATED_HASH_SETTING).await?;
        if let Some(phc) = stored.clone() {
            let password = password.to_owned();
            let matches =
                tokio::task::spawn_blocking(move || verify(&password, &phc).then_some(phc))
                    .await
                    .map_err(|_| PasswordError::Hashing)?;
            if let Some(phc) = matches {
                return Ok(phc);
            }
        }
        let phc = {
            let password = password.to_owned();
            tokio::task::spawn_blocking(move || hash(&password))
                .await
                .map_err(|_| PasswordError::Hashing)??
        };
        let now = Utc::now();
        let stored_now = match &stored {
            None => {
                store
                    .insert_setting_if_absent(GENERATED_HASH_SETTING, &phc, now)
                    .await?
            }
            Some(old) => {
                store
                    .replace_setting(GENERATED_HASH_SETTING, old, &phc, now)
                    .await?
            }
        };
        if stored_now {
            info!("The configured admin password is new; older dashboard sessions end.");
            return Ok(phc);
        }
        // Another instance stored a hash meanwhile: check it on the next round.
    }
    Err(PasswordError::Hashing)
}

/// Writes `password` and a line break to `path` (creating its directory), readable and
/// writable by the file's owner alone.
fn write_private(path: &Path, password: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        // An existing file keeps its mode through `open`: set it again.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        writeln!(file, "{password}")?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        writeln!(file, "{password}")?;
        file.sync_all()
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
