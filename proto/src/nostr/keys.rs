//! Secret keys and BIP-340 Schnorr signing: [`SecretKey`] and [`Keypair`] (public keys and
//! verification are the `event` crate's).
//!
//! Role: the only place that turns bytes into secret keys, so every secret scalar in bunkerd has
//! been validated once (in `[1, n-1]`).
//!
//! Must not: print, serialize or clone secret material (secret types have a redacted `Debug`, no
//! `Display`/`Serialize`, and are zeroized on drop); use the global secp256k1 context (see
//! [`Crypto`]).

use std::fmt;

use event::hex as lowhex;
use event::{Event, PublicKey, UnsignedEvent};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{Crypto, Error};

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;

/// 32-byte secp256k1 secret scalar in `[1, n-1]`, big-endian.
///
/// Redacted `Debug`; zeroized on drop; no `Display`, `Serialize` or `Clone`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A fresh key from `crypto`'s randomness.
    pub fn generate(crypto: &mut Crypto) -> Self {
        loop {
            // Out-of-range draws (probability about 2^-128) are retried, not reduced, to stay uniform.
            let candidate = Zeroizing::new(crypto.array::<32>());
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

    /// The x-only public key (one blinded point multiplication).
    pub fn public_key(&self, crypto: &mut Crypto) -> PublicKey {
        Keypair::new(self, crypto).public_key()
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
    pub fn new(sk: &SecretKey, crypto: &mut Crypto) -> Self {
        let inner = sk
            .with_secp(|secp_sk| secp256k1::Keypair::from_secret_key(crypto.secret_ctx(), secp_sk));
        let public = PublicKey::from_point(inner.x_only_public_key().0);
        Keypair { inner, public }
    }

    /// A fresh random keypair.
    pub fn generate(crypto: &mut Crypto) -> Self {
        Self::new(&SecretKey::generate(crypto), crypto)
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
    /// `aux_rand` bytes from `crypto`. Returns `r ‖ s`, 64 bytes.
    ///
    /// # Security
    ///
    /// Fresh aux randomness (as NIP-01 recommends) protects the nonce against fault and
    /// side-channel attacks; determinism is not needed.
    pub fn sign_schnorr(&self, msg: &[u8; 32], crypto: &mut Crypto) -> [u8; 64] {
        let aux = crypto.array();
        self.sign_schnorr_with_aux(msg, &aux, crypto)
    }

    /// BIP-340 Schnorr signature with caller-supplied `aux_rand` (for test vectors).
    ///
    /// # Security
    ///
    /// Reusing `aux` is safe for BIP-340 but loses its side-channel protection: production code
    /// calls [`Keypair::sign_schnorr`].
    pub fn sign_schnorr_with_aux(
        &self,
        msg: &[u8; 32],
        aux: &[u8; 32],
        crypto: &mut Crypto,
    ) -> [u8; 64] {
        crypto
            .secret_ctx()
            .sign_schnorr_with_aux_rand(msg, &self.inner, aux)
            .to_byte_array()
    }
}

impl Keypair {
    /// Signs `unsigned` as this key's event: fills `pubkey`, computes the id and signs it
    /// (BIP-340, fresh aux randomness from `crypto`).
    pub fn sign_event(&self, unsigned: UnsignedEvent, crypto: &mut Crypto) -> Event {
        unsigned.into_event(self.public_key(), |id| self.sign_schnorr(id, crypto))
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
