//! [`TransitMasterKey`]: the master key as a key of an OpenBao or HashiCorp Vault transit
//! secrets engine; the key never leaves the server.
//!
//! Role: wrap, unwrap and rewrap through the transit HTTP API (`encrypt`, `decrypt`, `rewrap`,
//! `keys/<name>/rotate`, `keys/<name>/config` + `keys/<name>/trim` to destroy old versions), with
//! a timeout on every call. The key must be created with `derived=true`: the wrap context
//! becomes the transit `context`, from which transit derives a key per context, so a
//! ciphertext opens only for the binding it was wrapped for and `rewrap` still works (transit's
//! `associated_data` is not accepted by `rewrap`).
//! What it must not do: put the token into an error, a log line or `Debug`, or follow a redirect
//! (the token would go with it).
//!
//! API reference: <https://openbao.org/api-docs/secret/transit/>.
//!
//! Main types: [`TransitMasterKey`], [`TransitConfig`].

use super::{MasterKey, MasterKeyInfo, Wrapped};
use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use zeroize::Zeroizing;

/// Timeout of one transit call, connection included.
pub const TRANSIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest transit response read, bytes (a key's metadata lists every version).
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// Where the transit key is and how to reach it.
pub struct TransitConfig {
    /// Server address, e.g. `http://127.0.0.1:8200` (no trailing slash needed).
    pub address: String,
    /// Mount path of the transit engine, e.g. `transit`.
    pub mount: String,
    /// Key name within the mount.
    pub key: String,
    /// A token allowed `update` on `<mount>/encrypt|decrypt|rewrap/<key>`,
    /// `<mount>/keys/<key>/rotate|config|trim`, and `read` on `<mount>/keys/<key>`.
    pub token: Zeroizing<String>,
    /// PEM CA certificates to trust for an `https` address instead of the WebPKI roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TransitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitConfig")
            .field("address", &self.address)
            .field("mount", &self.mount)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A transit key as the master key. See the module docs.
pub struct TransitMasterKey {
    agent: ureq::Agent,
    base: String,
    key: String,
    token: Zeroizing<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct KeyData {
    latest_version: u32,
    #[serde(default)]
    derived: bool,
    keys: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Ciphertext {
    ciphertext: String,
}

#[derive(Deserialize)]
struct Plaintext {
    plaintext: Zeroizing<String>,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<String>,
}

impl TransitMasterKey {
    /// Connects to the transit key and checks that it exists, is `derived` and answers.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] when the server cannot be reached within [`TRANSIT_TIMEOUT`],
    /// refuses the token, has no such key, or the key is not `derived`; or when `ca_pem` holds
    /// no certificate.
    pub fn connect(config: TransitConfig) -> Result<TransitMasterKey, Error> {
        let mut builder = ureq::Agent::config_builder()
            .timeout_global(Some(TRANSIT_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("bunkerd");
        if let Some(pem) = &config.ca_pem {
            let certs = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                    _ => None,
                })
                .collect::<Vec<_>>();
            if certs.is_empty() {
                return Err(provider("the CA file holds no PEM certificate".into()));
            }
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build();
            builder = builder.tls_config(tls);
        }
        let master = TransitMasterKey {
            agent: builder.build().into(),
            base: format!(
                "{}/v1/{}",
                config.address.trim_end_matches('/'),
                config.mount.trim_matches('/')
            ),
            key: config.key,
            token: config.token,
        };
        let key = master.key_data()?;
        if !key.derived {
            return Err(provider(format!(
                "transit key {:?} is not derived; create it with `bao write -f {}/keys/{} \
                 derived=true`",
                master.key,
                config.mount.trim_matches('/'),
                master.key
            )));
        }
        Ok(master)
    }

    fn key_data(&self) -> Result<KeyData, Error> {
        self.call("GET", &format!("keys/{}", self.key), None)
    }

    /// One transit call whose answer's `data` is a `T`.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, Error> {
        let body = self.request(method, path, body)?;
        serde_json::from_slice::<Envelope<T>>(&body)
            .map(|envelope| envelope.data)
            .map_err(|e| provider(format!("{method} {path}: unexpected response: {e}")))
    }

    /// One transit call whose answer's body does not matter (`rotate`, `config`, `trim`).
    fn call_unit(&self, path: &str, body: Option<serde_json::Value>) -> Result<(), Error> {
        self.request("POST", path, body).map(drop)
    }

    /// Sends one request; a non-2xx status becomes the server's `errors` text.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Vec<u8>, Error> {
        let url = format!("{}/{path}", self.base);
        let token = self.token.as_str();
        let response = match body {
            Some(body) => self
                .agent
                .post(&url)
                .header("X-Vault-Token", token)
                .send_json(body),
            None if method == "GET" => self.agent.get(&url).header("X-Vault-Token", token).call(),
            None => self
                .agent
                .post(&url)
                .header("X-Vault-Token", token)
                .send_empty(),
        };
        let mut response =
            response.map_err(|e| provider(format!("{method} {path}: cannot reach: {e}")))?;
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| provider(format!("{method} {path}: reading the response: {e}")))?;
        if !status.is_success() {
            let errors = serde_json::from_slice::<Errors>(&body)
                .map(|e| e.errors.join("; "))
                .unwrap_or_default();
            return Err(refusal(method, path, status.as_u16(), errors));
        }
        Ok(body)
    }
}

/// The version in a transit ciphertext `vault:v<N>:<base64>`.
fn ciphertext_version(ciphertext: &str) -> Option<u32> {
    let rest = ciphertext.strip_prefix("vault:v")?;
    let (version, _) = rest.split_once(':')?;
    version.parse().ok()
}

fn wrapped_from(ciphertext: String) -> Result<Wrapped, Error> {
    let version = ciphertext_version(&ciphertext)
        .ok_or_else(|| provider("transit answered a ciphertext without a version".into()))?;
    Ok(Wrapped {
        version,
        ciphertext: ciphertext.into_bytes(),
    })
}

impl MasterKey for TransitMasterKey {
    fn info(&self) -> MasterKeyInfo {
        MasterKeyInfo {
            provider: "transit",
            key: self.key.clone(),
        }
    }

    fn current_version(&self) -> Result<u32, Error> {
        Ok(self.key_data()?.latest_version)
    }

    fn versions(&self) -> Result<Vec<u32>, Error> {
        let mut versions: Vec<u32> = self
            .key_data()?
            .keys
            .keys()
            .filter_map(|v| v.parse().ok())
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    fn wrap(&self, plaintext: &[u8], context: &[u8]) -> Result<Wrapped, Error> {
        let body = json!({
            "plaintext": Zeroizing::new(B64.encode(plaintext)).as_str(),
            "context": B64.encode(context),
        });
        let data: Ciphertext = self.call("POST", &format!("encrypt/{}", self.key), Some(body))?;
        wrapped_from(data.ciphertext)
    }

    fn unwrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let ciphertext = std::str::from_utf8(&wrapped.ciphertext)
            .ok()
            .filter(|c| ciphertext_version(c) == Some(wrapped.version))
            .ok_or(Error::WrongKeyOrTampered)?;
        let body = json!({ "ciphertext": ciphertext, "context": B64.encode(context) });
        let data: Plaintext = self
            .call("POST", &format!("decrypt/{}", self.key), Some(body))
            .map_err(|e| decrypt_error(e, wrapped.version))?;
        B64.decode(data.plaintext.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| provider("transit answered a plaintext that is not base64".into()))
    }

    fn rewrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Wrapped, Error> {
        let ciphertext =
            std::str::from_utf8(&wrapped.ciphertext).map_err(|_| Error::WrongKeyOrTampered)?;
        let body = json!({ "ciphertext": ciphertext, "context": B64.encode(context) });
        let data: Ciphertext = self
            .call("POST", &format!("rewrap/{}", self.key), Some(body))
            .map_err(|e| decrypt_error(e, wrapped.version))?;
        wrapped_from(data.ciphertext)
    }

    fn rotate(&self) -> Result<u32, Error> {
        self.call_unit(&format!("keys/{}/rotate", self.key), None)?;
        self.current_version()
    }

    fn retire(&self, keep_from: u32) -> Result<Vec<u32>, Error> {
        let before = self.versions()?;
        if keep_from > self.current_version()? {
            return Err(Error::Unsupported(
                "retiring the current master key version",
            ));
        }
        let config = json!({
            "min_decryption_version": keep_from,
            "min_encryption_version": keep_from,
        });
        self.call_unit(&format!("keys/{}/config", self.key), Some(config))?;
        let trim = json!({ "min_available_version": keep_from });
        self.call_unit(&format!("keys/{}/trim", self.key), Some(trim))?;
        Ok(before.into_iter().filter(|v| *v < keep_from).collect())
    }
}

impl std::fmt::Debug for TransitMasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitMasterKey")
            .field("base", &self.base)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn provider(reason: String) -> Error {
    Error::Provider {
        provider: "transit",
        reason,
    }
}

/// A non-2xx answer. The server's error texts name no secret (they are about the request).
fn refusal(method: &str, path: &str, status: u16, errors: String) -> Error {
    provider(format!("{method} {path}: HTTP {status}: {errors}"))
}

/// Maps transit's decryption refusals onto the crate's errors: a failed tag check is
/// [`Error::WrongKeyOrTampered`], a version below `min_decryption_version` or trimmed is
/// [`Error::UnknownKeyVersion`].
fn decrypt_error(error: Error, version: u32) -> Error {
    match &error {
        Error::Provider { reason, .. } if reason.contains("HTTP 400") => {
            if reason.contains("message authentication failed") {
                Error::WrongKeyOrTampered
            } else if reason.contains("too old") || reason.contains("invalid key version") {
                Error::UnknownKeyVersion(version)
            } else {
                error
            }
        }
        _ => error,
    }
}

#[cfg(test)]
mod tests;
