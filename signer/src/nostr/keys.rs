//! Keys and BIP-340 Schnorr signatures: [`PublicKey`], [`SecretKey`], [`Keypair`] and
//! [`verify_schnorr`].
//!
//! Role: the only place that turns bytes into secp256k1 keys, so every key in bunkerd has been
//! validated once (x-only keys lift to a curve point, secret scalars are in `[1, n-1]`).
//!
//! Must not: print, serialize or clone secret material (secret types have a redacted `Debug`, no
//! `Display`/`Serialize`, and are zeroized on drop); use the global secp256k1 context (see `ctx`).

use std::fmt;

use secp256k1::{schnorr, Parity, XOnlyPublicKey};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{ctx, lowhex, rng, Error};

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;

/// Lifted keys remembered per thread (≈ 100 bytes each); the memory is cleared when full.
pub const LIFTED_PER_THREAD: usize = 4096;

thread_local! {
    /// Valid x-only keys this thread has lifted, by their bytes. Only valid keys are inserted.
    static LIFTED: std::cell::RefCell<std::collections::HashMap<[u8; 32], XOnlyPublicKey>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

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
        let bytes = lowhex::decode_array::<32>(s).ok_or(Error::InvalidHex)?;
        Self::from_bytes(&bytes)
    }

    /// Validates 32 big-endian bytes as an x-only public key (BIP-340 `lift_x`).
    ///
    /// A client sends many requests under one key, so each thread remembers the last
    /// [`LIFTED_PER_THREAD`] keys it lifted (public data only): a repeat costs a hash lookup instead
    /// of a field square root (≈ 4 µs, ≈ 4 % of a request).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPublicKey`] if the bytes are `>= p` or not the x of a point on secp256k1.
    pub fn from_bytes(b: &[u8; 32]) -> Result<Self, Error> {
        let cached = LIFTED.with_borrow(|lifted| lifted.get(b).copied());
        let point = match cached {
            Some(point) => point,
            None => {
                let point =
                    XOnlyPublicKey::from_byte_array(*b).map_err(|_| Error::InvalidPublicKey)?;
                LIFTED.with_borrow_mut(|lifted| {
                    if lifted.len() >= LIFTED_PER_THREAD {
                        lifted.clear();
                    }
                    lifted.insert(*b, point);
                });
                point
            }
        };
        Ok(PublicKey { bytes: *b, point })
    }

    /// The 32-byte x coordinate, big-endian.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// 64 lowercase hex chars.
    pub fn to_hex(&self) -> String {
        lowhex::encode(&self.bytes)
    }

    /// The libsecp256k1 form, lifted at construction.
    fn to_xonly(self) -> XOnlyPublicKey {
        self.point
    }

    /// The full point with even y, as BIP-340 `lift_x` and NIP-04/NIP-44 ECDH require.
    pub(crate) fn to_even_point(self) -> secp256k1::PublicKey {
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
    lowhex::decode_array::<32>(s)
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

/// 32-byte secp256k1 secret scalar in `[1, n-1]`, big-endian.
///
/// Redacted `Debug`; zeroized on drop; no `Display`, `Serialize` or `Clone`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A fresh key from the OS CSPRNG.
    ///
    /// # Panics
    ///
    /// If the OS has no randomness (see the private `rng` module).
    pub fn generate() -> Self {
        loop {
            // Out-of-range draws (probability about 2^-128) are retried, not reduced, to stay uniform.
            let candidate = Zeroizing::new(rng::array::<32>());
            if let Ok(sk) = Self::from_bytes(&candidate) {
                return sk;
            }
        }
    }

    /// Validates 32 big-endian bytes as a secret scalar.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSecretKey`] if the value is 0 or `>= n` (the curve order).
    pub fn from_bytes(b: &[u8; 32]) -> Result<Self, Error> {
        let mut parsed =
            secp256k1::SecretKey::from_byte_array(*b).map_err(|_| Error::InvalidSecretKey)?;
        parsed.non_secure_erase();
        Ok(SecretKey(*b))
    }

    /// Parses 64 lowercase hex chars.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHex`] if `s` is not exactly 64 chars of `0-9a-f`;
    /// [`Error::InvalidSecretKey`] if the value is 0 or `>= n`.
    ///
    /// # Security
    ///
    /// Decoding does not branch on the characters' values; the temporary buffer is zeroized.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        if !lowhex::decode_into(s, &mut bytes[..]) {
            return Err(Error::InvalidHex);
        }
        Self::from_bytes(&bytes)
    }

    /// The raw 32 bytes.
    ///
    /// # Security
    ///
    /// Only for sealing the key at rest (envelope encryption). Never log, display or send them.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The x-only public key (one point multiplication).
    pub fn public_key(&self) -> PublicKey {
        Keypair::new(self).public_key()
    }

    /// Runs `f` with the libsecp256k1 form of the key, erasing that copy afterwards.
    fn with_secp<R>(&self, f: impl FnOnce(&secp256k1::SecretKey) -> R) -> R {
        let mut sk =
            secp256k1::SecretKey::from_byte_array(self.0).expect("validated at construction");
        let out = f(&sk);
        sk.non_secure_erase();
        out
    }

    /// Raw ECDH: the unhashed 32-byte x of `self · lift_x(pk)`, as NIP-04 and NIP-44 require
    /// (`SharedSecret::new` would hash it and be silently incompatible).
    pub(crate) fn ecdh_x(&self, pk: &PublicKey) -> Zeroizing<[u8; 32]> {
        let point = pk.to_even_point();
        // ECDH uses libsecp256k1's constant-time variable-base multiplication, which takes no
        // context, so it does not count towards the blinding refresh.
        let mut xy =
            Zeroizing::new(self.with_secp(|sk| secp256k1::ecdh::shared_secret_point(&point, sk)));
        let mut x = Zeroizing::new([0u8; 32]);
        x.copy_from_slice(&xy[..32]);
        xy.zeroize();
        x
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").finish_non_exhaustive()
    }
}

