//! The key a new user is created with: imported as 64 hex or `nsec1…`, or as a NIP-49
//! `ncryptsec1…` with its password, or none (one is generated).
//!
//! Parsing and the scrypt of a NIP-49 import run here, before any lock is taken: a NIP-49
//! decryption takes `2^(LOG_N + 10)` bytes ([`proto::nostr::nip49::scrypt_bytes`]; 256 MiB and
//! about half a second at the default cap, [`proto::nostr::nip49::MAX_LOG_N`], 18), so callers
//! run imports one at a time and may lower the cap ([`KeyImport::max_log_n`]). Error texts are fixed and never echo the key, the
//! `ncryptsec` or the password.

use proto::nostr::nip49::{self, Nip49Error};
use proto::nostr::{nip19, SecretKey};
use zeroize::Zeroizing;

/// The key fields of a user creation, as the caller received them. Every string is zeroized on
/// drop. `Default`: no key (one is generated), the default LOG_N cap.
pub struct KeyImport {
    /// A secret key as 64 hex characters (either case) or a NIP-19 `nsec1…` (lowercase or all
    /// uppercase); surrounding whitespace is ignored.
    pub secret_key: Option<Zeroizing<String>>,
    /// A NIP-49 `ncryptsec1…`, with [`KeyImport::password`].
    pub ncryptsec: Option<Zeroizing<String>>,
    /// The password of [`KeyImport::ncryptsec`] (NFKC-normalized before scrypt, as NIP-49 says).
    pub password: Option<Zeroizing<String>>,
    /// Highest LOG_N of an [`KeyImport::ncryptsec`] that is decrypted (at most
    /// [`nip49::LOG_N_LIMIT`]); above it the import is refused before scrypt allocates anything.
    pub max_log_n: u8,
}

impl Default for KeyImport {
    fn default() -> Self {
        KeyImport {
            secret_key: None,
            ncryptsec: None,
            password: None,
            max_log_n: nip49::MAX_LOG_N,
        }
    }
}

impl std::fmt::Debug for KeyImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyImport")
            .field("secret_key", &self.secret_key.is_some())
            .field("ncryptsec", &self.ncryptsec.is_some())
            .field("password", &self.password.is_some())
            .field("max_log_n", &self.max_log_n)
            .finish()
    }
}

/// Why a key import was refused. Each has a stable [`ImportError::code`]; `Display` is the fixed
/// message the admin API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Both `secret_key` and `ncryptsec` were given. Code `invalid_input`.
    #[error("give secret_key or ncryptsec, not both")]
    BothKeys,
    /// A password without an `ncryptsec`. Code `invalid_input`.
    #[error("password goes with ncryptsec only")]
    PasswordWithoutNcryptsec,
    /// An `ncryptsec` without its password. Code `invalid_input`.
    #[error("ncryptsec needs its password")]
    MissingPassword,
    /// `secret_key` is neither 64 hex characters nor an `nsec1…` of a valid secp256k1 secret key.
    /// Code `invalid_secret_key`.
    #[error("secret_key must be 64 hex characters or an nsec1 string of a valid secp256k1 key")]
    InvalidSecretKey,
    /// The `ncryptsec` did not decrypt; the code is [`Nip49Error::code`] (`invalid_ncryptsec`,
    /// `unsupported_version`, `log_n_too_high`, `wrong_password`, `invalid_secret_key`).
    #[error("ncryptsec: {0}")]
    Ncryptsec(Nip49Error),
}

impl ImportError {
    /// Stable snake_case code for the admin API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::BothKeys
            | ImportError::PasswordWithoutNcryptsec
            | ImportError::MissingPassword => "invalid_input",
            ImportError::InvalidSecretKey => "invalid_secret_key",
            ImportError::Ncryptsec(e) => e.code(),
        }
    }
}

impl KeyImport {
    /// Whether this import runs scrypt (an `ncryptsec` is given): such imports should run one at
    /// a time.
    pub fn is_nip49(&self) -> bool {
        self.ncryptsec.is_some()
    }

    /// The secret key to import (`None`: generate one). Blocking: a NIP-49 import runs scrypt
    /// (tens of milliseconds at LOG_N 16, about half a second at the bound, LOG_N 18).
    ///
    /// # Errors
    ///
    /// [`ImportError`]: a combination of fields that does not go together (checked first), a
    /// malformed key, or an `ncryptsec` that does not decrypt with the password.
    pub fn resolve(&self) -> Result<Option<SecretKey>, ImportError> {
        match (&self.secret_key, &self.ncryptsec, &self.password) {
            (Some(_), Some(_), _) => Err(ImportError::BothKeys),
            (Some(_), None, Some(_)) | (None, None, Some(_)) => {
                Err(ImportError::PasswordWithoutNcryptsec)
            }
            (None, Some(_), None) => Err(ImportError::MissingPassword),
            (Some(text), None, None) => parse_secret_key(text).map(Some),
            (None, Some(encrypted), Some(password)) => {
                nip49::decrypt_capped(encrypted.trim(), password, self.max_log_n)
                    .map(Some)
                    .map_err(ImportError::Ncryptsec)
            }
            (None, None, None) => Ok(None),
        }
    }
}

/// Accepts 64 hex characters (either case) or a NIP-19 `nsec1…`, surrounding whitespace ignored.
///
/// # Errors
///
/// [`ImportError::InvalidSecretKey`] for anything else, or a value that is not a secp256k1 secret
/// key (0 or not below the group order).
fn parse_secret_key(text: &str) -> Result<SecretKey, ImportError> {
    let text = text.trim();
    let parsed = if text.starts_with("nsec1") || text.starts_with("NSEC1") {
        nip19::decode_nsec(text)
    } else {
        SecretKey::from_hex(&Zeroizing::new(text.to_ascii_lowercase()))
    };
    parsed.map_err(|_| ImportError::InvalidSecretKey)
}
