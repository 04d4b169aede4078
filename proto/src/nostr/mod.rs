//! The Nostr core: keys, NIP-01 events and ids, BIP-340 Schnorr, NIP-44 v2, NIP-04 and `nsec`/`npub`.
//!
//! Role: pure, synchronous functions over byte arrays and strings that every other part of bunkerd
//! builds on. Everything here is checked against the official vectors (copied into `vectors/`).
//!
//! Must not: do I/O, read a clock, log, or depend on the rest of the crate. Secret material lives only
//! in [`SecretKey`], [`Keypair`], [`nip44::ConversationKey`] and [`nip04::SharedKey`], which redact
//! their `Debug` output and are zeroized on drop.
//!
//! Main types: [`PublicKey`], [`SecretKey`], [`Keypair`], [`Event`], [`UnsignedEvent`], [`Crypto`]
//! (randomness and the blinded secp256k1 context, passed to every secret operation) and the
//! core-wide [`Error`].

pub mod keys;
pub mod nip04;
pub mod nip19;
pub mod nip44;
pub mod nip49;
pub mod nip98;

pub mod crypto;

pub use crypto::{Crypto, Entropy};
pub use event::{hex32, verify_schnorr, Event, PublicKey, UnsignedEvent, Verified};
pub use keys::{Keypair, SecretKey};

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;

/// Errors of the Nostr core. `Display` text is fixed per variant and never echoes input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A hex field does not have the expected length or has a character outside `0-9a-f`
    /// (uppercase is rejected: NIP-01 mandates lowercase hex).
    #[error("invalid hex")]
    InvalidHex,
    /// 32 bytes that are not the x coordinate of a secp256k1 point (BIP-340 `lift_x` fails).
    #[error("invalid public key")]
    InvalidPublicKey,
    /// 32 bytes that are not a secp256k1 scalar in `[1, n-1]`.
    #[error("invalid secret key")]
    InvalidSecretKey,
    /// The BIP-340 signature does not verify for the event id and pubkey.
    #[error("invalid signature")]
    InvalidSignature,
    /// The event `id` is not the sha256 of the event's canonical serialization.
    #[error("invalid event id")]
    InvalidId,
    /// Malformed event JSON or field; the text is a fixed reason, never a copy of the input.
    #[error("invalid event: {0}")]
    InvalidEvent(&'static str),
    /// A NIP-44 v2 encryption or decryption failure.
    #[error("nip44: {0}")]
    Nip44(#[from] nip44::Error),
    /// A NIP-04 encryption or decryption failure.
    #[error("nip04: {0}")]
    Nip04(#[from] nip04::Error),
    /// Not a bech32 (BIP-173 checksum) string with the expected prefix and a 32-byte payload.
    #[error("invalid bech32")]
    InvalidBech32,
}

impl From<event::Error> for Error {
    fn from(e: event::Error) -> Self {
        match e {
            event::Error::InvalidHex => Error::InvalidHex,
            event::Error::InvalidPublicKey => Error::InvalidPublicKey,
            event::Error::InvalidSignature => Error::InvalidSignature,
            event::Error::InvalidId => Error::InvalidId,
            event::Error::InvalidEvent(reason) => Error::InvalidEvent(reason),
            // `event::Error` is non-exhaustive; a new variant is an invalid event until mapped.
            _ => Error::InvalidEvent("invalid event"),
        }
    }
}

impl Error {
    /// Stable snake_case code for metric labels and fixed client error strings. NIP-44 and NIP-04
    /// failures return their own module's code (prefixed `nip44_` / `nip04_`), so every code in the
    /// core is distinct.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidHex => "invalid_hex",
            Error::InvalidPublicKey => "invalid_public_key",
            Error::InvalidSecretKey => "invalid_secret_key",
            Error::InvalidSignature => "invalid_signature",
            Error::InvalidId => "invalid_id",
            Error::InvalidEvent(_) => "invalid_event",
            Error::Nip44(e) => e.code(),
            Error::Nip04(e) => e.code(),
            Error::InvalidBech32 => "invalid_bech32",
        }
    }
}
