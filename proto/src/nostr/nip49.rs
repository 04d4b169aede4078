//! NIP-49 `ncryptsec`: a secret key encrypted under a password, decrypted on import and
//! encrypted on export.
//!
//! Role: lets an admin import a user's key exported by a Nostr client as `ncryptsec1…`, and
//! export one (where the tenant allows it) for the person to take to another signer
//! (<https://github.com/nostr-protocol/nips/blob/master/49.md>). The payload is
//! `version 0x02 ‖ LOG_N ‖ salt (16) ‖ nonce (24) ‖ key_security (1) ‖ ciphertext (32) ‖ tag (16)`
//! (91 bytes, bech32 with HRP `ncryptsec`); the key is scrypt(NFKC(password), salt, N = 2^LOG_N,
//! r = 8, p = 1, 32 bytes) and the cipher XChaCha20-Poly1305 with the key-security byte as
//! associated data.
//!
//! Must not: encrypt below [`MIN_EXPORT_LOG_N`] or reuse a salt or nonce (both are fresh random
//! bytes per call); run scrypt before the whole string has been parsed and LOG_N checked against the caller's cap
//! ([`MAX_LOG_N`] by default, at most [`LOG_N_LIMIT`]); say anything about a failed decryption
//! beyond [`Nip49Error::WrongPassword`]; do I/O, read a clock or log. Main items: [`decrypt`],
//! [`decrypt_capped`], [`encrypt`], [`Ncryptsec`], [`KeySecurity`], [`Nip49Error`], [`MAX_LOG_N`],
//! [`scrypt_bytes`].

use std::fmt;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use chacha20poly1305::{AeadInPlace, Key, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use super::{Crypto, SecretKey};

#[cfg(test)]
#[path = "nip49_tests.rs"]
mod tests;

/// Default highest accepted scrypt cost exponent (N = 2^18), the cap of [`decrypt`] and
/// [`Ncryptsec::parse`]; a caller may choose another, up to [`LOG_N_LIMIT`] ([`decrypt_capped`]).
///
/// scrypt with r = 8 needs `128 · r · N = 2^(LOG_N + 10)` bytes of memory, allocated at once:
/// 64 MiB at LOG_N 16 (the default of nostr-tools and NDK, ≈ 100 ms on a fast machine per the
/// NIP-49 table), 256 MiB at 18, and 1 GiB at 20 (≈ 2 s; NDK's "higher security" option). 18 is
/// the bound: one admin request may not take a quarter of the shipped deployments' 1 GiB memory
/// limit, let alone all of it, and an `ncryptsec` made at 19 or more can be re-encrypted at 16 by
/// its owner before import. Callers run imports one at a time; a caller with a tighter budget
/// checks [`Ncryptsec::log_n`] before calling [`Ncryptsec::decrypt`].
pub const MAX_LOG_N: u8 = 18;

/// The lowest LOG_N [`encrypt`] accepts: 16 (64 MiB, the default of nostr-tools and NDK). An
/// exported key is offline-guessable for as long as it exists, so nothing cheaper is offered.
pub const MIN_EXPORT_LOG_N: u8 = 16;

/// The highest cap a caller may choose: LOG_N 20, 1 GiB of scrypt memory for one decryption.
pub const LOG_N_LIMIT: u8 = 20;

/// Bytes scrypt allocates at `log_n` with NIP-49's r = 8: `128 · r · 2^log_n` = `2^(log_n + 10)`
/// (256 MiB at 18, 1 GiB at 20). Saturates at `u64::MAX`.
pub fn scrypt_bytes(log_n: u8) -> u64 {
    1u64.checked_shl(u32::from(log_n) + 10).unwrap_or(u64::MAX)
}

/// The only payload version NIP-49 defines.
const VERSION: u8 = 0x02;
/// version (1) + LOG_N (1) + salt (16) + nonce (24) + key_security (1) + ciphertext (32) + tag (16).
const PAYLOAD_LEN: usize = 91;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
/// Ciphertext of the 32-byte key followed by the 16-byte Poly1305 tag.
const SEALED_LEN: usize = 48;
/// scrypt block size and parallelism fixed by NIP-49.
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
/// A v2 `ncryptsec` is 162 chars. Longer input is refused before the checksum is computed; the bound
/// is bech32's own code length, so a longer future version still reaches the version check.
const MAX_LEN: usize = 1023;

const NCRYPTSEC: Hrp = Hrp::parse_unchecked("ncryptsec");

/// Errors of NIP-49 decryption. `Display` texts are fixed and never echo the input or password.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nip49Error {
    /// Not a bech32 (BIP-173, not bech32m) string with HRP `ncryptsec`, mixed case, non-zero
    /// padding bits, a v2 payload that is not 91 bytes, or a key-security byte other than 0, 1, 2.
    #[error("invalid ncryptsec")]
    InvalidNcryptsec,
    /// The payload's first byte is not `0x02`, the only version NIP-49 defines.
    #[error("unsupported ncryptsec version")]
    UnsupportedVersion,
    /// LOG_N is above the cap ([`MAX_LOG_N`] unless the caller chose another); refused before any
    /// scrypt work or allocation.
    #[error("ncryptsec scrypt cost too high")]
    LogNTooHigh,
    /// The Poly1305 tag does not verify: a wrong password, or any byte of salt, nonce, LOG_N,
    /// key-security byte or ciphertext changed. The two cases cannot be told apart, by design.
    #[error("wrong password or corrupted ncryptsec")]
    WrongPassword,
    /// The tag verified but the 32 decrypted bytes are 0 or not below the secp256k1 order.
    #[error("ncryptsec holds an invalid secret key")]
    InvalidSecretKey,
}

