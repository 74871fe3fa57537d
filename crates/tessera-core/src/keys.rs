//! The master key and the keys derived from it.
//!
//! The master key lives outside the database (a file or the environment), so a copy of the database
//! alone cannot unwrap identity keys, forge audit checkpoints or test API-key guesses. A check value in
//! the database catches a node started with the wrong master key before it writes anything.
use std::path::Path;

use tessera_crypto::{SecretHasher, SecretKey};

use crate::{CoreError, Result};

/// Keys for each purpose, derived once at start.
#[derive(Debug)]
pub struct Keys {
    /// Keyed hash for API keys and other looked-up bearer secrets.
    pub secret_hasher: SecretHasher,
    /// Wraps each identity's own sealing key.
    pub identity_wrap: SecretKey,
    /// MACs audit checkpoints.
    pub audit: SecretKey,
    /// Seals each tenant's token-signing private keys (bound to tenant and kid).
    pub signing_wrap: SecretKey,
    /// Seals a refresh's answer for its reuse grace (bound to the spent token's hash).
    pub refresh_grace_wrap: SecretKey,
    /// Published (as a MAC of a fixed string) so nodes can detect a mismatched master key.
    check_value: String,
}

impl Keys {
    /// Derives every purpose key from the master key.
    pub fn from_master(master: &SecretKey) -> Self {
        let check = master.derive("key-check").mac(&[b"tessera"]);
        Self {
            secret_hasher: SecretHasher::new(master.derive("secret-hash")),
            identity_wrap: master.derive("identity-wrap"),
            audit: master.derive("audit-checkpoint"),
            signing_wrap: master.derive("signing-key-wrap"),
            refresh_grace_wrap: master.derive("refresh-grace-wrap"),
            check_value: check.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// A non-secret fingerprint of the master key.
    pub fn check_value(&self) -> &str {
        &self.check_value
    }
}

/// Where the master key came from, for the start-up message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeyOrigin {
    Configured,
    ReadFromFile,
    Generated,
}

/// Returns the configured master key, else reads it from `file`, else generates one there (mode 0600).
pub fn load_or_create_master_key(
    configured: Option<&str>,
    file: &Path,
) -> Result<(SecretKey, MasterKeyOrigin)> {
    if let Some(text) = configured {
        let key = SecretKey::from_text(text).map_err(|_| {
            CoreError::bad_request("bad_master_key", "master_key must be base64url of 32 bytes")
        })?;
        return Ok((key, MasterKeyOrigin::Configured));
    }
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let key = SecretKey::from_text(&text).map_err(|_| {
                CoreError::bad_request(
                    "bad_master_key",
                    format!("{} does not hold a base64url 32-byte key", file.display()),
                )
            })?;
            Ok((key, MasterKeyOrigin::ReadFromFile))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate()?;
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| CoreError::Internal(format!("creating {}: {e}", dir.display())))?;
            }
            write_private(file, &key.to_text())
                .map_err(|e| CoreError::Internal(format!("writing {}: {e}", file.display())))?;
            Ok((key, MasterKeyOrigin::Generated))
        }
        Err(e) => Err(CoreError::Internal(format!(
            "reading {}: {e}",
            file.display()
        ))),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}
