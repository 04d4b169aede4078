//! The signer's error type for provisioning and store operations (the admin side).
//!
//! NIP-46 failures are not errors of this type: they become error *replies* to the client
//! ([`proto::nip46::RpcError`]). Each variant has a stable [`Error::code`] used by the admin API's
//! error body and by metrics; `Display` text is for operators' logs and never contains key material.

/// Provisioning and storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No tenant with this id.
    #[error("tenant not found")]
    TenantNotFound,
    /// No user with this id in this tenant (also returned for a user of *another* tenant, so the
    /// existence of other tenants' users is not revealed).
    #[error("user not found")]
    UserNotFound,
    /// Another resource (named by the text, e.g. "bunker URI", "session") does not exist in this
    /// tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A request field is missing or malformed; the text names the field, never echoes a secret.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// A tenant limit (named by the text, e.g. `max_users`) would be exceeded.
    #[error("tenant limit reached: {0}")]
    LimitReached(&'static str),
    /// A signing policy does not validate (see [`proto::policy::Policy::validate`]).
    #[error("invalid policy: {0}")]
    InvalidPolicy(#[from] proto::policy::PolicyError),
    /// An imported secret key is not a valid 64-hex or `nsec` secp256k1 key.
    #[error("invalid secret key")]
    InvalidSecretKey,
    /// A user with this user public key already exists in this tenant.
    #[error("user already exists")]
    UserExists,
    /// The value is held by another record that must keep it (the text names it, e.g. a NIP-05
    /// domain another tenant serves).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The tenant does not allow its users' keys to be exported (its `key_export` setting, off by
    /// default, is set by the operator).
    #[error("this tenant does not allow key export")]
    KeyExportDisabled,
    /// The key management layer failed (master key, data key, or a sealed record that does not
    /// open).
    #[error("key store: {0}")]
    Kms(#[from] kms::Error),
    /// The storage engine failed to read or write a record.
    #[error("{0}")]
    Store(#[from] store::Error),
    /// A stored record could not be decoded (corruption or an incompatible schema).
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
}

impl Error {
    /// Stable snake_case code for API error bodies and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Error::TenantNotFound => "tenant_not_found",
            Error::UserNotFound => "user_not_found",
            Error::NotFound(_) => "not_found",
            Error::InvalidPolicy(_) => "invalid_policy",
            Error::LimitReached(_) => "limit_reached",
            Error::InvalidInput(_) => "invalid_input",
            Error::InvalidSecretKey => "invalid_secret_key",
            Error::UserExists => "user_exists",
            Error::Conflict(_) => "conflict",
            Error::KeyExportDisabled => "key_export_disabled",
            Error::Kms(e) => e.code(),
            Error::Store(_) => "store",
            Error::Corrupt(_) => "corrupt_record",
        }
    }

    /// True when the caller's input was at fault (4xx), false for server-side failures (5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Error::TenantNotFound
                | Error::UserNotFound
                | Error::NotFound(_)
                | Error::InvalidPolicy(_)
                | Error::LimitReached(_)
                | Error::InvalidInput(_)
                | Error::InvalidSecretKey
                | Error::UserExists
                | Error::Conflict(_)
                | Error::KeyExportDisabled
        )
    }
}
