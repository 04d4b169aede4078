//! NIP-46 (Nostr Remote Signing) JSON-RPC: parse requests, run them, encode replies.
//!
//! Requests arrive as the decrypted `content` of a kind-24133 event:
//! `{"id": <string>, "method": <string>, "params": [<string>, ...]}` (NIP-46 §"Request events").
//! Parsing is deliberately loose (protocol.md §9.7): only `id` and `method` are required to be
//! present, so that *every* request we can decrypt gets a reply carrying its `id`, including
//! unknown and removed methods (NIP-46 requires an error reply, "avoid silent timeouts").
//!
//! [`Request::parse`] turns the JSON into an [`Envelope`] holding a typed [`Request`] or the
//! [`RpcError`] to answer with; [`handle`] applies it (sans-IO); [`Reply::to_json`] encodes
//! `{"id","result"}` or `{"id","error"}` (never both; `result` omitted on error, protocol.md §9.7).
//!
//! This module must not read clocks, stores or sockets: the caller passes `now` and whatever records
//! the request needs in a [`Context`].

mod error;
mod handle;
mod method;
#[cfg(test)]
mod tests;

pub use error::RpcError;
pub use handle::{handle, Context, Effect, Outcome, TokenView};
pub use method::connect::{ClientMetadata, Connect};
pub use method::sign_event::SignEvent;
pub use method::{CipherParams, Scheme};

use serde::Deserialize;
use serde_json::value::RawValue;

/// Largest decrypted request we parse, in bytes. NIP-44 replies are capped at 65,535 plaintext bytes
/// (protocol.md §9.13), so a request much larger than that could not be answered anyway.
pub const MAX_REQUEST_BYTES: usize = 128 * 1024;

/// Longest request `id` we echo back, in bytes. Real clients use ~10–36 characters; a longer id is
/// cut so a hostile client cannot make us sign huge replies.
pub const MAX_ID_LEN: usize = 128;

/// A parsed NIP-46 request.
#[derive(Debug)]
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
    /// `switch_relays []` → JSON text of our relay list (protocol.md §9.6).
    SwitchRelays,
    /// `logout []` → `"ack"`, then the session ends.
    Logout,
}

/// A request that got as far as its `id`: the typed request, or the error to reply with.
#[derive(Debug)]
pub struct Envelope {
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
    #[serde(default, borrow)]
    params: Vec<&'a RawValue>,
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
    /// `Err(())` only when the text is not a JSON object with a string or number `id` and a string
    /// `method`: there is then no `id` to reply to. Everything else (unknown method, bad params)
    /// comes back as `Ok(envelope)` with `envelope.request = Err(rpc_error)`.
    #[allow(clippy::result_unit_err)]
    pub fn parse(json: &str) -> Result<Envelope, ()> {
        if json.len() > MAX_REQUEST_BYTES {
            return Err(());
        }
        let raw: RawRequest<'_> = serde_json::from_str(json).map_err(|_| ())?;
        let id = match raw.id {
            RawId::Str(s) => truncate(&s, MAX_ID_LEN),
            RawId::Num(n) => n.to_string(),
        };
        let method = truncate(&raw.method, 64);
        let request = method::parse(&raw.method, &raw.params);
        Ok(Envelope {
            id,
            method,
            request,
        })
    }
}

/// A reply to one request: `result` on success, `error` on failure.
#[derive(Debug, Clone, PartialEq, Eq)]
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
            Err(e) => Wire {
                id: &self.id,
                result: None,
                error: Some(e.message()),
            },
        };
        serde_json::to_string(&wire).expect("serializing strings cannot fail")
    }
}

/// A bounded label for a method name: the known NIP-46 names, or `"unknown"`. Safe for metrics and
/// logs (never echoes arbitrary client text).
pub fn method_label(method: &str) -> &'static str {
    method::KNOWN
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
