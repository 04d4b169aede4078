//! Relay URLs (NIP-01 `ws://` / `wss://`): the one comparison of two spellings of a relay.
//!
//! Clients write the same relay many ways (`wss://Relay.example:443/`, `wss://relay.example`);
//! [`relay_key`] gives the form they share, so that "is this bunkerd's own relay" and "do these
//! sessions use the same foreign relay" are one string comparison.

/// Longest relay URL accepted, bytes.
pub const MAX_RELAY_URL_BYTES: usize = 512;

/// The form of a relay URL that two spellings of the same relay share (WHATWG URL serialization:
/// scheme and host lowercased, the scheme's default port dropped; then a lone `/` path dropped), or
/// `None` if `url` is not a `ws://` or `wss://` URL with a host, at most [`MAX_RELAY_URL_BYTES`]
/// bytes, without user info or fragment.
pub fn relay_key(url: &str) -> Option<String> {
    let url = url.trim();
    if url.len() > MAX_RELAY_URL_BYTES {
        return None;
    }
    let parsed = url::Url::parse(url).ok()?;
    let acceptable = matches!(parsed.scheme(), "ws" | "wss")
        && parsed.host_str().is_some_and(|h| !h.is_empty())
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.fragment().is_none();
    if !acceptable {
        return None;
    }
    let text = parsed.as_str();
    Some(match parsed.query() {
        None if parsed.path() == "/" => text.trim_end_matches('/').to_owned(),
        _ => text.to_owned(),
    })
}
