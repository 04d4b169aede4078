//! NIP-04 legacy encrypted payloads (`docs/protocol-notes.md` §7): AES-256-CBC with PKCS#7,
//! key = raw ECDH x, wire form `<base64 ciphertext>?iv=<base64 iv>`.
//!
//! Role: the `nip04_encrypt`/`nip04_decrypt` methods and the NIP-46 transport of old clients that
//! still send NIP-04 (`docs/protocol-notes.md` §11.1: answer in the scheme the request used).
//!
//! Must not: hash the ECDH output, or pretend the scheme is authenticated: there is no MAC, so a
//! tampered payload is only caught when its padding or UTF-8 breaks. Main types: [`SharedKey`],
//! [`Error`].

use std::fmt;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{Crypto, PublicKey, SecretKey};

#[cfg(test)]
#[path = "nip04_tests.rs"]
mod tests;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// NIP-04 failures.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No `?iv=` separator.
    #[error("invalid format")]
    InvalidFormat,
    /// The ciphertext or IV part is not standard base64 with padding.
    #[error("invalid base64")]
    InvalidBase64,
    /// The IV does not decode to 16 bytes.
    #[error("invalid iv")]
    InvalidIv,
    /// Empty or non-block-sized ciphertext, or bad PKCS#7 padding (usually a wrong key).
    #[error("decrypt failed")]
    DecryptFailed,
    /// The decrypted plaintext is not UTF-8.
    #[error("invalid utf-8")]
    InvalidUtf8,
    /// ECDH failed (the keys are validated types, so this indicates a library fault).
    #[error("invalid key")]
    InvalidKey,
    /// Payload longer than [`MAX_PAYLOAD`] chars.
    #[error("payload too long")]
    TooLong,
}

impl Error {
    /// Stable snake_case code, prefixed `nip04_`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidFormat => "nip04_invalid_format",
            Error::InvalidBase64 => "nip04_invalid_base64",
            Error::InvalidIv => "nip04_invalid_iv",
            Error::DecryptFailed => "nip04_decrypt_failed",
            Error::InvalidUtf8 => "nip04_invalid_utf8",
            Error::InvalidKey => "nip04_invalid_key",
            Error::TooLong => "nip04_too_long",
        }
    }
}

/// Largest payload [`decrypt`] accepts, checked before base64 decoding (DoS bound): 262144 chars.
///
/// Why this number: the same bound as NIP-44's [`super::nip44::MAX_DECRYPT_PAYLOAD`], so neither
/// scheme is the cheaper way to make us allocate; it admits plaintexts of about 196 KB (a
/// 65535-byte plaintext is about 87.4 K chars).
pub const MAX_PAYLOAD: usize = 262_144;

/// The 32-byte AES-256 key: the unhashed x coordinate of the ECDH point.
///
/// Redacted `Debug`; zeroized on drop; `Clone` so sessions can cache it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SharedKey([u8; 32]);

impl SharedKey {
    /// `x(sk · lift_x(pk))`, symmetric between the two parties.
    ///
    /// # Errors
    ///
    /// None in practice (both keys are validated types); [`Error::InvalidKey`] is reserved for a
    /// library fault.
    ///
    /// # Security
    ///
    /// Raw x, not libsecp256k1's default hashed ECDH (which would be silently incompatible).
    pub fn derive(sk: &SecretKey, pk: &PublicKey) -> Result<Self, Error> {
        Ok(SharedKey(*sk.ecdh_x(pk)))
    }
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKey").finish_non_exhaustive()
    }
}

/// Encrypts with a fresh random 16-byte IV from `crypto`. Any length is accepted (NIP-04 has no
/// cap).
///
/// # Security
///
/// Unauthenticated (no MAC): only for peers that cannot do NIP-44.
pub fn encrypt(key: &SharedKey, plaintext: &str, crypto: &mut Crypto) -> String {
    encrypt_with_iv(key, plaintext, &crypto.array())
}

/// [`encrypt`] with a caller-chosen IV, for test vectors.
///
/// # Security
///
/// Reusing an IV with the same key leaks equal plaintext prefixes; production code calls
/// [`encrypt`].
pub fn encrypt_with_iv(key: &SharedKey, plaintext: &str, iv: &[u8; 16]) -> String {
    let len = plaintext.len();
    // Room for up to one extra block of PKCS#7 padding; encrypted in place.
    let mut buf = Zeroizing::new(vec![0u8; (len / 16 + 1) * 16]);
    buf[..len].copy_from_slice(plaintext.as_bytes());
    let ciphertext = Aes256CbcEnc::new((&key.0).into(), iv.into())
        .encrypt_padded_mut::<Pkcs7>(&mut buf, len)
        .expect("buffer has room for the padding block");
    let mut out = STANDARD.encode(ciphertext);
    out.push_str("?iv=");
    STANDARD.encode_string(iv, &mut out);
    out
}

/// Decrypts `<base64 ciphertext>?iv=<base64 iv>`.
///
/// # Errors
///
/// [`Error::TooLong`] above [`MAX_PAYLOAD`] chars; [`Error::InvalidFormat`] without `?iv=`;
/// [`Error::InvalidBase64`] if either part is not base64; [`Error::InvalidIv`] if the IV is not 16
/// bytes; [`Error::DecryptFailed`] for an empty or non-block-sized ciphertext or bad padding;
/// [`Error::InvalidUtf8`].
///
/// # Security
///
/// Decrypted bytes are zeroized on every error path. A wrong key is usually, but not always,
/// detected (no MAC).
pub fn decrypt(key: &SharedKey, payload: &str) -> Result<String, Error> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Error::TooLong);
    }
    let (ct_b64, iv_b64) = payload.split_once("?iv=").ok_or(Error::InvalidFormat)?;
    let iv = STANDARD.decode(iv_b64).map_err(|_| Error::InvalidBase64)?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| Error::InvalidIv)?;
    let mut buf = Zeroizing::new(STANDARD.decode(ct_b64).map_err(|_| Error::InvalidBase64)?);
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(Error::DecryptFailed);
    }
    let plaintext = Aes256CbcDec::new((&key.0).into(), (&iv).into())
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .map_err(|_| Error::DecryptFailed)?;
    let text = std::str::from_utf8(plaintext).map_err(|_| Error::InvalidUtf8)?;
    Ok(text.to_owned())
}

/// True when `content` looks like NIP-04 (contains `?iv=`); NIP-44 payloads are pure base64 and can
/// never contain `?`. Used to pick the reply scheme.
pub fn is_nip04_payload(content: &str) -> bool {
    content.contains("?iv=")
}
