//! NIP-01 events: canonical serialization, ids, signing, parsing and verification.
//!
//! Role: [`UnsignedEvent::into_event`] assembles what NIP-46 `sign_event` returns (the signer
//! supplies the signature); [`Event::from_json`] + [`Event::verify`] gate every event bunkerd
//! accepts.
//!
//! Must not: compute an id from anything but [`serialize_for_id`] (re-serialising with another
//! encoder changes ids); echo input in errors; treat a parsed event as authentic before `verify`.
//! Main types: [`Event`], [`UnsignedEvent`].

use serde::ser::SerializeStruct;
use sha2::{Digest, Sha256};

use crate::hex as lowhex;
use crate::{canon, verify_schnorr, Error, LiftCache, PublicKey};

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;

/// A signed Nostr event (NIP-01).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// sha256 of [`serialize_for_id`] (32 bytes; lowercase hex on the wire).
    pub id: [u8; 32],
    /// The author's x-only public key.
    pub pubkey: PublicKey,
    /// Unix time in seconds.
    pub created_at: u64,
    /// Event kind, 0..=65535.
    pub kind: u16,
    /// Tags: each an array of strings, the first being the tag name.
    pub tags: Vec<Vec<String>>,
    /// Arbitrary UTF-8 content.
    pub content: String,
    /// BIP-340 signature of `id` by `pubkey` (64 bytes; lowercase hex on the wire).
    pub sig: [u8; 64],
}

/// What a NIP-46 `sign_event` supplies: everything but `id`, `pubkey` and `sig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedEvent {
    /// Unix time in seconds.
    pub created_at: u64,
    /// Event kind, 0..=65535.
    pub kind: u16,
    /// Tags: each an array of strings.
    pub tags: Vec<Vec<String>>,
    /// Arbitrary UTF-8 content.
    pub content: String,
}

/// Canonical NIP-01 serialization `[0,<pubkey hex>,<created_at>,<kind>,<tags>,<content>]`.
///
/// Compact JSON, UTF-8 verbatim; strings escape exactly `\n \" \\ \r \t \b \f`, other C0 controls
/// as `\u00xx` (lowercase hex); `/` and DEL are not escaped. This text is what the id hashes.
pub fn serialize_for_id(
    pubkey: &PublicKey,
    created_at: u64,
    kind: u16,
    tags: &[Vec<String>],
    content: &str,
) -> String {
    let size = 96 + canon::estimate_tags(tags) + canon::estimate_str(content);
    let mut out = String::with_capacity(size);
    out.push_str("[0,\"");
    lowhex::push_encoded(&mut out, pubkey.as_bytes());
    out.push_str("\",");
    canon::push_u64(&mut out, created_at);
    out.push(',');
    canon::push_u64(&mut out, u64::from(kind));
    out.push(',');
    canon::push_tags(&mut out, tags);
    out.push(',');
    canon::push_str(&mut out, content);
    out.push(']');
    out
}

/// The NIP-01 event id: sha256 of [`serialize_for_id`], 32 bytes.
pub fn compute_id(
    pubkey: &PublicKey,
    created_at: u64,
    kind: u16,
    tags: &[Vec<String>],
    content: &str,
) -> [u8; 32] {
    let text = serialize_for_id(pubkey, created_at, kind, tags, content);
    Sha256::digest(text.as_bytes()).into()
}

impl UnsignedEvent {
    /// The signed event of `pubkey` with this content: the id is computed here, `sign` (a BIP-340
    /// signer, given the 32-byte id) returns the 64-byte signature.
    pub fn into_event(self, pubkey: PublicKey, sign: impl FnOnce(&[u8; 32]) -> [u8; 64]) -> Event {
        let id = compute_id(
            &pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        );
        let sig = sign(&id);
        let UnsignedEvent {
            created_at,
            kind,
            tags,
            content,
        } = self;
        Event {
            id,
            pubkey,
            created_at,
            kind,
            tags,
            content,
            sig,
        }
    }
}

/// The wire shape, before validation. Unknown fields are ignored; duplicate fields are rejected.
#[derive(serde::Deserialize)]
struct RawEvent {
    id: String,
    pubkey: String,
    created_at: u64,
    kind: u64,
    tags: Vec<Vec<String>>,
    content: String,
    sig: String,
}

impl RawEvent {
    fn validate(self, cache: Option<&mut LiftCache>) -> Result<Event, Error> {
        let id = lowhex::decode_array(&self.id)
            .ok_or(Error::InvalidEvent("id is not 64 lowercase hex chars"))?;
        let sig = lowhex::decode_array(&self.sig)
            .ok_or(Error::InvalidEvent("sig is not 128 lowercase hex chars"))?;
        let pubkey = match cache {
            Some(cache) => cache.public_key_from_hex(&self.pubkey),
            None => PublicKey::from_hex(&self.pubkey),
        };
        let pubkey = pubkey.map_err(|e| match e {
            Error::InvalidHex => Error::InvalidEvent("pubkey is not 64 lowercase hex chars"),
            _ => Error::InvalidEvent("pubkey is not a valid x-only public key"),
        })?;
        let kind =
            u16::try_from(self.kind).map_err(|_| Error::InvalidEvent("kind is above 65535"))?;
        let RawEvent {
            created_at,
            tags,
            content,
            ..
        } = self;
        Ok(Event {
            id,
            pubkey,
            created_at,
            kind,
            tags,
            content,
            sig,
        })
    }
}

