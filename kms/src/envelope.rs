//! Envelope encryption: AES-256-GCM data keys and the self-describing sealed record format.
//!
//! Role: seal opaque bytes under a 256-bit key and bind them to where they belong. Both layers of
//! the key hierarchy use it: a master key seals tenant data keys, a data key seals records.
//! What it must not do: choose keys or store anything, accept a record with an unknown version,
//! algorithm or key id (no fallback, ever), or reveal key bytes through `Debug`.
//!
//! Main types: [`DataKey`], [`Binding`].
//!
//! # Sealed record format (version 1)
//!
//! ```text
//! offset  size  field
//! 0       1     format version   = 1
//! 1       1     algorithm        = 1 (AES-256-GCM, 96-bit nonce, 128-bit tag)
//! 2       4     key id           u32 big-endian, the sealing key's id
//! 6       12    nonce            random from the OS CSPRNG, fresh for every seal
//! 18      n     ciphertext       same length as the plaintext
//! 18+n    16    tag              GCM authentication tag
//! ```
//!
//! The AES-GCM additional authenticated data (AAD) is
//! `"bunkerd kms envelope v1" ‖ header (bytes 0..6) ‖ field ‖ field ‖ field ‖ field`
//! where each field of the [`Binding`] (`record`, `tenant`, `owner`, `role`, in that order) is
//! written as a u16 big-endian byte length followed by its UTF-8 bytes. The length prefixes make
//! the encoding unambiguous (`("ab", "c")` and `("a", "bc")` differ), and authenticating the
//! header means a changed key id or version cannot slip past the tag either.
//!
//! Opening checks, in order: length ≥ 34 ([`Error::Truncated`]), version
//! ([`Error::UnknownVersion`]), algorithm ([`Error::UnknownAlgorithm`]), key id
//! ([`Error::UnknownKeyId`]), then the tag ([`Error::WrongKeyOrTampered`]).
//!
//! Random 96-bit nonces keep the collision probability below 2⁻³² for up to 2³² seals per key
//! (NIST SP 800-38D §8.3), far beyond what one tenant's data key seals.

use crate::Error;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::{AeadInPlace, Aes256Gcm, KeyInit};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Format version byte written at offset 0.
pub(crate) const VERSION: u8 = 1;
/// Algorithm byte for AES-256-GCM with a 96-bit nonce and 128-bit tag.
pub(crate) const ALG_AES_256_GCM: u8 = 1;
/// Version ‖ algorithm ‖ key id.
pub(crate) const HEADER_LEN: usize = 6;
/// GCM's recommended 96-bit nonce.
pub(crate) const NONCE_LEN: usize = 12;
/// Full 128-bit GCM tag; truncated tags are never used.
pub(crate) const TAG_LEN: usize = 16;
/// Shortest possible sealed record: an empty plaintext.
pub(crate) const MIN_SEALED_LEN: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;
/// Domain-separation label at the start of every AAD, so these tags can never be confused with
/// tags over the same key made for another purpose.
pub(crate) const AAD_LABEL: &[u8] = b"bunkerd kms envelope v1";
/// Label hashed with a data key to derive its key id.
const DATA_KEY_ID_LABEL: &[u8] = b"bunkerd data key id v1";

/// Where a sealed record belongs; every field goes into the AES-GCM AAD.
///
/// Fields are arbitrary UTF-8 strings of at most 65 535 bytes each (they are length-prefixed
/// with a u16 in the AAD, so the encoding is unambiguous). A record sealed with one binding opens
/// only with a byte-identical binding, so a record copied to another row, owner, tenant or role
/// fails with [`Error::WrongKeyOrTampered`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding<'a> {
    /// Record kind, e.g. `"user_secret_key"`.
    pub record: &'a str,
    /// Tenant id.
    pub tenant: &'a str,
    /// Owner within the tenant (e.g. a user id); `""` when the record has no owner.
    pub owner: &'a str,
    /// Role of the secret for that owner, e.g. `"user"` or `"remote_signer"`.
    pub role: &'a str,
}