impl Nip49Error {
    /// Stable snake_case code for metric labels and fixed API error strings.
    pub fn code(&self) -> &'static str {
        match self {
            Nip49Error::InvalidNcryptsec => "invalid_ncryptsec",
            Nip49Error::UnsupportedVersion => "unsupported_version",
            Nip49Error::LogNTooHigh => "log_n_too_high",
            Nip49Error::WrongPassword => "wrong_password",
            Nip49Error::InvalidSecretKey => "invalid_secret_key",
        }
    }
}

/// NIP-49 key-security byte: what the exporting client knew about the key's past handling. It is
/// the AEAD associated data, so it is authenticated once [`Ncryptsec::decrypt`] succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySecurity {
    /// `0x00`: the key is known to have been handled insecurely (stored or pasted unencrypted).
    HandledInsecurely,
    /// `0x01`: the key is not known to have been handled insecurely.
    NotKnownInsecure,
    /// `0x02`: the client does not track this.
    Untracked,
}

impl KeySecurity {
    /// The wire byte: `0x00`, `0x01` or `0x02`.
    pub fn as_byte(self) -> u8 {
        match self {
            KeySecurity::HandledInsecurely => 0x00,
            KeySecurity::NotKnownInsecure => 0x01,
            KeySecurity::Untracked => 0x02,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x00 => Some(KeySecurity::HandledInsecurely),
            0x01 => Some(KeySecurity::NotKnownInsecure),
            0x02 => Some(KeySecurity::Untracked),
            _ => None,
        }
    }
}

/// A parsed v2 `ncryptsec` whose LOG_N is at most the cap it was parsed with; nothing is decrypted
/// yet.
///
/// Parsing is cheap and needs no password, so an API can show or check [`Ncryptsec::log_n`] and
/// [`Ncryptsec::key_security`] before paying for scrypt. `Debug` shows only those two fields: the
/// salt, nonce and ciphertext are what an offline password guesser needs.
pub struct Ncryptsec {
    log_n: u8,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    key_security: KeySecurity,
    sealed: [u8; SEALED_LEN],
}

impl Ncryptsec {
    /// Parses `ncryptsec1…` (all lowercase or all uppercase) without running scrypt.
    ///
    /// # Errors
    ///
    /// [`Nip49Error::InvalidNcryptsec`] for anything that is not bech32 with HRP `ncryptsec`
    /// (including a bech32m checksum, mixed case, non-zero padding, over 1023 chars), a v2 payload
    /// that is not 91 bytes, or a key-security byte above `0x02`;
    /// [`Nip49Error::UnsupportedVersion`] if the first payload byte is not `0x02`;
    /// [`Nip49Error::LogNTooHigh`] if LOG_N is above [`MAX_LOG_N`].
    pub fn parse(s: &str) -> Result<Self, Nip49Error> {
        Self::parse_capped(s, MAX_LOG_N)
    }

