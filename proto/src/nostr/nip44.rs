//! NIP-44 v2 encrypted payloads (`docs/protocol-notes.md` §6): secp256k1 ECDH, HKDF-SHA256,
//! padding, ChaCha20, HMAC-SHA256, base64; version byte `2`.
//!
//! Role: the transport encryption of NIP-46 and the `nip44_encrypt`/`nip44_decrypt` methods.
//!
//! Local size policy (`docs/protocol-notes.md` §11.11): we *decrypt* both length-prefix forms
//! (2-byte, and the June-2026 6-byte form for plaintexts >= 65536 bytes) up to
//! [`MAX_DECRYPT_PAYLOAD`], but [`encrypt`] produces only the 2-byte form
//! (<= [`MAX_ENCRYPT_PLAINTEXT`] bytes), because several deployed clients reject the extended form.
//!
//! Must not: hash the ECDH output (raw x only), reuse a nonce, compare MACs in variable time, or
//! report a `#`-prefixed payload as bad base64. Main types: [`ConversationKey`], [`Error`].

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{Crypto, PublicKey, SecretKey};

#[cfg(test)]
#[path = "nip44_tests.rs"]
mod tests;

/// NIP-44 v2 failures, in the order decryption checks them.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Empty payload, a payload starting with `#` (reserved non-base64 encoding), or a version
    /// byte other than 2.
    #[error("unknown version")]
    UnknownVersion,
    /// Base64 payload shorter than 132 chars or longer than [`MAX_DECRYPT_PAYLOAD`].
    #[error("invalid payload size")]
    InvalidPayloadSize,
    /// Not canonical standard base64 with `=` padding.
    #[error("invalid base64")]
    InvalidBase64,
    /// Decoded payload shorter than 99 bytes (version + nonce + minimal padded text + MAC).
    #[error("invalid data size")]
    InvalidDataSize,
    /// The HMAC does not match (wrong key or tampered payload).
    #[error("invalid mac")]
    InvalidMac,
    /// The decrypted length prefix or padding is inconsistent.
    #[error("invalid padding")]
    InvalidPadding,
    /// The decrypted plaintext is not UTF-8.
    #[error("invalid utf-8")]
    InvalidUtf8,
    /// Empty plaintexts cannot be encrypted (NIP-44 minimum is 1 byte).
    #[error("message empty")]
    MessageEmpty,
    /// Plaintext above the allowed maximum ([`MAX_ENCRYPT_PLAINTEXT`], or 2^32-1 in extended form).
    #[error("message too long")]
    MessageTooLong,
    /// ECDH failed (the keys are validated types, so this indicates a library fault).
    #[error("invalid key")]
    InvalidKey,
}

impl Error {
    /// Stable snake_case code, prefixed `nip44_`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownVersion => "nip44_unknown_version",
            Error::InvalidPayloadSize => "nip44_invalid_payload_size",
            Error::InvalidBase64 => "nip44_invalid_base64",
            Error::InvalidDataSize => "nip44_invalid_data_size",
            Error::InvalidMac => "nip44_invalid_mac",
            Error::InvalidPadding => "nip44_invalid_padding",
            Error::InvalidUtf8 => "nip44_invalid_utf8",
            Error::MessageEmpty => "nip44_message_empty",
            Error::MessageTooLong => "nip44_message_too_long",
            Error::InvalidKey => "nip44_invalid_key",
        }
    }
}

/// Largest plaintext [`encrypt`] accepts: 65535 bytes, the 2-byte-prefix form that every deployed
/// client can decrypt (`docs/protocol-notes.md` §11.11).
pub const MAX_ENCRYPT_PLAINTEXT: usize = 65535;