impl Binding<'_> {
    /// The binding's fields as AAD input: each of `record`, `tenant`, `owner`, `role` as a u16
    /// big-endian byte length and its UTF-8 bytes. `None` if a field exceeds 65 535 bytes (such a
    /// binding cannot be encoded, so nothing can have been sealed with it).
    ///
    /// A master key receives exactly these bytes as the context of what it wraps.
    pub fn context(&self) -> Option<Vec<u8>> {
        let fields = [self.record, self.tenant, self.owner, self.role];
        let mut context = Vec::with_capacity(fields.iter().map(|f| 2 + f.len()).sum::<usize>());
        for field in fields {
            let field_len = u16::try_from(field.len()).ok()?;
            context.extend_from_slice(&field_len.to_be_bytes());
            context.extend_from_slice(field.as_bytes());
        }
        Some(context)
    }
}

/// The AAD of a record with this `header` sealed for `context`:
/// `"bunkerd kms envelope v1" ‖ header ‖ context`.
fn aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + header.len() + context.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(header);
    aad.extend_from_slice(context);
    aad
}

/// A 256-bit AES-256-GCM data key (DEK) with its key id.
///
/// The AES key schedule is computed once, when the key is built, because opening records is on
/// the request hot path. Debug output is redacted; the key bytes and the key schedule are
/// zeroized on drop. Not `Clone`: share it behind an `Arc`.
pub struct DataKey {
    bytes: [u8; 32],
    cipher: Aes256Gcm,
    id: u32,
}

impl DataKey {
    /// A fresh random key: 32 bytes from the OS CSPRNG (`getrandom`).
    ///
    /// Its id is a key check value: the first 4 bytes (big-endian u32) of
    /// SHA-256(`"bunkerd data key id v1"` ‖ key). It identifies the key without revealing it.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails: there is no safe way to
    /// continue without randomness.
    ///
    /// # Security
    ///
    /// Key quality is exactly that of the OS CSPRNG.
    pub fn generate() -> DataKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(bytes.as_mut());
        let id = key_check_value(DATA_KEY_ID_LABEL, &bytes);
        DataKey::from_bytes(*bytes, id)
    }

    /// A key from 32 raw bytes, with `id` as the key id written into every record it seals.
    ///
    /// # Security
    ///
    /// The caller must zeroize its own copy of `bytes`; this value zeroizes the one it keeps.
    pub fn from_bytes(bytes: [u8; 32], id: u32) -> DataKey {
        let cipher = Aes256Gcm::new(GenericArray::from_slice(&bytes));
        DataKey { bytes, cipher, id }
    }

    /// The key id written (big-endian) at offset 2 of every record this key seals.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The raw 32 key bytes, for wrapping this key with a master key only.
    ///
    /// # Security
    ///
    /// Never log, display, store or send these bytes unwrapped; the only intended use is as the
    /// plaintext handed to [`crate::MasterKey::wrap`].
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Seals `plaintext` into a version-1 record (see the module docs for the byte layout),
    /// bound to `binding`. Output length is `plaintext.len() + 34` bytes.
    ///
    /// # Panics
    ///
    /// If a [`Binding`] field is longer than 65 535 bytes (a caller bug: bindings are ids), if
    /// the OS random number generator fails, or if `plaintext` exceeds AES-GCM's 64 GiB limit.
    ///
    /// # Security
    ///
    /// A fresh random 96-bit nonce is drawn for every call, so sealing the same plaintext twice
    /// gives different records.
    pub fn seal(&self, plaintext: &[u8], binding: &Binding<'_>) -> Vec<u8> {
        let context = binding
            .context()
            .expect("binding field longer than 65535 bytes");
        self.seal_for(plaintext, &context)
    }

    /// Seals `plaintext` like [`DataKey::seal`], bound to raw `context` bytes instead of a
    /// [`Binding`] (a binding's context is [`Binding::context`], so both forms agree).
    ///
    /// # Panics
    ///
    /// If the OS random number generator fails, or `plaintext` exceeds AES-GCM's 64 GiB limit.
    pub fn seal_for(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let header = self.header();
        let aad = aad(&header, context);
        let mut out = Vec::with_capacity(MIN_SEALED_LEN + plaintext.len());
        out.extend_from_slice(&header);
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let body = &mut out[HEADER_LEN + NONCE_LEN..];
        let tag = self
            .cipher
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &aad, body)
            .expect("plaintext within the AES-GCM length limit");
        out.extend_from_slice(&tag);
        out
    }

    /// Opens a record sealed by [`DataKey::seal`] with this key and the same `binding`.
    ///
    /// # Errors
    ///
    /// Checked in this order, and never with a fallback:
    /// - [`Error::Truncated`]: `sealed` is shorter than 34 bytes.
    /// - [`Error::UnknownVersion`]: byte 0 is not 1.
    /// - [`Error::UnknownAlgorithm`]: byte 1 is not 1 (AES-256-GCM).
    /// - [`Error::UnknownKeyId`]: bytes 2..6 are not this key's id.
    /// - [`Error::WrongKeyOrTampered`]: the tag does not verify (another key with a colliding
    ///   id, any changed byte, or a different binding).
    ///
    /// # Security
    ///
    /// No plaintext is released unless the tag verifies (the tag check is constant time in
    /// `aes-gcm`); the returned buffer is zeroized on drop.
    pub fn open(&self, sealed: &[u8], binding: &Binding<'_>) -> Result<Zeroizing<Vec<u8>>, Error> {
        let context = binding.context().ok_or(Error::WrongKeyOrTampered)?;
        self.open_for(sealed, &context)
    }

    /// Opens a record sealed by [`DataKey::seal_for`] with the same `context`.
    ///
    /// # Errors
    ///
    /// As [`DataKey::open`].
    pub fn open_for(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let parts = Parts::parse(sealed)?;
        if parts.key_id != self.id {
            return Err(Error::UnknownKeyId {
                expected: self.id,
                found: parts.key_id,
            });
        }
        let aad = aad(parts.header, context);
        let mut plaintext = Zeroizing::new(parts.ciphertext.to_vec());
        self.cipher
            .decrypt_in_place_detached(
                GenericArray::from_slice(parts.nonce),
                &aad,
                plaintext.as_mut_slice(),
                GenericArray::from_slice(parts.tag),
            )
            .map_err(|_| Error::WrongKeyOrTampered)?;
        Ok(plaintext)
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let id = self.id.to_be_bytes();
        [VERSION, ALG_AES_256_GCM, id[0], id[1], id[2], id[3]]
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        // The AES round keys are zeroized by the `aes` crate's own Drop; the raw bytes are ours.
        self.bytes.zeroize();
    }
}

