//! NIP-98 HTTP auth, server side: verifies an `Authorization: Nostr <base64 event>` header.
//!
//! Role: authenticates admin HTTP requests (<https://github.com/nostr-protocol/nips/blob/master/98.md>).
//! [`verify`] returns the event author; deciding whether that pubkey is an admin is the caller's job.
//!
//! Must not: read the clock (`now` is an argument), do I/O or log; normalise URLs; treat the event as
//! authentic before its id and signature are checked. Main items: [`verify`], [`Expected`],
//! [`Nip98Error`].
//!
//! Not covered (NIP-98 does not require it): replay of the same header within the time window. A
//! caller that needs it keeps the ids of accepted events for the window's length.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use sha2::{Digest, Sha256};

use super::{Event, PublicKey};
use event::hex as lowhex;

#[cfg(test)]
#[path = "nip98_tests.rs"]
mod tests;

/// The NIP-98 event kind (a reference to RFC 7235).
pub const KIND_HTTP_AUTH: u16 = 27235;

/// Largest accepted header value, in bytes, checked before any decoding. A typical NIP-98 event
/// (two or three tags, empty content) is about 400 bytes of JSON, 550 in base64; 8 KiB leaves room
/// for long URLs and content while bounding the base64, JSON and hashing work per request.
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// Default for [`Expected::window_secs`]: NIP-98 suggests 60 seconds.
pub const DEFAULT_WINDOW_SECS: u64 = 60;

/// The `Authorization` scheme name; compared case-insensitively (RFC 7235 §2.1).
const SCHEME: &str = "Nostr";

/// Standard alphabet (RFC 4648 §4), padding optional. Clients send standard base64 with padding
/// (`btoa`, `@scure/base` in nostr-tools, Rust's `STANDARD`); unpadded input is accepted too because
/// the encoding carries no authority (the signature does) and some encoders drop padding. The
/// URL-safe alphabet is refused: NIP-98 says `base64` and no client was found sending it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the server knows about the request being authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    /// The absolute request URL as the client addressed it, query string included (for example
    /// `https://bunker.example.com/admin/tenants?limit=10`). The `u` tag must equal it byte for
    /// byte (NIP-98 check 3): no normalisation of case, default ports, trailing slashes or
    /// percent-encoding is done. Behind a reverse proxy, build it from the configured public base
    /// URL, not from the proxy's upstream address.
    pub url: &'a str,
    /// The HTTP method of the request (`GET`, `POST`, …). Compared with the `method` tag
    /// ASCII-case-insensitively: nostr-tools' `getToken` writes the method as its caller spells it
    /// (its own example passes `'post'`), and folding case cannot widen what is authorised because
    /// the server routes on the request's real method.
    pub method: &'a str,
    /// The raw request body; empty for none. If non-empty, the event must carry a `payload` tag
    /// with the lowercase hex SHA-256 of these bytes (64 chars).
    pub body: &'a [u8],
    /// Allowed distance between the event's `created_at` and `now`, in seconds, in either
    /// direction (inclusive). Default: [`DEFAULT_WINDOW_SECS`] (60).
    pub window_secs: u64,
}

impl<'a> Expected<'a> {
    /// A request with the default time window ([`DEFAULT_WINDOW_SECS`]).
    pub fn new(url: &'a str, method: &'a str, body: &'a [u8]) -> Self {
        Expected {
            url,
            method,
            body,
            window_secs: DEFAULT_WINDOW_SECS,
        }
    }
}

/// Why a NIP-98 header was refused. NIP-98 says to answer every one with 401; `Display` texts are
/// fixed and never echo the header.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nip98Error {
    /// The value is not `Nostr <token>` (scheme case-insensitive), the token is not standard
    /// base64, or it does not decode to UTF-8 JSON of a NIP-01 event (see [`Event::from_json`]).
    #[error("missing or malformed nostr authorization")]
    MissingOrMalformed,
    /// The header value is longer than [`MAX_HEADER_LEN`] bytes; refused before decoding.
    #[error("authorization header too large")]
    HeaderTooLarge,
    /// The event kind is not 27235 (NIP-98 check 1).
    #[error("wrong event kind")]
    WrongKind,
    /// The event id is not the hash of its content, or the BIP-340 signature does not verify.
    #[error("bad event id or signature")]
    BadSignature,
    /// `created_at` is more than [`Expected::window_secs`] before or after `now` (NIP-98 check 2).
    #[error("authorization event outside the time window")]
    Stale,
    /// No `u` tag, more than one, or its value is not exactly [`Expected::url`] (NIP-98 check 3).
    #[error("url mismatch")]
    UrlMismatch,
    /// No `method` tag, more than one, or it is not [`Expected::method`] (NIP-98 check 4).
    #[error("method mismatch")]
    MethodMismatch,
    /// A `payload` tag is present (or duplicated) but is not the lowercase hex SHA-256 of the body
    /// (of the empty string when there is no body).
    #[error("payload hash mismatch")]
    PayloadMismatch,
    /// The request has a body but the event has no `payload` tag.
    #[error("payload hash missing")]
    PayloadMissing,
}

