//! `event`: NIP-01 events and public keys — canonical serialization, ids, parsing, BIP-340
//! verification — with nothing secret in it.
//!
//! Role: the Nostr primitives both sides of bunkerd share. The relay parses and admits events
//! with it and cannot name a secret-key type through it; the signer builds on it (the `proto`
//! side adds secret keys, signing and encryption). Pure: no I/O, no clock, no randomness, no
//! thread-local state; the one shared value is an immutable verification context.
//!
//! Checked against the NIP-01 event vectors in `src/vectors/` and BIP-340's (in the signer's
//! tests, where the signing half lives).
//!
//! Main items: [`Event`], [`UnsignedEvent`], [`PublicKey`], [`LiftCache`], [`verify_schnorr`],
//! [`hex32`], [`Refusal`], [`Error`], [`KIND_NOSTR_CONNECT`].

mod canon;
pub mod event;
pub mod hex;
pub mod keys;
pub mod refusal;
pub mod relay_url;

pub use event::{compute_id, serialize_for_id, Event, UnsignedEvent, Verified};
pub use keys::{hex32, verify_schnorr, LiftCache, PublicKey};
pub use refusal::Refusal;

/// The NIP-46 request/response event kind (NIP-46, "Request events"): in the ephemeral range,
/// never stored.
pub const KIND_NOSTR_CONNECT: u16 = 24133;

/// Errors of events and public keys. `Display` text is fixed per variant and never echoes input.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A hex field does not have the expected length or has a character outside `0-9a-f`
    /// (uppercase is rejected: NIP-01 mandates lowercase hex).
    #[error("invalid hex")]
    InvalidHex,
    /// 32 bytes that are not the x coordinate of a secp256k1 point (BIP-340 `lift_x` fails).
    #[error("invalid public key")]
    InvalidPublicKey,
    /// The BIP-340 signature does not verify for the event id and pubkey.
    #[error("invalid signature")]
    InvalidSignature,
    /// The event `id` is not the sha256 of the event's canonical serialization.
    #[error("invalid event id")]
    InvalidId,
    /// Malformed event JSON or field; the text is a fixed reason, never a copy of the input.
    #[error("invalid event: {0}")]
    InvalidEvent(&'static str),
}

impl Error {
    /// Stable snake_case code for metric labels and fixed client error strings:
    /// `invalid_hex`, `invalid_public_key`, `invalid_signature`, `invalid_id`, `invalid_event`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidHex => "invalid_hex",
            Error::InvalidPublicKey => "invalid_public_key",
            Error::InvalidSignature => "invalid_signature",
            Error::InvalidId => "invalid_id",
            Error::InvalidEvent(_) => "invalid_event",
        }
    }
}
