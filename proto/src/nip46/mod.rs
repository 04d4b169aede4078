//! NIP-46 (Nostr Remote Signing) JSON-RPC: parse requests, run them, encode replies.
//!
//! Requests arrive as the decrypted `content` of a kind-24133 event:
//! `{"id": <string>, "method": <string>, "params": [<string>, ...]}` (NIP-46 §"Request events").
//! Parsing is deliberately loose (`docs/protocol-notes.md` §11.7): only `id` and `method` are
//! required to be present, so that *every* request we can decrypt gets a reply carrying its `id`,
//! including unknown and removed methods (NIP-46 requires an error reply, so clients do not time
//! out).
//!
//! [`Request::parse`] turns the JSON into an [`Incoming`] holding a typed [`Request`] or the
//! [`RpcError`] to answer with; [`handle`] applies it (sans-IO); [`Reply::to_json`] encodes
//! `{"id","result"}` or `{"id","error"}` (never both; `result` omitted on error,
//! `docs/protocol-notes.md` §11.7).
//!
//! This module must not read clocks, stores or sockets: the caller passes `now` and whatever records
//! the request needs in a [`Context`].

mod error;
mod handle;
mod method;
pub mod nostrconnect;
#[cfg(test)]
mod tests;

pub use error::RpcError;
pub use handle::{handle, Approval, BunkerSecretView, Context, Effect, Outcome, UserKeys};
pub use method::connect::{ClientMetadata, Connect};
pub use method::sign_event::SignEvent;
pub use method::{CipherParams, Scheme, SUPPORTED_METHODS};

use serde::Deserialize;
use serde_json::value::RawValue;

/// Largest decrypted request we parse, in bytes. NIP-44 replies are capped at 65,535 plaintext bytes
/// (`docs/protocol-notes.md` §11.11), so a request much larger than that could not be answered
/// anyway.
pub const MAX_REQUEST_BYTES: usize = 128 * 1024;

/// Longest request `id` we accept, in bytes. Real clients use ~10–36 characters. A longer id is
/// refused outright (the relay answers `OK false "invalid: …"`): echoing a cut id would never match,
/// and echoing a huge one would make every reply huge.
pub const MAX_ID_LEN: usize = 128;

/// A parsed NIP-46 request. `Debug` names the method only.
#[non_exhaustive]
pub enum Request {
    /// `connect [<remote-signer-pubkey>, <secret>?, <perms>?, <metadata>?]`.
    Connect(Connect),
    /// `get_public_key []` → the user public key.
    GetPublicKey,
    /// `sign_event [<event template>]` → the signed event as a JSON string.
    SignEvent(SignEvent),
    /// `ping []` → `"pong"`.
    Ping,
    /// `nip04_encrypt` / `nip04_decrypt` / `nip44_encrypt` / `nip44_decrypt`
    /// `[<third-party pubkey>, <text>]`, done with the user key.
    Cipher(CipherParams),
    /// `switch_relays []` → JSON text of our relay list (`docs/protocol-notes.md` §11.6).
    SwitchRelays,
    /// `logout []` (or the older `disconnect []`) → `"ack"`, then the session ends.
    Logout,
    /// `get_relays []` (removed from NIP-46) → `"{}"`: no relay preferences to offer.
    GetRelays,
    /// `describe []` (removed from NIP-46) → JSON text of the method names we answer.
    Describe,
}

/// A request that got as far as its `id`: the typed request, or the error to reply with.
/// `Debug` prints only the id and method: requests carry secrets and plaintexts.
pub struct Incoming {
    /// The request `id`, echoed in the reply (cut to [`MAX_ID_LEN`] bytes).
    pub id: String,
    /// The method name as sent (cut to 64 bytes), for audit and metrics labels via [`method_label`].
    pub method: String,
    /// The typed request, or why it cannot be run.
    pub request: Result<Request, RpcError>,
}

/// The raw shape: only `id` and `method` are needed to answer; `params` stay unparsed until the
/// method is known.
#[derive(Deserialize)]
struct RawRequest<'a> {
    #[serde(borrow)]
    id: RawId<'a>,
    #[serde(borrow)]
    method: std::borrow::Cow<'a, str>,
    /// Any JSON value: anything but an array is answered with an error reply, not silence.
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

