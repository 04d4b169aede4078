//! Which master-key provider the settings name, and its credential.
//!
//! Role: turn `master-key-file`, `master-key` and `master-key-credentials-file` into one
//! [`MasterKeySource`], refusing combinations and URIs that cannot work before anything starts;
//! read the provider's credential from its file or the environment (never from the TOML file).
//! Must not: connect to a provider, create a key, or put a credential into an error text.
//!
//! Main items: [`MasterKeySource`], [`Config::master_key_source`], [`Config::master_key_credential`].

use super::error::invalid;
use super::{Config, ConfigError};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Where the master key is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeySource {
    /// A key or keyring file ([`kms::FileMasterKey`]).
    File {
        /// The file.
        path: PathBuf,
        /// Whether it is the default `<data-dir>/master.key` (which may be created while the
        /// store holds no keys) rather than a configured file (which must exist).
        default: bool,
    },
    /// An OpenBao or Vault transit key ([`kms::TransitMasterKey`]).
    Transit {
        /// `http[s]://HOST:PORT`.
        address: String,
        /// Mount path of the transit engine (may contain `/`).
        mount: String,
        /// Key name.
        key: String,
    },
}

/// Environment variables holding a transit token, in order of preference.
const TOKEN_ENV: [&str; 2] = ["BAO_TOKEN", "VAULT_TOKEN"];
/// Environment variables naming a PEM CA file for an `https` transit address.
const CA_ENV: [&str; 2] = ["BAO_CACERT", "VAULT_CACERT"];

impl Config {
    /// The configured provider.
    ///
    /// # Errors
    ///
    /// `master-key`: combined with `master-key-file`, or not
    /// `transit+http[s]://HOST[:PORT]/MOUNT/KEY` (with a host, a mount and a key, and no
    /// query, fragment or credentials).
    pub fn master_key_source(&self) -> Result<MasterKeySource, ConfigError> {
        let Some(uri) = &self.master_key else {
            return Ok(match &self.master_key_file {
                Some(path) => MasterKeySource::File {
                    path: path.clone(),
                    default: false,
                },
                None => MasterKeySource::File {
                    path: self.data_dir.join("master.key"),
                    default: true,
                },
            });
        };
        if self.master_key_file.is_some() {
            return Err(invalid!(
                "master-key",
                "cannot be combined with master-key-file (one master key per store)"
            ));
        }
        parse_transit(uri).ok_or_else(|| {
            invalid!(
                "master-key",
                "must be transit+http[s]://HOST:PORT/MOUNT/KEY",
                format!(": got {uri:?}")
            )
        })
    }

    /// The provider's credential: `master-key-credentials-file`'s content (trimmed), else the
    /// first non-empty of `BAO_TOKEN`, `VAULT_TOKEN`.
    ///
    /// # Errors
    ///
    /// `master-key-credentials-file`: unreadable or empty; or none of them set for a provider
    /// that needs one.
    pub fn master_key_credential(&self) -> Result<Zeroizing<String>, ConfigError> {
        if let Some(path) = &self.master_key_credentials_file {
            let text = std::fs::read_to_string(path)
                .map(Zeroizing::new)
                .map_err(|e| {
                    invalid!(
                        "master-key-credentials-file",
                        "cannot read",
                        format!(" {}: {e}", path.display())
                    )
                })?;
            let credential = Zeroizing::new(text.trim().to_owned());
            if credential.is_empty() {
                return Err(invalid!(
                    "master-key-credentials-file",
                    "is empty",
                    format!(": {}", path.display())
                ));
            }
            return Ok(credential);
        }
        TOKEN_ENV
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .map(|v| Zeroizing::new(v.trim().to_owned()))
            .find(|v| !v.is_empty())
            .ok_or(invalid!(
                "master-key-credentials-file",
                "is needed for a transit master key (or set BAO_TOKEN or VAULT_TOKEN)"
            ))
    }

    /// The PEM CA file named by `BAO_CACERT` or `VAULT_CACERT`, read; `None` when neither is set.
    ///
    /// # Errors
    ///
    /// `master-key`: the named file cannot be read.
    pub fn master_key_ca(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(path) = CA_ENV.iter().find_map(std::env::var_os) else {
            return Ok(None);
        };
        let path = PathBuf::from(path);
        std::fs::read(&path).map(Some).map_err(|e| {
            invalid!(
                "master-key",
                "cannot read the CA file named by BAO_CACERT/VAULT_CACERT",
                format!(" {}: {e}", path.display())
            )
        })
    }
}

/// `transit+http[s]://HOST[:PORT]/MOUNT/KEY` → [`MasterKeySource::Transit`].
fn parse_transit(uri: &str) -> Option<MasterKeySource> {
    let rest = uri.strip_prefix("transit+")?;
    let url = url::Url::parse(rest).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return None;
    }
    let mut segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let key = segments.pop()?;
    if segments.is_empty() {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    Some(MasterKeySource::Transit {
        address: origin,
        mount: segments.join("/"),
        key: key.to_owned(),
    })
}
