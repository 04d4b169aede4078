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
    /// A key in a PKCS#11 token, e.g. an HSM ([`kms::Pkcs11MasterKey`]), named by an RFC 7512
    /// URI `pkcs11:token=LABEL;object=LABEL?module-path=/path/to/module.so`.
    Pkcs11 {
        /// The module (shared library).
        module: PathBuf,
        /// Token label.
        token: String,
        /// Label of the key's version objects.
        object: String,
    },
    /// An AWS KMS key ([`kms::AwsKmsMasterKey`]): `aws-kms:NAME[?region=R][&endpoint=URL]`.
    AwsKms {
        /// The key's name: version N is the KMS key with alias `alias/NAME-vN`.
        key: String,
        /// Region [default: the SDK's chain].
        region: Option<String>,
        /// Endpoint URL [default: the region's].
        endpoint: Option<String>,
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
        if let Some(rest) = uri.strip_prefix("pkcs11:") {
            return parse_pkcs11(rest).map_err(|why| {
                // A URI carrying a PIN is not echoed: the error reaches logs.
                let shown = if uri.contains("pin-") {
                    String::new()
                } else {
                    format!(": got {uri:?}")
                };
                invalid!(
                    "master-key",
                    "must be pkcs11:token=LABEL;object=LABEL?module-path=FILE",
                    format!(" ({why}){shown}")
                )
            });
        }
        if let Some(rest) = uri.strip_prefix("aws-kms:") {
            return parse_aws_kms(rest).map_err(|why| {
                invalid!(
                    "master-key",
                    "must be aws-kms:NAME[?region=REGION][&endpoint=URL]",
                    format!(" ({why}): got {uri:?}")
                )
            });
        }
        parse_transit(uri).ok_or_else(|| {
            invalid!(
                "master-key",
                "must be transit+http[s]://HOST:PORT/MOUNT/KEY, pkcs11:… or aws-kms:…",
                format!(": got {uri:?}")
            )
        })
    }

    /// The provider's credential (a transit token, a PKCS#11 user PIN):
    /// `master-key-credentials-file`'s content (trimmed), else, for transit only, the first
    /// non-empty of `BAO_TOKEN`, `VAULT_TOKEN`.
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
        if matches!(self.master_key_source()?, MasterKeySource::Pkcs11 { .. }) {
            return Err(invalid!(
                "master-key-credentials-file",
                "is needed for a PKCS#11 master key (a file holding the token's user PIN)"
            ));
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

/// RFC 7512 attribute value: percent-decoded UTF-8, non-empty.
fn pkcs11_value(raw: &str) -> Result<String, &'static str> {
    let value = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "a value is not UTF-8")?;
    if value.is_empty() {
        return Err("an attribute is empty");
    }
    Ok(value.into_owned())
}

/// The part of an RFC 7512 PKCS#11 URI after `pkcs11:` → [`MasterKeySource::Pkcs11`].
///
/// Path attributes: `token` and `object` (required), `type=secret-key` (optional); query
/// attributes: `module-path` (required). A PIN in the URI (`pin-value`, `pin-source`) is refused:
/// it comes from `master-key-credentials-file`. Other attributes are refused rather than
/// ignored, so that a URI never selects less precisely than its author meant.
fn parse_pkcs11(rest: &str) -> Result<MasterKeySource, &'static str> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (mut token, mut object, mut module) = (None, None, None);
    for attribute in path.split(';').filter(|a| !a.is_empty()) {
        let (name, value) = attribute.split_once('=').ok_or("an attribute has no '='")?;
        let value = pkcs11_value(value)?;
        match name {
            "token" => token = Some(value),
            "object" => object = Some(value),
            "type" if value == "secret-key" => {}
            "type" => return Err("type must be secret-key"),
            _ => return Err("only token, object and type are accepted before '?'"),
        }
    }
    for attribute in query.split('&').filter(|a| !a.is_empty()) {
        let (name, value) = attribute.split_once('=').ok_or("an attribute has no '='")?;
        match name {
            "module-path" => module = Some(PathBuf::from(pkcs11_value(value)?)),
            "pin-value" | "pin-source" => {
                return Err("the PIN comes from master-key-credentials-file, never the URI")
            }
            _ => return Err("only module-path is accepted after '?'"),
        }
    }
    Ok(MasterKeySource::Pkcs11 {
        module: module.ok_or("module-path is missing")?,
        token: token.ok_or("token is missing")?,
        object: object.ok_or("object is missing")?,
    })
}

/// The part of `aws-kms:NAME[?region=R][&endpoint=URL]` after the scheme →
/// [`MasterKeySource::AwsKms`]. The name's own rules are checked by the provider.
fn parse_aws_kms(rest: &str) -> Result<MasterKeySource, &'static str> {
    let (key, query) = rest.split_once('?').unwrap_or((rest, ""));
    if key.is_empty() {
        return Err("the key name is missing");
    }
    let (mut region, mut endpoint) = (None, None);
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if value.is_empty() {
            return Err("an attribute is empty");
        }
        match &*name {
            "region" => region = Some(value.into_owned()),
            "endpoint" => {
                let url = url::Url::parse(&value).map_err(|_| "endpoint is not a URL")?;
                if !matches!(url.scheme(), "http" | "https")
                    || !url.username().is_empty()
                    || url.password().is_some()
                {
                    return Err("endpoint must be http[s]://HOST[:PORT] without credentials");
                }
                endpoint = Some(value.into_owned());
            }
            _ => return Err("only region and endpoint are accepted after '?'"),
        }
    }
    Ok(MasterKeySource::AwsKms {
        key: key.to_owned(),
        region,
        endpoint,
    })
}
