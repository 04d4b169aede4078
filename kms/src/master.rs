//! Master-key (KEK) providers: the top of the key hierarchy, used only to wrap tenant data keys.
//!
//! Role: seal and open small secrets (tenant data keys) like a KMS transit engine, behind the
//! [`MasterKey`] trait so an external KMS or HSM can replace the embedded providers later.
//! What it must not do: seal tenant records directly (those go through a tenant's data key),
//! read a key from an environment variable, or let key bytes reach logs, errors or `Debug`.
//!
//! Main types: [`MasterKey`], [`FileMasterKey`] (32 raw bytes in a 0600 file),
//! [`MemMasterKey`] (in memory, for tests). Both use the sealed record format of
//! [`crate::envelope`], with the master key id in the header.

use crate::envelope::{key_check_value, Binding, DataKey};
use crate::Error;
use zeroize::{ZeroizeOnDrop, Zeroizing};

mod file;

pub use file::FileMasterKey;

/// Label hashed with the master key bytes to derive the master key id.
const MASTER_KEY_ID_LABEL: &[u8] = b"bunkerd master key id v1";

/// A key-encryption key (KEK) provider: seals and opens tenant data keys, like a KMS transit
/// engine.
///
/// Implementations must be safe to call from many threads at once.
pub trait MasterKey: Send + Sync + 'static {
    /// Stable id of the current master key (written into the header of every wrapped DEK).
    fn key_id(&self) -> u32;

    /// Seals `plaintext` (typically a 32-byte data key) bound to `binding`.
    ///
    /// # Errors
    ///
    /// The embedded providers ([`FileMasterKey`], [`MemMasterKey`]) never fail. A provider
    /// backed by a remote KMS or HSM returns an error when that service cannot be reached.
    ///
    /// # Security
    ///
    /// Output is a sealed record: version ‖ algorithm ‖ key id ‖ random nonce ‖ ciphertext ‖ tag.
    fn seal(&self, plaintext: &[u8], binding: &Binding<'_>) -> Result<Vec<u8>, Error>;

    /// Opens a record made by [`MasterKey::seal`] with the same `binding`.
    ///
    /// # Errors
    ///
    /// As [`DataKey::open`]: [`Error::Truncated`], [`Error::UnknownVersion`],
    /// [`Error::UnknownAlgorithm`], [`Error::UnknownKeyId`] (sealed under another master key),
    /// [`Error::WrongKeyOrTampered`].
    fn open(&self, sealed: &[u8], binding: &Binding<'_>) -> Result<Zeroizing<Vec<u8>>, Error>;
}

/// An in-memory master key, for tests and benchmarks.
///
/// Its key id is derived exactly as [`FileMasterKey`]'s, so the same 32 bytes give the same id
/// and open each other's records. Debug is redacted; key bytes are zeroized on drop.
pub struct MemMasterKey {
    key: DataKey,
}

impl MemMasterKey {
    /// A fresh random master key from the OS CSPRNG.
    ///
    /// # Panics
    ///
    /// If the OS random number generator fails.
    pub fn generate() -> MemMasterKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        crate::envelope::fill_random(bytes.as_mut());
        MemMasterKey::from_bytes(*bytes)
    }

    /// A master key from 32 raw bytes.
    ///
    /// # Security
    ///
    /// The caller must zeroize its own copy of `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> MemMasterKey {
        MemMasterKey {
            key: master_data_key(bytes),
        }
    }
}

impl MasterKey for MemMasterKey {
    fn key_id(&self) -> u32 {
        self.key.id()
    }

    fn seal(&self, plaintext: &[u8], binding: &Binding<'_>) -> Result<Vec<u8>, Error> {
        Ok(self.key.seal(plaintext, binding))
    }

    fn open(&self, sealed: &[u8], binding: &Binding<'_>) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.key.open(sealed, binding)
    }
}

impl ZeroizeOnDrop for MemMasterKey {}

impl std::fmt::Debug for MemMasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemMasterKey")
            .field("key_id", &format_args!("{:#010x}", self.key.id()))
            .finish_non_exhaustive()
    }
}

/// Builds the AES key for master key `bytes`; its id is the first 4 bytes (big-endian u32) of
/// SHA-256(`"bunkerd master key id v1"` ‖ key), a key check value that is safe to store and log.
fn master_data_key(bytes: [u8; 32]) -> DataKey {
    let id = key_check_value(MASTER_KEY_ID_LABEL, &bytes);
    DataKey::from_bytes(bytes, id)
}

#[cfg(test)]
mod tests;