/// A secret key with its x-only public key precomputed (one point multiplication at construction).
///
/// Redacted `Debug` (shows only the public key); the libsecp256k1 keypair is erased on drop.
pub struct Keypair {
    inner: secp256k1::Keypair,
    public: PublicKey,
}

impl Keypair {
    /// Derives the public key of `sk` (one blinded point multiplication).
    pub fn new(sk: &SecretKey) -> Self {
        let inner = sk.with_secp(|secp_sk| {
            ctx::with_secret_ctx(|c| secp256k1::Keypair::from_secret_key(c, secp_sk))
        });
        let point = inner.x_only_public_key().0;
        let public = PublicKey {
            bytes: point.serialize(),
            point,
        };
        Keypair { inner, public }
    }

    /// A fresh random keypair.
    ///
    /// # Panics
    ///
    /// If the OS has no randomness.
    pub fn generate() -> Self {
        Self::new(&SecretKey::generate())
    }

    /// The x-only public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// A copy of the secret key (for sealing at rest or deriving encryption keys).
    pub fn secret_key(&self) -> SecretKey {
        let mut bytes = self.inner.secret_bytes();
        let sk = SecretKey(bytes);
        bytes.zeroize();
        sk
    }

    /// BIP-340 Schnorr signature of a 32-byte message (a Nostr event id) with 32 fresh random
    /// `aux_rand` bytes. Returns `r ‖ s`, 64 bytes.
    ///
    /// # Panics
    ///
    /// If the OS has no randomness.
    ///
    /// # Security
    ///
    /// Fresh aux randomness (as NIP-01 recommends) protects the nonce against fault and
    /// side-channel attacks; determinism is not needed.
    pub fn sign_schnorr(&self, msg: &[u8; 32]) -> [u8; 64] {
        self.sign_schnorr_with_aux(msg, &rng::array())
    }

    /// BIP-340 Schnorr signature with caller-supplied `aux_rand` (for test vectors).
    ///
    /// # Security
    ///
    /// Reusing `aux` is safe for BIP-340 but loses its side-channel protection: production code
    /// calls [`Keypair::sign_schnorr`].
    pub fn sign_schnorr_with_aux(&self, msg: &[u8; 32], aux: &[u8; 32]) -> [u8; 64] {
        ctx::with_secret_ctx(|c| c.sign_schnorr_with_aux_rand(msg, &self.inner, aux))
            .to_byte_array()
    }
}

impl Drop for Keypair {
    fn drop(&mut self) {
        self.inner.non_secure_erase();
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// BIP-340 verification of a 64-byte signature over a 32-byte message.
///
/// Returns `false` for any invalid signature (including `r >= p` or `s >= n`); `pk` is valid by
/// construction.
pub fn verify_schnorr(pk: &PublicKey, msg: &[u8; 32], sig: &[u8; 64]) -> bool {
    let sig = schnorr::Signature::from_byte_array(*sig);
    let xonly = pk.to_xonly();
    ctx::with_ctx(|c| c.verify_schnorr(&sig, msg, &xonly).is_ok())
}