/// Largest base64 payload [`decrypt`] accepts, checked before decoding (DoS bound): 262144 chars
/// (256 KiB), which decodes to at most 196608 bytes.
///
/// Why this number: it admits the extended-prefix test payloads of NIP-44
/// (`docs/protocol-notes.md` §6.5; up to 109324 chars) and any plaintext up to 163840 bytes (a
/// 131072-byte plaintext needs 174860 chars), three times the old 87472-char cap, while bounding
/// the allocation per payload to under 200 KB.
pub const MAX_DECRYPT_PAYLOAD: usize = 262_144;

/// Version byte of this scheme.
const VERSION: u8 = 2;
/// Plaintexts of this length or more use the 6-byte length prefix.
const EXTENDED_PREFIX_THRESHOLD: usize = 65536;
/// Largest plaintext representable at all (u32 length).
const MAX_EXTENDED_PLAINTEXT: usize = u32::MAX as usize;
/// Smallest payload: base64 of 99 bytes.
const MIN_PAYLOAD: usize = 132;
/// Smallest decoded payload: version (1) + nonce (32) + prefix (2) + padded text (32) + MAC (32).
const MIN_DATA: usize = 99;

/// 32-byte conversation key: HKDF-extract of the raw ECDH x with salt `nip44-v2`.
///
/// Redacted `Debug`; zeroized on drop. `Clone` because sessions cache it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ConversationKey([u8; 32]);

impl ConversationKey {
    /// `HKDF-Extract(SHA-256, salt = "nip44-v2", IKM = x(sk · lift_x(pk)))`. Symmetric:
    /// `derive(a, B) == derive(b, A)`.
    ///
    /// # Errors
    ///
    /// None in practice (both keys are validated types); [`Error::InvalidKey`] is reserved for a
    /// library fault.
    ///
    /// # Security
    ///
    /// Uses the unhashed x coordinate (libsecp256k1's default ECDH hash would be incompatible);
    /// the shared secret is zeroized after use.
    pub fn derive(sk: &SecretKey, pk: &PublicKey) -> Result<Self, Error> {
        let shared_x = sk.ecdh_x(pk);
        let (mut prk, _) = Hkdf::<Sha256>::extract(Some(b"nip44-v2"), &shared_x[..]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&prk);
        prk.as_mut_slice().zeroize();
        Ok(ConversationKey(key))
    }

    /// Wraps 32 raw bytes (a cached or test-vector key).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        ConversationKey(b)
    }

    /// The raw 32 bytes.
    ///
    /// # Security
    ///
    /// Secret: only for sealing at rest or test vectors.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConversationKey").finish_non_exhaustive()
    }
}

/// Per-message keys: `HKDF-Expand(conversation_key, info = nonce, 76)` split 32/12/32.
#[derive(Zeroize, ZeroizeOnDrop)]
struct MessageKeys {
    chacha_key: [u8; 32],
    chacha_nonce: [u8; 12],
    hmac_key: [u8; 32],
}

fn message_keys(ck: &ConversationKey, nonce: &[u8; 32]) -> MessageKeys {
    let hk = Hkdf::<Sha256>::from_prk(&ck.0).expect("a 32-byte PRK is long enough");
    let mut okm = Zeroizing::new([0u8; 76]);
    hk.expand(nonce, &mut okm[..])
        .expect("76 bytes is within HKDF's limit");
    let mut keys = MessageKeys {
        chacha_key: [0; 32],
        chacha_nonce: [0; 12],
        hmac_key: [0; 32],
    };
    keys.chacha_key.copy_from_slice(&okm[..32]);
    keys.chacha_nonce.copy_from_slice(&okm[32..44]);
    keys.hmac_key.copy_from_slice(&okm[44..]);
    keys
}

/// Padded length of an `n`-byte plaintext (`n >= 1`; 0 also yields 32). 64-bit because the
/// extended form reaches 2^32.
pub fn calc_padded_len(n: u64) -> u64 {
    if n <= 32 {
        return 32;
    }
    // floor(log2(n - 1)) + 1 is the bit length of n - 1.
    let next_power = 1u64 << (64 - (n - 1).leading_zeros());
    let chunk = if next_power <= 256 {
        32
    } else {
        next_power / 8
    };
    chunk * ((n - 1) / chunk + 1)
}

