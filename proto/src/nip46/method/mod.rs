//! One file per NIP-46 method: each parses its own `params` and applies itself.
//!
//! Dispatch by method name lives here ([`parse`]); the list of methods is NIP-46 §"Methods"
//! (`docs/protocol-notes.md` §4). Three calls older clients still make are answered kindly
//! (`legacy`): `get_relays`, `describe`, and `disconnect` as `logout`. `create_account` and the
//! never-standard `nip44_get_key` (it would hand out a conversation key) are answered with
//! [`RpcError::RemovedMethod`]; any other name with [`RpcError::UnknownMethod`].

pub(crate) mod cipher;
pub(crate) mod connect;
pub(crate) mod legacy;
pub(crate) mod logout;
pub(crate) mod ping;
pub(crate) mod public_key;
pub(crate) mod sign_event;
pub(crate) mod switch_relays;

pub use cipher::{CipherParams, Scheme};

use super::{Request, RpcError};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Every method name bunkerd answers (not an error), in NIP-46's order, then the legacy calls:
/// what `describe` and the HTTP transport's info document list.
pub const SUPPORTED_METHODS: [&str; 13] = [
    "connect",
    "sign_event",
    "ping",
    "get_public_key",
    "nip04_encrypt",
    "nip04_decrypt",
    "nip44_encrypt",
    "nip44_decrypt",
    "switch_relays",
    "logout",
    "get_relays",
    "describe",
    "disconnect",
];

/// Turns a method name and its raw params into a typed [`Request`].
pub(crate) fn parse(method: &str, params: &[&RawValue]) -> Result<Request, RpcError> {
    match method {
        "connect" => connect::Connect::parse(params).map(Request::Connect),
        "sign_event" => sign_event::SignEvent::parse(params).map(Request::SignEvent),
        "ping" => Ok(Request::Ping),
        "get_public_key" => Ok(Request::GetPublicKey),
        "nip04_encrypt" | "nip04_decrypt" | "nip44_encrypt" | "nip44_decrypt" => {
            CipherParams::parse(method, params).map(Request::Cipher)
        }
        "switch_relays" => Ok(Request::SwitchRelays),
        "logout" | "disconnect" => Ok(Request::Logout),
        "get_relays" => Ok(Request::GetRelays),
        "describe" => Ok(Request::Describe),
        "create_account" => Err(RpcError::RemovedMethod("create_account")),
        "nip44_get_key" => Err(RpcError::RemovedMethod("nip44_get_key")),
        other => Err(RpcError::UnknownMethod(other.to_owned())),
    }
}

/// A param as a string: the unescaped value of a JSON string, or `None` for any other JSON type.
pub(crate) fn param_str<'a>(param: Option<&&'a RawValue>) -> Option<Cow<'a, str>> {
    let raw = param?.get();
    if !raw.starts_with('"') {
        return None;
    }
    serde_json::from_str::<Cow<'a, str>>(raw).ok()
}
