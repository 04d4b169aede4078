//! Public keys and BIP-340 verification: [`PublicKey`], [`verify_schnorr`], [`hex32`], and
//! [`LiftCache`] for callers that parse the same keys again and again.
//!
//! Role: the only place that turns bytes into public keys, so every [`PublicKey`] has been
//! validated once (its x coordinate lifts to a curve point) and is never lifted again.
//!
//! Must not: hold or name secret material; keep hidden state. Verification uses one immutable
//! verification-only secp256k1 context (no secret is multiplied, so it needs no blinding); the
//! cache of lifted keys is a value its owner passes in.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use secp256k1::{schnorr, Parity, Secp256k1, VerifyOnly, XOnlyPublicKey};

use crate::{hex, Error};

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;

/// The verification-only context: precomputed tables, no randomness, never mutated.
static VERIFY: LazyLock<Secp256k1<VerifyOnly>> = LazyLock::new(Secp256k1::verification_only);

/// 32-byte x-only BIP-340 public key (the `pubkey` of NIP-01), always a valid curve x coordinate.
///
/// `Display` and `Debug` print 64 lowercase hex chars; serde uses the same hex string. Equality,
/// ordering and hashing are those of the 32 bytes.
///
/// The lifted curve point is kept beside the bytes (96 bytes in all), so a key is `lift_x`ed (a field
/// square root, ≈ 4 µs) once, when it is parsed, and never again by [`verify_schnorr`] or ECDH.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    point: XOnlyPublicKey,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Must equal the hash of the `[u8; 32]` it borrows as (see the `Borrow` impl).
        self.bytes.hash(state);
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl PublicKey {
    /// Parses 64 lowercase hex chars (NIP-01 form).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHex`] if `s` is not exactly 64 chars of `0-9a-f` (uppercase is rejected);
    /// [`Error::InvalidPublicKey`] if the value is not the x coordinate of a curve point.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let bytes = hex::decode_array::<32>(s).ok_or(Error::InvalidHex)?;
        Self::from_bytes(&bytes)
    }

    /// Validates 32 big-endian bytes as an x-only public key (BIP-340 `lift_x`: a field square
    /// root, ≈ 4 µs). To parse the same keys repeatedly, keep a [`LiftCache`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPublicKey`] if the bytes are `>= p` or not the x of a point on secp256k1.
    pub fn from_bytes(b: &[u8; 32]) -> Result<Self, Error> {
        let point = XOnlyPublicKey::from_byte_array(*b).map_err(|_| Error::InvalidPublicKey)?;
        Ok(PublicKey { bytes: *b, point })
    }

    /// The public key of an already lifted point (from a keypair, say): no validation needed.
    pub fn from_point(point: XOnlyPublicKey) -> Self {
        PublicKey {
            bytes: point.serialize(),
            point,
        }
    }

    /// The 32-byte x coordinate, big-endian.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// 64 lowercase hex chars.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// The libsecp256k1 form, lifted at construction.
    pub fn to_xonly(self) -> XOnlyPublicKey {
        self.point
    }

    /// The full point with even y, as BIP-340 `lift_x` and NIP-04/NIP-44 ECDH require.
    pub fn to_even_point(self) -> secp256k1::PublicKey {
        secp256k1::PublicKey::from_x_only_public_key(self.to_xonly(), Parity::Even)
    }
}

/// Lets maps keyed by `PublicKey` be searched with raw bytes (the derived `Hash`/`Eq` are those of
/// the inner array), so a lookup of a known key needs no curve validation.
impl std::borrow::Borrow<[u8; 32]> for PublicKey {
    fn borrow(&self) -> &[u8; 32] {
        &self.bytes
    }
}

/// Decodes 64 lowercase hex chars to 32 bytes **without** curve validation: for looking up keys that
/// are already known valid (e.g. a `p` tag naming a hosted signer), where `lift_x` would be a wasted
/// square root (~4 µs). Use [`PublicKey::from_hex`] for anything that becomes a `PublicKey`.
pub fn hex32(s: &str) -> Option<[u8; 32]> {
    hex::decode_array::<32>(s)
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(PublicKeyVisitor)
    }
}

struct PublicKeyVisitor;

impl serde::de::Visitor<'_> for PublicKeyVisitor {
    type Value = PublicKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a 64-char lowercase hex x-only public key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PublicKey, E> {
        // Fixed text: never echo the input into errors.
        PublicKey::from_hex(v).map_err(|_| E::custom("invalid public key"))
    }
}

/// BIP-340 verification of a 64-byte signature over a 32-byte message.
///
/// Returns `false` for any invalid signature (including `r >= p` or `s >= n`); `pk` is valid by
/// construction.
pub fn verify_schnorr(pk: &PublicKey, msg: &[u8; 32], sig: &[u8; 64]) -> bool {
    let sig = schnorr::Signature::from_byte_array(*sig);
    let xonly = pk.to_xonly();
    VERIFY.verify_schnorr(&sig, msg, &xonly).is_ok()
}

/// Lifted keys remembered by their bytes, so a client that sends many requests under one key is
/// lifted once (≈ 4 µs, ≈ 4 % of a request's CPU) rather than at every parse. Bounded: past
/// [`LiftCache::CAPACITY`] keys (≈ 100 bytes each) it starts again empty. Holds public data only.
#[derive(Debug, Default)]
pub struct LiftCache {
    lifted: HashMap<[u8; 32], XOnlyPublicKey>,
}

impl LiftCache {
    /// Most keys remembered before the cache is cleared.
    pub const CAPACITY: usize = 4096;

    /// [`PublicKey::from_bytes`], from the cache when these bytes were lifted before.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPublicKey`], as [`PublicKey::from_bytes`]; invalid keys are not remembered.
    pub fn public_key(&mut self, b: &[u8; 32]) -> Result<PublicKey, Error> {
        if let Some(point) = self.lifted.get(b) {
            return Ok(PublicKey {
                bytes: *b,
                point: *point,
            });
        }
        let key = PublicKey::from_bytes(b)?;
        if self.lifted.len() >= Self::CAPACITY {
            self.lifted.clear();
        }
        self.lifted.insert(*b, key.point);
        Ok(key)
    }

    /// [`PublicKey::from_hex`], through the cache.
    ///
    /// # Errors
    ///
    /// As [`PublicKey::from_hex`].
    pub fn public_key_from_hex(&mut self, s: &str) -> Result<PublicKey, Error> {
        let bytes = hex::decode_array::<32>(s).ok_or(Error::InvalidHex)?;
        self.public_key(&bytes)
    }
}