impl ZeroizeOnDrop for DataKey {}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &format_args!("{:#010x}", self.id))
            .finish_non_exhaustive()
    }
}

/// The fields of a sealed record whose length, version and algorithm have been checked.
struct Parts<'a> {
    header: &'a [u8],
    key_id: u32,
    nonce: &'a [u8],
    ciphertext: &'a [u8],
    tag: &'a [u8],
}

impl<'a> Parts<'a> {
    fn parse(sealed: &'a [u8]) -> Result<Self, Error> {
        if sealed.len() < MIN_SEALED_LEN {
            return Err(Error::Truncated);
        }
        let (header, rest) = sealed.split_at(HEADER_LEN);
        if header[0] != VERSION {
            return Err(Error::UnknownVersion(header[0]));
        }
        if header[1] != ALG_AES_256_GCM {
            return Err(Error::UnknownAlgorithm(header[1]));
        }
        let key_id = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        Ok(Parts {
            header,
            key_id,
            nonce,
            ciphertext,
            tag,
        })
    }
}

/// The key id in a sealed record's header (offset 2..6, big-endian), once its length, format
/// version and algorithm are known; `None` for a record [`DataKey::open`] would refuse before
/// looking at the key id. Says which key sealed it without opening it.
pub fn sealed_key_id(sealed: &[u8]) -> Option<u32> {
    Parts::parse(sealed).ok().map(|parts| parts.key_id)
}

/// First 4 bytes (big-endian u32) of SHA-256(`label` ‖ `key`): a public key check value.
///
/// # Security
///
/// 32 bits of a SHA-256 digest over a 256-bit random key reveal nothing usable about the key.
pub(crate) fn key_check_value(label: &[u8], key: &[u8; 32]) -> u32 {
    let digest = Sha256::new()
        .chain_update(label)
        .chain_update(key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Fills `buf` from the OS CSPRNG.
///
/// # Panics
///
/// If the OS generator fails; continuing without randomness would reuse nonces or keys.
pub(crate) fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random number generator failed");
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod aes_gcm_kat;
