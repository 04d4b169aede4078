//! The one error type of the `kms` crate.
//!
//! Role: name every way sealing, opening, loading a master key or touching the store can fail,
//! with a stable snake_case [`Error::code`] for metrics labels and fixed client-facing strings.
//! What it must not do: carry key material or plaintext in any variant; callers must never send
//! the `Display` text to a client (use [`Error::code`]).
//!
//! Main type: [`Error`].

use std::path::PathBuf;

/// Everything that can go wrong in `kms`.
///
/// Decryption failures are deliberately coarse: a failed tag check is one variant,
/// [`Error::WrongKeyOrTampered`], whatever the cause, so nothing leaks which byte was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sealed record's format version byte (offset 0) is not one this build knows.
    #[error("sealed record has unknown format version {0}")]
    UnknownVersion(u8),
    /// The sealed record's algorithm byte (offset 1) is not one this build knows.
    #[error("sealed record has unknown algorithm {0}")]
    UnknownAlgorithm(u8),
    /// The record was sealed under a key id (offset 2..6, big-endian u32) this key does not have.
    #[error("sealed record names key id {found:#010x}, this key is {expected:#010x}")]
    UnknownKeyId {
        /// Key id of the key that tried to open the record.
        expected: u32,
        /// Key id written in the record's header.
        found: u32,
    },
    /// The sealed record is shorter than header (6) + nonce (12) + tag (16) = 34 bytes.
    #[error("sealed record is truncated")]
    Truncated,
    /// The AES-GCM tag check failed: wrong key, changed bytes, or a binding (AAD) mismatch.
    #[error("wrong key or tampered sealed record")]
    WrongKeyOrTampered,
    /// No data key is stored for this tenant id (destroyed, or never created).
    #[error("no data key for tenant {0:?}")]
    NoDataKey(String),
    /// The master key file cannot be read, created, or has unsafe permissions or a wrong size.
    #[error("master key file {}: {reason}", path.display())]
    MasterKeyFile {
        /// Path of the key file as given by the caller.
        path: PathBuf,
        /// Why it was refused; never contains key bytes.
        reason: String,
    },
    /// The master key version a wrapped key names is not (or no longer) in the provider.
    #[error("master key version {0} is not in the provider (never there, or retired)")]
    UnknownKeyVersion(u32),
    /// A remote master-key provider (KMS, HSM) cannot be reached, refuses, or answers
    /// something unexpected.
    #[error("{provider} master key provider: {reason}")]
    Provider {
        /// Provider kind, as [`crate::MasterKeyInfo::provider`].
        provider: &'static str,
        /// What failed; never contains credentials or key bytes.
        reason: String,
    },
    /// The operation is not possible as asked (the text says which).
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// The configured master key cannot open this store (the start-up self-test failed), or
    /// the store holds data and no key may be created over it.
    #[error("{0}")]
    Custody(String),
    /// The storage engine failed (reading or writing a wrapped data key).
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A stored record exists but cannot be decoded.
    #[error("corrupt stored record: {0}")]
    Corrupt(String),
}

impl Error {
    /// Stable snake_case code of the variant, for metrics labels and fixed client messages.
    ///
    /// The values never change once released: `unknown_version`, `unknown_algorithm`,
    /// `unknown_key_id`, `truncated`, `wrong_key_or_tampered`, `no_data_key`,
    /// `master_key_file`, `unknown_key_version`, `provider`, `unsupported`, `custody`, `store`,
    /// `corrupt`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownVersion(_) => "unknown_version",
            Error::UnknownAlgorithm(_) => "unknown_algorithm",
            Error::UnknownKeyId { .. } => "unknown_key_id",
            Error::Truncated => "truncated",
            Error::WrongKeyOrTampered => "wrong_key_or_tampered",
            Error::NoDataKey(_) => "no_data_key",
            Error::MasterKeyFile { .. } => "master_key_file",
            Error::UnknownKeyVersion(_) => "unknown_key_version",
            Error::Provider { .. } => "provider",
            Error::Unsupported(_) => "unsupported",
            Error::Custody(_) => "custody",
            Error::Store(_) => "store",
            Error::Corrupt(_) => "corrupt",
        }
    }
}

#[cfg(test)]
mod tests;
