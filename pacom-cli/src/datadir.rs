//! The node's data directory: where each file lives, and reading/writing
//! the secret ones with owner-only permissions.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pacom_core::identity::{Identity, DEFAULT_KEY_BITS};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::RsaPrivateKey;

/// `$XDG_DATA_HOME/pacom`, else `~/.local/share/pacom`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("pacom");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/share/pacom")
}

/// Paths inside one data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: Option<PathBuf>) -> DataDir {
        let root = root.unwrap_or_else(default_data_dir);
        // Paths written into the config must not depend on the working directory.
        let root = std::path::absolute(&root).unwrap_or(root);
        DataDir { root }
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn identity(&self) -> PathBuf {
        self.root.join("identity.pem")
    }
    pub fn group_key(&self) -> PathBuf {
        self.root.join("group.key")
    }
    pub fn contacts(&self) -> PathBuf {
        self.root.join("contacts.toml")
    }
    pub fn socket(&self) -> PathBuf {
        self.root.join("control.sock")
    }
    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }
    pub fn inbox_log(&self) -> PathBuf {
        self.inbox().join("messages.jsonl")
    }
    pub fn inbox_files(&self) -> PathBuf {
        self.inbox().join("files")
    }
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// Fails with a hint when `pacom init` has not been run here.
    pub fn require_init(&self) -> Result<()> {
        if !self.identity().exists() {
            bail!(
                "no PACOM identity in {} (run `pacom init` first)",
                self.root.display()
            );
        }
        Ok(())
    }

    pub fn load_identity(&self) -> Result<Identity> {
        self.require_init()?;
        let path = self.identity();
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read identity {}", path.display()))?;
        let key = RsaPrivateKey::from_pkcs8_pem(&pem)
            .map_err(|e| anyhow::anyhow!("corrupt identity {}: {e}", path.display()))?;
        Identity::from_private_key(key)
            .map_err(|e| anyhow::anyhow!("unusable identity {}: {e}", path.display()))
    }

    /// Generates and stores a new key pair (0600).
    pub fn create_identity(&self) -> Result<Identity> {
        let bits = std::env::var("PACOM_KEY_BITS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_KEY_BITS);
        let id = Identity::generate(&mut rand::rngs::OsRng, bits)?;
        let pem = id
            .private_key()
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("encoding the private key: {e}"))?;
        write_secret(&self.identity(), pem.as_bytes())?;
        Ok(id)
    }

    /// The private group key named by the config (64 hex digits).
    pub fn read_group_key(path: &Path) -> Result<[u8; 32]> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read group key {}", path.display()))?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key)
            .map_err(|_| anyhow::anyhow!("group key {} must hold 64 hex digits", path.display()))?;
        Ok(key)
    }
}

/// Creates `path` with mode 0600 and writes `bytes`; refuses to overwrite.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Makes `path` readable by the owner only.
pub fn restrict(path: &Path) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot set permissions of {}", path.display()))
}
