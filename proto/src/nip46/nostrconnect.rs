//! `nostrconnect://` URIs: the client-initiated pairing of NIP-46
//! (<https://github.com/nostr-protocol/nips/blob/master/46.md>, "Direct connection initiated by
//! the client").
//!
//! The client shows `nostrconnect://<client-pubkey>?relay=<url>&…&secret=<s>&perms=…&name=…&url=…&image=…`;
//! the signer answers with a `connect` *response* whose `result` is the secret, authored by its
//! remote-signer key and sent to the client pubkey on the URI's relays. The query is
//! `application/x-www-form-urlencoded` (what `URLSearchParams` and the `url` crate write: `+` is a
//! space, `%XX` a byte). Besides the flat `name`, `url` and `image`, the older single `metadata`
//! parameter (JSON `{"name","url","description","icons"}`, still written by rust-nostr) is read for
//! the same fields; when both are present the flat ones win. That older form predates the secret:
//! a URI with `metadata` and none of the flat parameters may omit it.
//!
//! Parsing is strict where the pairing depends on it and names the bad part in its error: the
//! client pubkey, every relay (`ws://` or `wss://` with a host), the secret (required: it is the
//! client's only proof that the response comes from the signer its user chose). Display metadata
//! is cut to its bounds rather than refused.

pub use event::relay_url::{relay_key, MAX_RELAY_URL_BYTES};
use event::PublicKey;
use zeroize::Zeroizing;

/// Longest URI parsed, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most relays one URI may name.
pub const MAX_RELAYS: usize = 8;
/// Longest secret, in bytes (clients use 8–64 characters).
pub const MAX_SECRET_BYTES: usize = 256;
/// Longest `name`, in characters; longer names are cut.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest `url` or `image`, in bytes; longer values are dropped.
pub const MAX_LINK_BYTES: usize = 512;

/// A parsed `nostrconnect://` URI. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct NostrConnectUri {
    /// The client pubkey: where the `connect` response goes, and the author of its requests.
    pub client: PublicKey,
    /// The relays the client listens on, as written (deduplicated by [`relay_key`], in order).
    pub relays: Vec<String>,
    /// The secret the response must carry as its `result`; empty only for a URI in the older
    /// `metadata` form without one, whose clients expect `"ack"`.
    pub secret: Zeroizing<String>,
    /// The permissions the client asks for, as written (`method[:kind]`, comma-separated).
    pub perms: Option<String>,
    /// The client app's name (at most [`MAX_NAME_CHARS`] characters).
    pub name: Option<String>,
    /// The client app's URL.
    pub url: Option<String>,
    /// The client app's image URL.
    pub image: Option<String>,
}

impl std::fmt::Debug for NostrConnectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NostrConnectUri")
            .field("client", &self.client)
            .field("relays", &self.relays)
            .field("perms", &self.perms)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Why a `nostrconnect://` URI was refused. `Display` names the bad part and never echoes the
/// secret; [`UriError::code`] is a stable machine-readable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// Longer than [`MAX_URI_BYTES`].
    #[error("the URI is longer than {MAX_URI_BYTES} bytes")]
    TooLong,
    /// Not `nostrconnect://…`.
    #[error("not a nostrconnect:// URI")]
    Scheme,
    /// The host is not a client pubkey.
    #[error("the client pubkey (after nostrconnect://) is not 64 lowercase hex characters of a valid key")]
    ClientPubkey,
    /// A query parameter is not valid percent-encoded UTF-8.
    #[error("the query is not valid percent-encoded UTF-8")]
    Encoding,
    /// No `relay` parameter.
    #[error("no relay: the URI must name at least one relay=")]
    MissingRelay,
    /// A `relay` is not a `ws://` or `wss://` URL with a host (its position, from 1).
    #[error(
        "relay {0} is not a ws:// or wss:// URL with a host (at most {MAX_RELAY_URL_BYTES} bytes)"
    )]
    Relay(usize),
    /// More than [`MAX_RELAYS`] different relays.
    #[error("more than {MAX_RELAYS} relays")]
    TooManyRelays,
    /// No `secret`, or an empty one.
    #[error("no secret: the URI must carry secret= (the client's check that the signer answered)")]
    MissingSecret,
    /// The secret is longer than [`MAX_SECRET_BYTES`].
    #[error("the secret is longer than {MAX_SECRET_BYTES} bytes")]
    SecretTooLong,
    /// A parameter that must appear once appears twice (its name).
    #[error("{0}= appears more than once")]
    Duplicate(&'static str),
}