    /// [`Ncryptsec::parse`] with the cap `max_log_n` (itself capped at [`LOG_N_LIMIT`]) instead of
    /// [`MAX_LOG_N`].
    ///
    /// # Errors
    ///
    /// As [`Ncryptsec::parse`]; [`Nip49Error::LogNTooHigh`] if LOG_N is above
    /// `min(max_log_n, LOG_N_LIMIT)`.
    pub fn parse_capped(s: &str, max_log_n: u8) -> Result<Self, Nip49Error> {
        let payload = decode_bech32(s)?;
        match payload.first() {
            Some(&VERSION) => {}
            Some(_) => return Err(Nip49Error::UnsupportedVersion),
            None => return Err(Nip49Error::InvalidNcryptsec),
        }
        let p: &[u8; PAYLOAD_LEN] = payload
            .as_slice()
            .try_into()
            .map_err(|_| Nip49Error::InvalidNcryptsec)?;
        let log_n = p[1];
        if log_n > max_log_n.min(LOG_N_LIMIT) {
            return Err(Nip49Error::LogNTooHigh);
        }
        let key_security = KeySecurity::from_byte(p[42]).ok_or(Nip49Error::InvalidNcryptsec)?;
        let mut out = Ncryptsec {
            log_n,
            salt: [0; SALT_LEN],
            nonce: [0; NONCE_LEN],
            key_security,
            sealed: [0; SEALED_LEN],
        };
        out.salt.copy_from_slice(&p[2..18]);
        out.nonce.copy_from_slice(&p[18..42]);
        out.sealed.copy_from_slice(&p[43..]);
        Ok(out)
    }

    /// The scrypt cost exponent (N = 2^LOG_N), at most the cap it was parsed with; decrypting allocates
    /// `2^(LOG_N + 10)` bytes.
    pub fn log_n(&self) -> u8 {
        self.log_n
    }

    /// The key-security byte as sent. Authenticated only once [`Ncryptsec::decrypt`] succeeds.
    pub fn key_security(&self) -> KeySecurity {
        self.key_security
    }

    /// Derives the key from `password` (NFKC-normalised, NIP-49 "Symmetric Encryption Key
    /// derivation") and decrypts the 32-byte secret key.
    ///
    /// Takes `2^(LOG_N + 10)` bytes of memory and, at LOG_N 16, about 100 ms of CPU: call it off
    /// async threads (`spawn_blocking`).
    ///
    /// # Errors
    ///
    /// [`Nip49Error::WrongPassword`] if the tag does not verify (wrong password or altered data);
    /// [`Nip49Error::InvalidSecretKey`] if the plaintext is not a valid secp256k1 scalar.
    ///
    /// # Security
    ///
    /// The normalised password, the scrypt output and the plaintext live in buffers zeroized on
    /// drop, and the cipher wipes its key copy. Not wiped, because the libraries own them: the
    /// few-character look-ahead buffer of the NFKC iterator and scrypt's internal working memory
    /// (its PBKDF2 state and the `128 · r · N`-byte table). The caller owns and wipes `password`.
    pub fn decrypt(&self, password: &str) -> Result<SecretKey, Nip49Error> {
        let key = derive_key(password, &self.salt, self.log_n)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&key[..]));
        let mut plain = Zeroizing::new([0u8; 32]);
        plain.copy_from_slice(&self.sealed[..32]);
        cipher
            .decrypt_in_place_detached(
                XNonce::from_slice(&self.nonce),
                &[self.key_security.as_byte()],
                &mut plain[..],
                Tag::from_slice(&self.sealed[32..]),
            )
            .map_err(|_| Nip49Error::WrongPassword)?;
        SecretKey::from_bytes(&plain).map_err(|_| Nip49Error::InvalidSecretKey)
    }
}

/// Encrypts `secret` under `password` as a v2 `ncryptsec1…` (162 lowercase characters): fresh
/// 16-byte salt and 24-byte nonce from `crypto`'s randomness, scrypt at `log_n` (NFKC-normalised password, as
/// [`Ncryptsec::decrypt`]), XChaCha20-Poly1305 with the `key_security` byte as associated data.
///
/// Takes `2^(log_n + 10)` bytes of memory and, at LOG_N 16, about 100 ms of CPU: call it off async
/// threads.
///
/// # Errors
///
/// [`Nip49Error::LogNTooHigh`] when `log_n` is below [`MIN_EXPORT_LOG_N`] or above
/// [`LOG_N_LIMIT`] (no work done).
///
/// # Security
///
/// As [`Ncryptsec::decrypt`]: the normalised password, the scrypt output and the plaintext copy
/// live in buffers zeroized on drop. The result is safe to show only to whoever chose `password`.
pub fn encrypt(
    secret: &SecretKey,
    password: &str,
    log_n: u8,
    key_security: KeySecurity,
    crypto: &mut Crypto,
) -> Result<String, Nip49Error> {
    if !(MIN_EXPORT_LOG_N..=LOG_N_LIMIT).contains(&log_n) {
        return Err(Nip49Error::LogNTooHigh);
    }
    let salt: [u8; SALT_LEN] = crypto.array();
    let nonce: [u8; NONCE_LEN] = crypto.array();
    let key = derive_key(password, &salt, log_n)?;
    let cipher = XChaCha20Poly1305::new(Key::from_slice(&key[..]));
    let mut sealed = Zeroizing::new([0u8; 32]);
    sealed.copy_from_slice(secret.expose_bytes());
    let tag = cipher
        .encrypt_in_place_detached(
            XNonce::from_slice(&nonce),
            &[key_security.as_byte()],
            &mut sealed[..],
        )
        .map_err(|_| Nip49Error::InvalidNcryptsec)?;
    let mut payload = Vec::with_capacity(PAYLOAD_LEN);
    payload.extend_from_slice(&[VERSION, log_n]);
    payload.extend_from_slice(&salt);
    payload.extend_from_slice(&nonce);
    payload.push(key_security.as_byte());
    payload.extend_from_slice(&sealed[..]);
    payload.extend_from_slice(&tag);
    bech32::encode::<Bech32>(NCRYPTSEC, &payload).map_err(|_| Nip49Error::InvalidNcryptsec)
}