impl Nip98Error {
    /// Stable snake_case code for metric labels and fixed API error strings.
    pub fn code(&self) -> &'static str {
        match self {
            Nip98Error::MissingOrMalformed => "missing_or_malformed",
            Nip98Error::HeaderTooLarge => "header_too_large",
            Nip98Error::WrongKind => "wrong_kind",
            Nip98Error::BadSignature => "bad_signature",
            Nip98Error::Stale => "stale",
            Nip98Error::UrlMismatch => "url_mismatch",
            Nip98Error::MethodMismatch => "method_mismatch",
            Nip98Error::PayloadMismatch => "payload_mismatch",
            Nip98Error::PayloadMissing => "payload_missing",
        }
    }
}

/// Verifies a NIP-98 `Authorization` header value for a request and returns the event's author.
///
/// `header` is the header value (`Nostr <base64>`, without `Authorization:`); surrounding spaces
/// and tabs are ignored, and one or more spaces or tabs may separate scheme and token. A request
/// without the header is the caller's to refuse. `now` is Unix time in seconds. `content` is not
/// checked (NIP-98 only says it SHOULD be empty).
///
/// Checks run cheapest first, so a forged header costs no signature verification unless it names
/// this request: size, decoding, kind, time, `u`, `method`, `payload`, then id and signature.
///
/// # Errors
///
/// [`Nip98Error::HeaderTooLarge`] over [`MAX_HEADER_LEN`] bytes; [`Nip98Error::MissingOrMalformed`]
/// for a wrong scheme, bad base64 or an event that does not parse; then the first failing check:
/// [`Nip98Error::WrongKind`], [`Nip98Error::Stale`], [`Nip98Error::UrlMismatch`],
/// [`Nip98Error::MethodMismatch`], [`Nip98Error::PayloadMissing`] /
/// [`Nip98Error::PayloadMismatch`], [`Nip98Error::BadSignature`].
///
/// # Security
///
/// The returned pubkey is authenticated only for this URL, method and body within the window; the
/// same header can be replayed for the same request until the window ends (see the module docs):
/// a caller that must refuse replays remembers the event ids [`verify_event`] returns.
pub fn verify(header: &str, expected: &Expected<'_>, now: u64) -> Result<PublicKey, Nip98Error> {
    verify_event(header, expected, now).map(|(pubkey, _, _)| pubkey)
}

/// [`verify`], also returning the authorization event's id (32 bytes) and `created_at` (Unix
/// seconds), for a replay cache: the event is valid within `window_secs` of its `created_at`.
///
/// # Errors
///
/// As [`verify`].
pub fn verify_event(
    header: &str,
    expected: &Expected<'_>,
    now: u64,
) -> Result<(PublicKey, [u8; 32], u64), Nip98Error> {
    let event = decode_header(header)?;
    if event.kind != KIND_HTTP_AUTH {
        return Err(Nip98Error::WrongKind);
    }
    if event.created_at.abs_diff(now) > expected.window_secs {
        return Err(Nip98Error::Stale);
    }
    match single_tag(&event, "u") {
        Some(Some(u)) if u == expected.url => {}
        _ => return Err(Nip98Error::UrlMismatch),
    }
    match single_tag(&event, "method") {
        Some(Some(m)) if m.eq_ignore_ascii_case(expected.method) => {}
        _ => return Err(Nip98Error::MethodMismatch),
    }
    check_payload(&event, expected.body)?;
    event.verify().map_err(|_| Nip98Error::BadSignature)?;
    Ok((event.pubkey, event.id, event.created_at))
}

/// Splits off the scheme, decodes the base64 token and parses the event (not yet verified).
fn decode_header(header: &str) -> Result<Event, Nip98Error> {
    if header.len() > MAX_HEADER_LEN {
        return Err(Nip98Error::HeaderTooLarge);
    }
    let value = header.trim_matches([' ', '\t']);
    let (scheme, token) = value
        .split_once([' ', '\t'])
        .ok_or(Nip98Error::MissingOrMalformed)?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(Nip98Error::MissingOrMalformed);
    }
    let json = BASE64
        .decode(token.trim_start_matches([' ', '\t']))
        .map_err(|_| Nip98Error::MissingOrMalformed)?;
    let json = std::str::from_utf8(&json).map_err(|_| Nip98Error::MissingOrMalformed)?;
    Event::from_json(json).map_err(|_| Nip98Error::MissingOrMalformed)
}

/// The tag named `name` if there is exactly one: `None` if there are none or several (a request
/// must not be ambiguous about what it authorises), `Some(None)` if that one tag has no value.
fn single_tag<'e>(event: &'e Event, name: &str) -> Option<Option<&'e str>> {
    let mut found = event
        .tags
        .iter()
        .filter(|t| t.first().is_some_and(|n| n == name));
    let tag = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(tag.get(1).map(String::as_str))
}

/// NIP-98 `payload` rule as bunkerd applies it: required for a non-empty body, and checked
/// whenever present (against SHA-256 of the empty string for an empty body).
fn check_payload(event: &Event, body: &[u8]) -> Result<(), Nip98Error> {
    let present = event
        .tags
        .iter()
        .any(|t| t.first().is_some_and(|n| n == "payload"));
    if !present {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(Nip98Error::PayloadMissing)
        };
    }
    let want = lowhex::encode(&Sha256::digest(body));
    match single_tag(event, "payload") {
        Some(Some(got)) if got == want => Ok(()),
        _ => Err(Nip98Error::PayloadMismatch),
    }
}