/// Encrypts `plaintext` with a fresh random 32-byte nonce from `crypto`, 2-byte prefix form only.
///
/// # Errors
///
/// [`Error::MessageEmpty`] for `""`; [`Error::MessageTooLong`] above [`MAX_ENCRYPT_PLAINTEXT`]
/// bytes (local policy, see the module docs).
pub fn encrypt(
    ck: &ConversationKey,
    plaintext: &str,
    crypto: &mut Crypto,
) -> Result<String, Error> {
    encrypt_with_nonce(ck, plaintext, &crypto.array())
}

/// [`encrypt`] with a caller-chosen nonce, for test vectors.
///
/// # Errors
///
/// As [`encrypt`].
///
/// # Security
///
/// A nonce must never be reused with the same conversation key; production code calls [`encrypt`].
pub fn encrypt_with_nonce(
    ck: &ConversationKey,
    plaintext: &str,
    nonce: &[u8; 32],
) -> Result<String, Error> {
    seal(ck, plaintext.as_bytes(), nonce, MAX_ENCRYPT_PLAINTEXT)
}

/// Like [`encrypt_with_nonce`] but allows the extended (6-byte prefix) form, up to 2^32-1 bytes.
/// Used only by tests of the extended vectors: bunkerd never sends this form.
///
/// # Errors
///
/// [`Error::MessageEmpty`] for `""`; [`Error::MessageTooLong`] above 2^32-1 bytes.
///
/// # Security
///
/// As [`encrypt_with_nonce`].
pub fn encrypt_extended_with_nonce(
    ck: &ConversationKey,
    plaintext: &str,
    nonce: &[u8; 32],
) -> Result<String, Error> {
    seal(ck, plaintext.as_bytes(), nonce, MAX_EXTENDED_PLAINTEXT)
}

fn seal(
    ck: &ConversationKey,
    plaintext: &[u8],
    nonce: &[u8; 32],
    max_len: usize,
) -> Result<String, Error> {
    if plaintext.is_empty() {
        return Err(Error::MessageEmpty);
    }
    if plaintext.len() > max_len {
        return Err(Error::MessageTooLong);
    }
    let keys = message_keys(ck, nonce);
    // One buffer: version ‖ nonce ‖ padded plaintext (encrypted in place) ‖ mac.
    let mut data = Zeroizing::new(Vec::with_capacity(
        1 + 32 + 6 + padded_len(plaintext.len()) + 32,
    ));
    data.push(VERSION);
    data.extend_from_slice(nonce);
    pad_into(&mut data, plaintext);
    ChaCha20::new((&keys.chacha_key).into(), (&keys.chacha_nonce).into())
        .apply_keystream(&mut data[33..]);
    let mac = compute_mac(&keys.hmac_key, nonce, &data[33..]);
    data.extend_from_slice(&mac);
    Ok(STANDARD.encode(&data[..]))
}

fn padded_len(len: usize) -> usize {
    usize::try_from(calc_padded_len(len as u64)).expect("padded length fits in memory")
}

/// Appends the length prefix, the plaintext and zero padding up to `calc_padded_len`.
fn pad_into(out: &mut Vec<u8>, plaintext: &[u8]) {
    let len = plaintext.len();
    // Lengths below EXTENDED_PREFIX_THRESHOLD (2^16) are exactly those that fit in a u16.
    if let Ok(short) = u16::try_from(len) {
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        let long = u32::try_from(len).expect("seal caps plaintexts at u32::MAX bytes");
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&long.to_be_bytes());
    }
    out.extend_from_slice(plaintext);
    out.resize(out.len() + padded_len(len) - len, 0);
}