impl fmt::Debug for Ncryptsec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ncryptsec")
            .field("log_n", &self.log_n)
            .field("key_security", &self.key_security)
            .finish_non_exhaustive()
    }
}

/// Decrypts an `ncryptsec1…` string with `password` ([`Ncryptsec::parse`] then
/// [`Ncryptsec::decrypt`]).
///
/// # Errors
///
/// Every error of [`Ncryptsec::parse`] (before any scrypt work), then of [`Ncryptsec::decrypt`].
///
/// # Security
///
/// See [`Ncryptsec::decrypt`]: costs up to 256 MiB ([`scrypt_bytes`]) and about half a second of
/// CPU at [`MAX_LOG_N`].
pub fn decrypt(ncryptsec: &str, password: &str) -> Result<SecretKey, Nip49Error> {
    Ncryptsec::parse(ncryptsec)?.decrypt(password)
}

/// [`decrypt`] with the cap `max_log_n` ([`Ncryptsec::parse_capped`]): an `ncryptsec` above it is
/// refused before scrypt allocates anything.
///
/// # Errors
///
/// As [`decrypt`].
pub fn decrypt_capped(
    ncryptsec: &str,
    password: &str,
    max_log_n: u8,
) -> Result<SecretKey, Nip49Error> {
    Ncryptsec::parse_capped(ncryptsec, max_log_n)?.decrypt(password)
}

/// Checks the bech32 checksum, HRP and padding, and returns the payload bytes (public data).
fn decode_bech32(s: &str) -> Result<Vec<u8>, Nip49Error> {
    if s.len() > MAX_LEN {
        return Err(Nip49Error::InvalidNcryptsec);
    }
    let checked = CheckedHrpstring::new::<Bech32>(s).map_err(|_| Nip49Error::InvalidNcryptsec)?;
    if checked.hrp() != NCRYPTSEC || checked.validate_segwit_padding().is_err() {
        return Err(Nip49Error::InvalidNcryptsec);
    }
    Ok(checked.byte_iter().collect())
}

/// The password in Unicode NFKC (NIP-49 requires it so a password typed on another system derives
/// the same key), in a buffer zeroized on drop. A full buffer is replaced by a larger zeroizing one
/// rather than grown in place, so no reallocation leaves a copy behind.
fn normalize_password(password: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(password.len() + 16));
    for c in password.nfkc() {
        if out.len() + c.len_utf8() > out.capacity() {
            let mut bigger = Zeroizing::new(String::with_capacity(out.capacity() * 2));
            bigger.push_str(&out);
            out = bigger;
        }
        out.push(c);
    }
    out
}

/// scrypt(NFKC(password), salt, N = 2^log_n, r = 8, p = 1) → 32-byte key, zeroized on drop.
fn derive_key(
    password: &str,
    salt: &[u8; SALT_LEN],
    log_n: u8,
) -> Result<Zeroizing<[u8; 32]>, Nip49Error> {
    // Only `log_n >= 16 · r = 128` makes the parameters invalid, far above MAX_LOG_N.
    let params =
        scrypt::Params::new(log_n, SCRYPT_R, SCRYPT_P, 32).map_err(|_| Nip49Error::LogNTooHigh)?;
    let normalized = normalize_password(password);
    let mut key = Zeroizing::new([0u8; 32]);
    // A 32-byte output is always a valid length.
    scrypt::scrypt(normalized.as_bytes(), salt, &params, &mut key[..])
        .map_err(|_| Nip49Error::InvalidNcryptsec)?;
    Ok(key)
}
