//! NIP-46 error replies: what a client is told when a request cannot be served.
//!
//! Every variant maps to a fixed, human-readable [`RpcError::message`] (the reply's `error` field)
//! and a stable [`RpcError::code`] (metrics and audit). Messages never contain secrets, plaintexts or
//! internal error text; the only client-supplied text that can appear is a cut, sanitised method name.

/// Why a NIP-46 request was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RpcError {
    /// A method that NIP-46 does not define.
    UnknownMethod(String),
    /// A method removed from NIP-46 (`get_relays` in 2025-02, `create_account` in 2024-11) or never
    /// standardised (`nip44_get_key`).
    RemovedMethod(&'static str),
    /// Parameters missing or malformed; the text says which.
    InvalidParams(&'static str),
    /// Any method other than `connect`/`ping` from a client pubkey without a session.
    NotConnected,
    /// `connect` without a secret from a client that has no session.
    SecretRequired,
    /// `connect` with a secret that matches no bunker URI of this remote signer.
    SecretInvalid,
    /// `connect` with a secret already consumed (NIP-46: single use), from a client without a
    /// session: another client, or the same one after a logout, revocation or expiry.
    SecretUsed,
    /// `connect` with a secret whose bunker URI has expired.
    SecretExpired,
    /// `sign_event` template carries a `pubkey` that is not the user's
    /// (`docs/protocol-notes.md` §11.5).
    PubkeyMismatch,
    /// The user-key encrypt/decrypt operation failed (bad ciphertext, wrong key, too long).
    CryptoFailed(&'static str),
    /// The session outlived its lifetime (the policy's `session_ttl_secs` or its bunker URI's
    /// session TTL); it is ended with this reply.
    SessionExpired,
    /// The user is disabled or was removed while the request was in flight.
    UserUnavailable,
    /// The session's grant or the user's policy does not allow this request; the text names the
    /// missing permission (e.g. `permission denied: sign_event:0 (…)`, see [`crate::policy::Denied`]).
    PermissionDenied(String),
    /// The reply would exceed the 65,535-byte NIP-44 plaintext limit, which replies are kept to
    /// under either encryption (`docs/protocol-notes.md` §11.11).
    ReplyTooLarge,
    /// The relay refused the request event before the signer ran it (a rate limit, a full queue,
    /// the `created_at` window); the text is the relay's `OK false` message, a fixed text with
    /// its NIP-01 prefix (e.g. `rate-limited: …`).
    RelayRefused(String),
    /// The request waits for an admin's approval (the policy's `ask_*` rules) and none could be
    /// recorded; the text names the permission. The signer normally answers [`RpcError::AuthUrl`].
    ApprovalRequired(String),
    /// The request waits for an admin's approval at this URL (NIP-46 §"Auth Challenges"): sent as
    /// `{"id":…,"result":"auth_url","error":"<url>"}`, the real reply follows with the same id.
    AuthUrl(String),
    /// The client already has as many requests waiting for approval as one client may.
    TooManyHeld,
    /// An admin denied the request that waited for approval; the text names the permission.
    ApprovalDenied(String),
    /// Nobody decided on the request before its approval expired; the text names the permission.
    ApprovalExpired(String),
    /// A server-side failure (store write). Details go to the operator's log, not to the client.
    Internal,
}

impl RpcError {
    /// The reply's `error` text. Fixed strings plus, for unknown methods, the cut method name.
    pub fn message(&self) -> String {
        match self {
            RpcError::UnknownMethod(m) => format!("unknown method: {}", sanitize(m)),
            RpcError::RemovedMethod(m) => {
                format!("method {m} is not supported (removed from NIP-46)")
            }
            RpcError::InvalidParams(why) => format!("invalid params: {why}"),
            RpcError::NotConnected => {
                "unauthorized: no session for this client; send connect with a bunker secret first"
                    .into()
            }
            RpcError::SecretRequired => {
                "unauthorized: connect requires the bunker URI secret".into()
            }
            RpcError::SecretInvalid => "unauthorized: invalid secret".into(),
            RpcError::SecretUsed => {
                "unauthorized: this secret was already used; a new bunker URI is needed".into()
            }
            RpcError::SessionExpired => "unauthorized: session expired".into(),
            RpcError::SecretExpired => "unauthorized: this bunker URI has expired".into(),
            RpcError::PubkeyMismatch => {
                "invalid params: event pubkey is not this signer's user pubkey".into()
            }
            RpcError::CryptoFailed(what) => format!("{what} failed"),
            RpcError::UserUnavailable => "unauthorized: this user is not available".into(),
            RpcError::PermissionDenied(message) => message.clone(),
            RpcError::ReplyTooLarge => "result too large for a reply (at most 65535 bytes)".into(),
            RpcError::RelayRefused(message) => message.clone(),
            RpcError::ApprovalRequired(permission) => {
                format!("restricted: {permission} needs an administrator's approval")
            }
            RpcError::AuthUrl(url) => url.clone(),
            RpcError::TooManyHeld => {
                "restricted: too many of this client's requests already wait for approval".into()
            }
            RpcError::ApprovalDenied(permission) => {
                format!("restricted: an administrator denied {permission}")
            }
            RpcError::ApprovalExpired(permission) => {
                format!("restricted: nobody approved {permission} in time")
            }
            RpcError::Internal => "internal error; try again".into(),
        }
    }

    /// Stable snake_case code for metrics labels and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            RpcError::UnknownMethod(_) => "unknown_method",
            RpcError::RemovedMethod(_) => "removed_method",
            RpcError::InvalidParams(_) => "invalid_params",
            RpcError::NotConnected => "not_connected",
            RpcError::SecretRequired => "secret_required",
            RpcError::SecretInvalid => "secret_invalid",
            RpcError::SecretUsed => "secret_used",
            RpcError::SessionExpired => "session_expired",
            RpcError::SecretExpired => "secret_expired",
            RpcError::PubkeyMismatch => "pubkey_mismatch",
            RpcError::CryptoFailed(_) => "crypto_failed",
            RpcError::UserUnavailable => "user_unavailable",
            RpcError::PermissionDenied(_) => "permission_denied",
            RpcError::ReplyTooLarge => "reply_too_large",
            RpcError::RelayRefused(_) => "relay_refused",
            RpcError::ApprovalRequired(_) => "approval_required",
            RpcError::AuthUrl(_) => "auth_url",
            RpcError::TooManyHeld => "too_many_held",
            RpcError::ApprovalDenied(_) => "approval_denied",
            RpcError::ApprovalExpired(_) => "approval_expired",
            RpcError::Internal => "internal",
        }
    }
}

/// Keeps a client-supplied method name printable and short: ASCII graphic characters only.
fn sanitize(method: &str) -> String {
    method
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}
