//! [`Keypair`]: the ed25519 key a publisher signs its BEP 46 items with.

use std::fmt;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;
use rand::RngCore;

use crate::error::KeypairError;

/// Longest key file read (a hex key and a newline fit many times over).
const MAX_KEY_FILE: u64 = 1024;

/// An ed25519 keypair (BEP 44 mutable items are signed with it).
///
/// Saved as the 32-byte secret key in hex on one line, in a file only its owner can read
/// (mode 0600 on Unix).
#[derive(Clone)]
pub struct Keypair {
    key: SigningKey,
}

impl Keypair {
    /// A fresh keypair from the operating system's random source.
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self::from_secret_bytes(&secret)
    }

    /// The keypair of a 32-byte secret key.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// Reads a keypair saved by [`Keypair::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeypairError> {
        use std::io::Read;
        let path = path.as_ref();
        let io = |source| KeypairError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut text = String::new();
        file.take(MAX_KEY_FILE)
            .read_to_string(&mut text)
            .map_err(|_| KeypairError::Malformed {
                path: path.to_path_buf(),
            })?;
        let mut secret = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut secret).map_err(|_| KeypairError::Malformed {
            path: path.to_path_buf(),
        })?;
        Ok(Self::from_secret_bytes(&secret))
    }

    /// Writes the secret key to `path` (replacing it atomically), readable by its owner only.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), KeypairError> {
        let path = path.as_ref();
        let io = |source| KeypairError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = std::path::PathBuf::from(tmp_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = (|| {
            let mut file = options.open(&tmp)?;
            #[cfg(unix)]
            {
                // `mode` applies only when the file is created; a stale temp file keeps its own.
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            file.write_all(format!("{}\n", hex::encode(self.key.to_bytes())).as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(io)
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key in lowercase hex (as in `xs=urn:btpk:`).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret half.
        f.debug_struct("Keypair")
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let k = Keypair::from_secret_bytes(&[7; 32]);
        let shown = format!("{k:?}");
        assert!(shown.contains(&k.public_key_hex()));
        assert!(!shown.contains(&hex::encode([7u8; 32])));
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            Keypair::generate().public_key(),
            Keypair::generate().public_key()
        );
    }
}