fn compute_mac(hmac_key: &[u8; 32], nonce: &[u8], ciphertext: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(hmac_key).expect("HMAC takes any key size");
    mac.update(nonce);
    mac.update(ciphertext);
    mac.finalize().into_bytes().into()
}

/// Decrypts a NIP-44 v2 payload (either length-prefix form).
///
/// # Errors
///
/// In the order checked: [`Error::UnknownVersion`] (empty or `#…`), [`Error::InvalidPayloadSize`]
/// (< 132 or > [`MAX_DECRYPT_PAYLOAD`] chars), [`Error::InvalidBase64`], [`Error::InvalidDataSize`],
/// [`Error::UnknownVersion`] (version byte != 2), [`Error::InvalidMac`], [`Error::InvalidPadding`],
/// [`Error::InvalidUtf8`].
///
/// # Security
///
/// The MAC is verified in constant time before anything is decrypted; decrypted bytes are zeroized
/// on every error path.
pub fn decrypt(ck: &ConversationKey, payload: &str) -> Result<String, Error> {
    let mut data = decode_payload(payload)?;
    let mac_start = data.len() - 32;
    let (head, mac) = data.split_at_mut(mac_start);
    let (version_and_nonce, ciphertext) = head.split_at_mut(33);
    let mut nonce = [0u8; 32];
    nonce.copy_from_slice(&version_and_nonce[1..]);
    let keys = message_keys(ck, &nonce);
    let expected = compute_mac(&keys.hmac_key, &nonce, ciphertext);
    if !bool::from(expected.ct_eq(mac)) {
        return Err(Error::InvalidMac);
    }
    ChaCha20::new((&keys.chacha_key).into(), (&keys.chacha_nonce).into())
        .apply_keystream(ciphertext);
    let plaintext = unpad(ciphertext)?;
    let text = std::str::from_utf8(plaintext).map_err(|_| Error::InvalidUtf8)?;
    Ok(text.to_owned())
}

/// Steps 1–4 of `docs/protocol-notes.md` §6.4: size and encoding checks, then base64 and version
/// byte.
fn decode_payload(payload: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    if payload.is_empty() || payload.starts_with('#') {
        return Err(Error::UnknownVersion);
    }
    if payload.len() < MIN_PAYLOAD || payload.len() > MAX_DECRYPT_PAYLOAD {
        return Err(Error::InvalidPayloadSize);
    }
    let data = Zeroizing::new(STANDARD.decode(payload).map_err(|_| Error::InvalidBase64)?);
    if data.len() < MIN_DATA {
        return Err(Error::InvalidDataSize);
    }
    if data[0] != VERSION {
        return Err(Error::UnknownVersion);
    }
    Ok(data)
}

/// Returns the plaintext inside a decrypted padded buffer, checking prefix and padding length.
fn unpad(padded: &[u8]) -> Result<&[u8], Error> {
    let (len, prefix) = read_prefix(padded)?;
    let expected = (prefix as u64).checked_add(calc_padded_len(len as u64));
    if len == 0 || expected != Some(padded.len() as u64) {
        return Err(Error::InvalidPadding);
    }
    Ok(&padded[prefix..prefix + len])
}

/// Reads the length prefix: `(plaintext length, prefix size)`.
fn read_prefix(padded: &[u8]) -> Result<(usize, usize), Error> {
    let short = padded.get(..2).ok_or(Error::InvalidPadding)?;
    let short = usize::from(u16::from_be_bytes([short[0], short[1]]));
    if short != 0 {
        return Ok((short, 2));
    }
    let long = padded.get(2..6).ok_or(Error::InvalidPadding)?;
    let long = u32::from_be_bytes([long[0], long[1], long[2], long[3]]) as usize;
    // A zero short prefix announces the extended form, which is only valid for >= 65536 bytes.
    if long < EXTENDED_PREFIX_THRESHOLD {
        return Err(Error::InvalidPadding);
    }
    Ok((long, 6))
}
