//! Master-key (KEK) providers: the top of the key hierarchy, used only to wrap tenant data keys.
//!
//! Role: wrap and unwrap small secrets (tenant data keys and the store's canary) like a KMS
//! transit engine, under numbered key versions that can be added (rotation) and destroyed
//! (retirement), behind the [`MasterKey`] trait.
//! What it must not do: seal tenant records directly (those go through a tenant's data key),
//! read a credential from the config file, or let key bytes reach logs, errors or `Debug`.
//!
//! Main types: [`MasterKey`], [`Wrapped`], [`MasterKeyInfo`]; the providers [`FileMasterKey`]
//! (a key file or keyring file), [`MemMasterKey`] (in memory, for tests), [`TransitMasterKey`]
//! (OpenBao / Vault transit), [`Pkcs11MasterKey`] (a PKCS#11 token: an HSM, SoftHSM2),
//! [`AwsKmsMasterKey`] (AWS KMS, one KMS key per version). The
//! embedded providers share [`Keyring`].

use crate::Error;
use zeroize::Zeroizing;

pub mod aws;
mod file;
mod keyring;
pub mod pkcs11;
pub mod transit;

pub use aws::AwsKmsMasterKey;
pub use file::FileMasterKey;
pub use keyring::{Keyring, MemMasterKey};
pub use pkcs11::Pkcs11MasterKey;
pub use transit::TransitMasterKey;

/// A data key wrapped by one version of a master key: what the store keeps beside the
/// provider's name, so a start-up self-test and a rotation know what wrapped what.
#[derive(Clone, PartialEq, Eq)]
pub struct Wrapped {
    /// The master key version that wrapped it (the provider's own numbering, from 1).
    pub version: u32,
    /// The provider's ciphertext, opaque to everything else: an envelope record for the
    /// embedded providers, `vault:v<N>:<base64>` for transit, the KMS blob for a cloud KMS.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wrapped")
            .field("version", &self.version)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// Which master key a provider holds: recorded with everything it wraps, and named in errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterKeyInfo {
    /// Provider kind: `"file"`, `"transit"`, `"pkcs11"` ([`Pkcs11MasterKey`]) or `"aws-kms"`
    /// ([`AwsKmsMasterKey`]).
    pub provider: &'static str,
    /// The key's name within the provider (transit key name, PKCS#11 label, the AWS KMS name
    /// `<name>` of the aliases `alias/<name>-v<N>`); `""`
    /// for the file provider, whose versions are told apart by their key ids.
    pub key: String,
}

impl std::fmt::Display for MasterKeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{} master key", self.provider)
        } else {
            write!(f, "{} master key {:?}", self.provider, self.key)
        }
    }
}

/// A key-encryption key (KEK) provider with numbered versions, like a KMS transit engine.
///
/// `context` is authenticated with the plaintext (AEAD additional data, or the provider's
/// encryption context): a ciphertext opens only with the context it was wrapped with. Callers
/// pass [`crate::Binding::context`] bytes.
///
/// Implementations must be safe to call from many threads at once. Every method may block on
/// I/O (a remote provider's round trip, bounded by its timeout): call them off async threads.
pub trait MasterKey: Send + Sync + 'static {
    /// Provider kind and key name.
    fn info(&self) -> MasterKeyInfo;

    /// The version [`MasterKey::wrap`] uses now.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] when a remote provider cannot be reached or refuses.
    fn current_version(&self) -> Result<u32, Error>;

    /// Every version the provider can still unwrap with, ascending.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] as [`MasterKey::current_version`].
    fn versions(&self) -> Result<Vec<u32>, Error>;

    /// Wraps `plaintext` (a 36-byte data key record, or the canary) under the current version.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`]; the embedded providers never fail.
    fn wrap(&self, plaintext: &[u8], context: &[u8]) -> Result<Wrapped, Error>;

    /// Unwraps what [`MasterKey::wrap`] (or [`MasterKey::rewrap`]) returned, with the same
    /// `context`. The plaintext is zeroized when dropped.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKeyVersion`] when the version is not (or no longer) in the provider;
    /// [`Error::UnknownKeyId`] or [`Error::WrongKeyOrTampered`] when another key of the same
    /// version number wrapped it, a byte changed or the context differs; [`Error::Provider`].
    fn unwrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error>;

    /// Wraps the same plaintext again under the current version. A KMS does this inside the
    /// provider (transit `rewrap`, `ReEncrypt`), so the plaintext never reaches bunkerd; the
    /// default unwraps and wraps.
    ///
    /// # Errors
    ///
    /// Those of [`MasterKey::unwrap`] and [`MasterKey::wrap`].
    fn rewrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Wrapped, Error> {
        let plaintext = self.unwrap(wrapped, context)?;
        self.wrap(&plaintext, context)
    }

    /// Adds a new version and makes it current; returns its number.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`], or [`Error::MasterKeyFile`] when a keyring file cannot be rewritten.
    fn rotate(&self) -> Result<u32, Error>;

    /// Destroys every version below `keep_from` in the provider (what they wrapped can never be
    /// opened again, in any copy); returns the versions destroyed. `keep_from` above the current
    /// version is refused.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`], [`Error::MasterKeyFile`], or [`Error::Unsupported`] for a
    /// `keep_from` above the current version.
    fn retire(&self, keep_from: u32) -> Result<Vec<u32>, Error>;

    /// Whether the provider answers now; `/readyz` reports it.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] with the reason.
    fn health(&self) -> Result<(), Error> {
        self.current_version().map(drop)
    }
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