/// Request ids are strings by the spec; a few clients send numbers. Both are echoed as strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawId<'a> {
    Str(#[serde(borrow)] std::borrow::Cow<'a, str>),
    Num(serde_json::Number),
}

impl Request {
    /// Parses a decrypted request.
    ///
    /// # Errors
    ///
    /// A fixed reason when there is no usable `id` to reply to: the text is over
    /// [`MAX_REQUEST_BYTES`], not a JSON object with a string or number `id` and a string `method`,
    /// or the id is over [`MAX_ID_LEN`] bytes. Everything else (unknown method, bad params) comes back
    /// as `Ok(incoming)` with `incoming.request = Err(rpc_error)`.
    pub fn parse(json: &str) -> Result<Incoming, &'static str> {
        const NOT_A_REQUEST: &str = "content is not a NIP-46 request";
        if json.len() > MAX_REQUEST_BYTES {
            return Err("NIP-46 request too large");
        }
        let raw: RawRequest<'_> = serde_json::from_str(json).map_err(|_| NOT_A_REQUEST)?;
        let id = match raw.id {
            RawId::Str(s) => s.into_owned(),
            RawId::Num(n) => n.to_string(),
        };
        if id.len() > MAX_ID_LEN {
            return Err("NIP-46 request id longer than 128 bytes");
        }
        let method = truncate(&raw.method, 64);
        let params: Option<Vec<&RawValue>> = match raw.params {
            None => Some(Vec::new()),
            Some(p) if p.get() == "null" => Some(Vec::new()),
            Some(p) => serde_json::from_str(p.get()).ok(),
        };
        let request = match params {
            Some(params) => method::parse(&raw.method, &params),
            None => Err(RpcError::InvalidParams("params must be an array")),
        };
        Ok(Incoming {
            id,
            method,
            request,
        })
    }
}

/// A reply to one request: `result` on success, `error` on failure. `Debug` prints the result's
/// length only: a result can be a decrypted message.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// The request id this answers.
    pub id: String,
    /// `Ok(result)` or `Err(error)`.
    pub body: Result<String, RpcError>,
}

impl Reply {
    /// Encodes `{"id":…,"result":…}` or `{"id":…,"error":…}`. The error text is the fixed,
    /// client-facing [`RpcError::message`], never an internal error's `Display`.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Wire<'a> {
            id: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            result: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<String>,
        }
        let wire = match &self.body {
            Ok(result) => Wire {
                id: &self.id,
                result: Some(result),
                error: None,
            },
            // NIP-46 §"Auth Challenges": the URL travels in `error`, beside `result: "auth_url"`.
            Err(RpcError::AuthUrl(url)) => Wire {
                id: &self.id,
                result: Some("auth_url"),
                error: Some(url.clone()),
            },
            Err(e) => Wire {
                id: &self.id,
                result: None,
                error: Some(e.message()),
            },
        };
        serde_json::to_string(&wire).expect("serializing strings cannot fail")
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Request::Connect(_) => "Connect",
            Request::GetPublicKey => "GetPublicKey",
            Request::SignEvent(_) => "SignEvent",
            Request::Ping => "Ping",
            Request::Cipher(_) => "Cipher",
            Request::SwitchRelays => "SwitchRelays",
            Request::Logout => "Logout",
            Request::GetRelays => "GetRelays",
            Request::Describe => "Describe",
        };
        write!(f, "Request::{name}(..)")
    }
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("request", &self.request.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = match &self.body {
            Ok(result) => format!("Ok(<{} bytes>)", result.len()),
            Err(e) => format!("Err({})", e.code()),
        };
        f.debug_struct("Reply")
            .field("id", &self.id)
            .field("body", &body)
            .finish()
    }
}

/// A bounded label for a method name: one of [`SUPPORTED_METHODS`], or `"unknown"`. Safe for metrics and
/// logs (never echoes arbitrary client text).
pub fn method_label(method: &str) -> &'static str {
    method::SUPPORTED_METHODS
        .iter()
        .copied()
        .find(|m| *m == method)
        .unwrap_or("unknown")
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