/// Fixed reason for JSON that does not have the event shape (serde's message may quote input).
const MALFORMED: Error = Error::InvalidEvent(
    "not an event object (fields id, pubkey, created_at, kind, tags, content, sig)",
);

impl Event {
    /// Parses one event JSON object and checks field shapes: `id`/`sig` lowercase hex of 64/128
    /// chars, `pubkey` a valid x-only key, `created_at` a non-negative integer, `kind` <= 65535,
    /// `tags` an array of arrays of strings. Unknown extra fields are ignored.
    ///
    /// Does NOT check the id or signature: call [`Event::verify`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEvent`] with a fixed reason for any malformed JSON or field.
    pub fn from_json(s: &str) -> Result<Event, Error> {
        serde_json::from_str::<RawEvent>(s)
            .map_err(|_| MALFORMED)?
            .validate(None)
    }

    /// [`Event::from_json`], lifting the author's key through `cache`.
    ///
    /// # Errors
    ///
    /// As [`Event::from_json`].
    pub fn from_json_cached(s: &str, cache: &mut LiftCache) -> Result<Event, Error> {
        serde_json::from_str::<RawEvent>(s)
            .map_err(|_| MALFORMED)?
            .validate(Some(cache))
    }

    /// Same as [`Event::from_json`] for an already parsed JSON value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEvent`] with a fixed reason for any malformed field.
    pub fn from_value(v: serde_json::Value) -> Result<Event, Error> {
        serde_json::from_value::<RawEvent>(v)
            .map_err(|_| MALFORMED)?
            .validate(None)
    }

    /// [`Event::verify`], keeping the proof in the type: the [`Verified`] event, or the event back
    /// with why it failed.
    ///
    /// # Errors
    ///
    /// As [`Event::verify`], with the event unchanged.
    // The event comes back by value: boxing it would cost every forged event an allocation.
    #[allow(clippy::result_large_err)]
    pub fn into_verified(self) -> Result<Verified, (Event, Error)> {
        match self.verify() {
            Ok(()) => Ok(Verified(self)),
            Err(e) => Err((self, e)),
        }
    }

    /// Recomputes the id from the other fields, then checks the BIP-340 signature over it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`] if `id` is not the hash of the canonical serialization;
    /// [`Error::InvalidSignature`] if `sig` is not a valid signature of `id` by `pubkey`.
    pub fn verify(&self) -> Result<(), Error> {
        let id = compute_id(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        );
        if id != self.id {
            return Err(Error::InvalidId);
        }
        if !verify_schnorr(&self.pubkey, &self.id, &self.sig) {
            return Err(Error::InvalidSignature);
        }
        Ok(())
    }

    /// Compact JSON object with fields in the order `id, pubkey, created_at, kind, tags, content,
    /// sig`, strings escaped as in [`serialize_for_id`].
    pub fn to_json(&self) -> String {
        let size = 260 + canon::estimate_tags(&self.tags) + canon::estimate_str(&self.content);
        let mut out = String::with_capacity(size);
        out.push_str("{\"id\":\"");
        lowhex::push_encoded(&mut out, &self.id);
        out.push_str("\",\"pubkey\":\"");
        lowhex::push_encoded(&mut out, self.pubkey.as_bytes());
        out.push_str("\",\"created_at\":");
        canon::push_u64(&mut out, self.created_at);
        out.push_str(",\"kind\":");
        canon::push_u64(&mut out, u64::from(self.kind));
        out.push_str(",\"tags\":");
        canon::push_tags(&mut out, &self.tags);
        out.push_str(",\"content\":");
        canon::push_str(&mut out, &self.content);
        out.push_str(",\"sig\":\"");
        lowhex::push_encoded(&mut out, &self.sig);
        out.push_str("\"}");
        out
    }

    /// The id as 64 lowercase hex chars.
    pub fn id_hex(&self) -> String {
        lowhex::encode(&self.id)
    }

    /// The second element of the first tag named `name`; `None` if there is no such tag or it has
    /// no value.
    pub fn first_tag_value(&self, name: &str) -> Option<&str> {
        let tag = self
            .tags
            .iter()
            .find(|t| t.first().is_some_and(|n| n == name))?;
        tag.get(1).map(String::as_str)
    }
}

impl serde::Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Event", 7)?;
        st.serialize_field("id", &self.id_hex())?;
        st.serialize_field("pubkey", &self.pubkey)?;
        st.serialize_field("created_at", &self.created_at)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("tags", &self.tags)?;
        st.serialize_field("content", &self.content)?;
        st.serialize_field("sig", &lowhex::encode(&self.sig))?;
        st.end()
    }
}

impl<'de> serde::Deserialize<'de> for Event {
    /// Same shape checks as [`Event::from_json`]; does not verify.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <RawEvent as serde::Deserialize>::deserialize(d)?;
        raw.validate(None).map_err(|e| match e {
            Error::InvalidEvent(reason) => serde::de::Error::custom(reason),
            _ => serde::de::Error::custom("invalid event"),
        })
    }
}

/// An event whose id and BIP-340 signature were checked ([`Event::into_verified`], the only way to
/// make one): code that takes a `Verified` need not verify again, and cannot be handed an event
/// that skipped the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified(Event);

impl Verified {
    /// The event.
    pub fn event(&self) -> &Event {
        &self.0
    }

    /// The event, giving up the proof.
    pub fn into_event(self) -> Event {
        self.0
    }
}

impl std::ops::Deref for Verified {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.0
    }
}
