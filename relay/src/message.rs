//! NIP-01 messages: client → relay parsing and relay → client encoding. Pure functions, no I/O.
//!
//! Client messages (NIP-01 §"From client to relay", NIP-42): `["EVENT", <event>]`,
//! `["REQ", <sub id>, <filter>…]`, `["CLOSE", <sub id>]`, `["AUTH", <event>]`.
//! Relay messages: `["EVENT", <sub id>, <event>]`, `["OK", <event id>, <bool>, <message>]`,
//! `["EOSE", <sub id>]`, `["CLOSED", <sub id>, <message>]`, `["NOTICE", <message>]`.
//! Refusal messages carry NIP-01's machine-readable prefixes (`invalid:`, `blocked:`, …).

use crate::filter::Filter;
use event::{Event, LiftCache};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Most filters one REQ may carry whatever the configuration: a ceiling on parsing work. The
/// configured limit (`max-filters`, default 10, at most this) is applied by the session.
pub const MAX_FILTERS_PER_REQ: usize = 256;

/// Longest subscription id, in characters (NIP-01: "max length 64 chars").
pub const MAX_SUB_ID_CHARS: usize = 64;

/// A parsed client message.
#[derive(Debug)]
pub enum ClientMessage {
    /// `["EVENT", <event>]`: parsed, not yet verified.
    Event(Box<Event>),
    /// `["REQ", <sub id>, <filter>…]`.
    Req {
        /// Subscription id, 1..=64 chars.
        sub_id: String,
        /// At least one filter.
        filters: Vec<Filter>,
    },
    /// `["CLOSE", <sub id>]`.
    Close(String),
    /// `["AUTH", …]` (NIP-42): not required here.
    Auth(Option<String>),
}

/// Why a client message could not be used, with what to answer.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not a JSON array starting with a known string: answer `NOTICE`.
    Notice(&'static str),
    /// A malformed `EVENT` whose id we could read: answer `OK false "invalid: …"`.
    BadEvent {
        /// The event id as sent (64 hex), for the OK message.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// A malformed `REQ` with a usable sub id: answer `CLOSED <sub id> "invalid: …"`.
    BadReq {
        /// The subscription id.
        sub_id: String,
        /// Why.
        reason: &'static str,
    },
}

/// Parses one text frame.
///
/// # Errors
///
/// [`ParseError`] says how to answer a message that cannot be used.
pub fn parse(text: &str) -> Result<ClientMessage, ParseError> {
    parse_cached(text, &mut LiftCache::default())
}

/// [`parse`], lifting an `EVENT`'s author key through `cache` (a client sends many events under
/// one key; see [`LiftCache`]).
///
/// # Errors
///
/// As [`parse`].
pub fn parse_cached(text: &str, cache: &mut LiftCache) -> Result<ClientMessage, ParseError> {
    let parts: Vec<&RawValue> =
        serde_json::from_str(text).map_err(|_| ParseError::Notice("invalid: not a JSON array"))?;
    let kind: &str = parts
        .first()
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .ok_or(ParseError::Notice(
            "invalid: first element must be a message type",
        ))?;
    match kind {
        "EVENT" => parse_event(&parts, cache),
        "REQ" => parse_req(&parts),
        "CLOSE" => parse_close(&parts),
        "AUTH" => Ok(ClientMessage::Auth(event_id_of(parts.get(1).copied()))),
        _ => Err(ParseError::Notice("invalid: unknown message type")),
    }
}

fn parse_event(parts: &[&RawValue], cache: &mut LiftCache) -> Result<ClientMessage, ParseError> {
    let raw = parts
        .get(1)
        .ok_or(ParseError::Notice("invalid: EVENT needs an event"))?;
    Event::from_json_cached(raw.get(), cache)
        .map(|e| ClientMessage::Event(Box::new(e)))
        .map_err(|_| match event_id_of(Some(raw)) {
            Some(id) => ParseError::BadEvent {
                id,
                reason: "invalid: malformed event",
            },
            None => ParseError::Notice("invalid: malformed event without a readable id"),
        })
}

/// Reads just the `id` of a malformed event, so the refusal can name it.
fn event_id_of(raw: Option<&RawValue>) -> Option<String> {
    #[derive(Deserialize)]
    struct JustId {
        id: String,
    }
    let id = serde_json::from_str::<JustId>(raw?.get()).ok()?.id;
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

fn sub_id_of(parts: &[&RawValue]) -> Result<String, ParseError> {
    let sub_id: String = parts
        .get(1)
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .ok_or(ParseError::Notice(
            "invalid: subscription id must be a string",
        ))?;
    let chars = sub_id.chars().count();
    if chars == 0 || chars > MAX_SUB_ID_CHARS {
        // A string id gets its CLOSED (every REQ gets EOSE or CLOSED), cut to the maximum length.
        return Err(ParseError::BadReq {
            sub_id: sub_id.chars().take(MAX_SUB_ID_CHARS).collect(),
            reason: "invalid: subscription id must be 1 to 64 characters",
        });
    }
    Ok(sub_id)
}

fn parse_req(parts: &[&RawValue]) -> Result<ClientMessage, ParseError> {
    let sub_id = sub_id_of(parts)?;
    let raw_filters = &parts[2..];
    let bad = |reason| ParseError::BadReq {
        sub_id: sub_id.clone(),
        reason,
    };
    if raw_filters.is_empty() {
        return Err(bad("invalid: REQ needs at least one filter"));
    }
    if raw_filters.len() > MAX_FILTERS_PER_REQ {
        return Err(bad("invalid: too many filters in one REQ"));
    }
    let filters = raw_filters
        .iter()
        .map(|f| serde_json::from_str::<Filter>(f.get()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            bad("invalid: malformed filter (ids, authors, #p need 64-char lowercase hex)")
        })?;
    Ok(ClientMessage::Req { sub_id, filters })
}

fn parse_close(parts: &[&RawValue]) -> Result<ClientMessage, ParseError> {
    sub_id_of(parts).map(ClientMessage::Close)
}

/// `["OK", <event id hex>, <accepted>, <message>]`.
pub fn ok(event_id: &str, accepted: bool, message: &str) -> String {
    serde_json::to_string(&("OK", event_id, accepted, message)).expect("strings serialize")
}

/// `["EOSE", <sub id>]`.
pub fn eose(sub_id: &str) -> String {
    serde_json::to_string(&("EOSE", sub_id)).expect("strings serialize")
}

/// `["CLOSED", <sub id>, <message>]`.
pub fn closed(sub_id: &str, message: &str) -> String {
    serde_json::to_string(&("CLOSED", sub_id, message)).expect("strings serialize")
}

/// `["NOTICE", <message>]`.
pub fn notice(message: &str) -> String {
    serde_json::to_string(&("NOTICE", message)).expect("strings serialize")
}

/// `["EVENT", <sub id>, <event JSON>]` from an event already serialized once by the caller.
pub fn event(sub_id: &str, event_json: &str) -> String {
    let sub = serde_json::to_string(sub_id).expect("strings serialize");
    let mut out = String::with_capacity(12 + sub.len() + event_json.len());
    out.push_str("[\"EVENT\",");
    out.push_str(&sub);
    out.push(',');
    out.push_str(event_json);
    out.push(']');
    out
}

#[cfg(test)]
mod tests;