impl UriError {
    /// A stable code for the admin API and CLI.
    pub fn code(&self) -> &'static str {
        match self {
            UriError::TooLong => "uri_too_long",
            UriError::Scheme => "uri_scheme",
            UriError::ClientPubkey => "uri_client_pubkey",
            UriError::Encoding => "uri_encoding",
            UriError::MissingRelay => "uri_missing_relay",
            UriError::Relay(_) => "uri_relay",
            UriError::TooManyRelays => "uri_too_many_relays",
            UriError::MissingSecret => "uri_missing_secret",
            UriError::SecretTooLong => "uri_secret_too_long",
            UriError::Duplicate(_) => "uri_duplicate_parameter",
        }
    }
}

/// The older `metadata` parameter's JSON.
#[derive(serde::Deserialize, Default)]
struct LegacyMetadata {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    icons: Option<Vec<String>>,
}

impl NostrConnectUri {
    /// Parses a `nostrconnect://` URI (surrounding whitespace ignored; the scheme in any case).
    ///
    /// # Errors
    ///
    /// A [`UriError`] naming the first bad part found, in this order: length, scheme, client
    /// pubkey, encoding, duplicates, relays, secret. Unknown parameters are ignored.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let text = text.trim();
        if text.len() > MAX_URI_BYTES {
            return Err(UriError::TooLong);
        }
        let rest = text
            .get(..15)
            .filter(|s| s.eq_ignore_ascii_case("nostrconnect://"))
            .map(|_| &text[15..])
            .ok_or(UriError::Scheme)?;
        let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
        let host = host.strip_suffix('/').unwrap_or(host);
        let client = PublicKey::from_hex(host).map_err(|_| UriError::ClientPubkey)?;

        let mut relays: Vec<String> = Vec::new();
        let mut relay_keys: Vec<String> = Vec::new();
        let mut relay_index = 0;
        let mut secret: Option<Zeroizing<String>> = None;
        let (mut perms, mut name, mut url, mut image, mut metadata) =
            (None, None, None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = Zeroizing::new(decode(value)?);
            let once = |slot: &mut Option<String>, label| match slot {
                Some(_) => Err(UriError::Duplicate(label)),
                None => {
                    *slot = Some(value.to_string());
                    Ok(())
                }
            };
            match key {
                "relay" => {
                    relay_index += 1;
                    let relay_key = relay_key(&value).ok_or(UriError::Relay(relay_index))?;
                    if !relay_keys.contains(&relay_key) {
                        if relays.len() == MAX_RELAYS {
                            return Err(UriError::TooManyRelays);
                        }
                        relay_keys.push(relay_key);
                        relays.push(value.trim().to_owned());
                    }
                }
                "secret" => {
                    if secret.is_some() {
                        return Err(UriError::Duplicate("secret"));
                    }
                    if value.len() > MAX_SECRET_BYTES {
                        return Err(UriError::SecretTooLong);
                    }
                    secret = Some(value);
                }
                "perms" => once(&mut perms, "perms")?,
                "name" => once(&mut name, "name")?,
                "url" => once(&mut url, "url")?,
                "image" => once(&mut image, "image")?,
                "metadata" => once(&mut metadata, "metadata")?,
                _ => {}
            }
        }
        if relays.is_empty() {
            return Err(UriError::MissingRelay);
        }
        // The older form (one `metadata` parameter, none of the flat ones) predates the secret:
        // its clients accept `"ack"` instead (an empty secret here).
        let legacy_form =
            metadata.is_some() && [&perms, &name, &url, &image].iter().all(|v| v.is_none());
        let secret = match secret.filter(|s| !s.is_empty()) {
            Some(secret) => secret,
            None if legacy_form => Zeroizing::new(String::new()),
            None => return Err(UriError::MissingSecret),
        };
        let legacy: LegacyMetadata = metadata
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default();
        let name = name.or(legacy.name).and_then(|n| {
            let n: String = n.trim().chars().take(MAX_NAME_CHARS).collect();
            (!n.is_empty()).then_some(n)
        });
        let link = |v: Option<String>| v.filter(|v| !v.is_empty() && v.len() <= MAX_LINK_BYTES);
        Ok(NostrConnectUri {
            client,
            relays,
            secret,
            perms: perms.filter(|p| !p.trim().is_empty()),
            name,
            url: link(url.or(legacy.url)),
            image: link(image.or(legacy.icons.and_then(|i| i.into_iter().next()))),
        })
    }
}

/// Form-decodes one query value (`+` is a space). The intermediate copy is wiped: the value may be
/// the secret.
fn decode(value: &str) -> Result<String, UriError> {
    let spaced = Zeroizing::new(value.replace('+', " "));
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| UriError::Encoding)
}

#[cfg(test)]
#[path = "nostrconnect_tests.rs"]
mod tests;
