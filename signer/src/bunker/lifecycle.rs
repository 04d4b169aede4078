//! Views and options of the admin operations that span the directory and the sessions: bunker-URI
//! options and issued URIs, the sessions of a user as the admin API lists them.
//!
//! The operations that change these (issue and revoke URIs, end sessions, delete or rotate a user,
//! delete a tenant) are admin services in [`crate::admin`], which hold the records' locks.

use super::Bunker;
use crate::directory::UserRecord;
use crate::Error;
use proto::nip46::{ClientMetadata, Scheme};
use proto::nostr::PublicKey;
use zeroize::Zeroizing;

/// Longest bunker-URI time-to-live, seconds (one year).
pub const MAX_URI_TTL_SECS: u64 = 365 * 24 * 3600;

/// Longest pre-approved permission string on a bunker URI, bytes.
pub const MAX_URI_PERMS_BYTES: usize = 1024;

/// Options of a new bunker URI.
#[derive(Debug, Clone, Default)]
pub struct UriOptions {
    /// Time to live, seconds (1..=[`MAX_URI_TTL_SECS`]); default: `BunkerConfig::bunker_uri_ttl_secs`.
    pub ttl_secs: Option<u64>,
    /// Pre-approved permissions (NIP-46 perms syntax); the session gets these ∩ the user's policy,
    /// whatever the client requests. Must name at least one permission.
    pub perms: Option<String>,
    /// Lifetime of the session the URI creates, seconds from its `connect`
    /// (1..=[`proto::policy::MAX_SESSION_TTL_SECS`]); `None`: only the policy's `session_ttl_secs`
    /// ends it.
    pub session_ttl_secs: Option<u64>,
}

/// A freshly issued bunker URI: shown once.
pub struct IssuedUri {
    /// `bunker://…&secret=…`; zeroized on drop (it carries the secret).
    pub uri: Zeroizing<String>,
    /// Public id of the URI (hex SHA-256 of the secret), for listing and revocation.
    pub id: String,
    /// Unix seconds.
    pub expires_at: u64,
}

impl std::fmt::Debug for IssuedUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedUri")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A connected client as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    /// The client pubkey (author of its requests).
    pub client_pubkey: PublicKey,
    /// The remote-signer pubkey it talks to.
    pub remote_signer_pubkey: PublicKey,
    /// Unauthenticated display metadata the client sent with `connect`.
    pub metadata: Option<ClientMetadata>,
    /// What the session may do under the user's current policy (NIP-46 perms syntax; kinds the
    /// policy closes stay closed under a bare `sign_event`).
    pub perms: String,
    /// What the client requested at `connect` (NIP-46 perms syntax; `""` for nothing).
    pub requested_perms: String,
    /// What its bunker URI pre-approved, if it carried perms.
    pub approved_perms: Option<String>,
    /// Unix seconds at which the session ends under the current policy; `None`: never.
    pub expires_at: Option<u64>,
    /// Transport encryption of its `connect` (`nip44` or `nip04`).
    pub scheme: Scheme,
    /// Unix seconds of the `connect`.
    pub created_at: u64,
    /// Unix seconds of the last request since the server started, if any.
    pub last_used_at: Option<u64>,
    /// Requests answered since the server started.
    pub requests: u64,
    /// The relays its client named in its `nostrconnect://` URI and is still served on (empty:
    /// bunkerd's own relays only).
    pub relays: Vec<String>,
}

impl Bunker {
    /// The sessions (connected clients) of a user, ordered by client pubkey.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`].
    pub fn list_sessions(&self, tenant: &str, user: &str) -> Result<Vec<SessionInfo>, Error> {
        let record = self.user_in(tenant, user)?;
        let (policy, _) = self.directory.effective_policy(tenant, user)?;
        Ok(self
            .sessions
            .of_remote_signer(&record.remote_signer_pubkey)
            .iter()
            .map(|s| SessionInfo {
                client_pubkey: s.record.client,
                remote_signer_pubkey: s.record.remote_signer,
                metadata: s.record.metadata.clone(),
                perms: s.grant.effective(&policy).to_string(),
                requested_perms: s.grant.requested().to_string(),
                approved_perms: s.grant.approved().map(ToString::to_string),
                expires_at: s.expires_at(&policy),
                scheme: s.record.scheme,
                created_at: s.record.created_at,
                last_used_at: s.last_used(),
                requests: s.requests(),
                relays: s.record.relays.clone(),
            })
            .collect())
    }

    /// The record of `user` in `tenant`.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`].
    pub(crate) fn user_in(&self, tenant: &str, user: &str) -> Result<UserRecord, Error> {
        if self.directory.tenant(tenant).is_none() {
            return Err(Error::TenantNotFound);
        }
        self.directory.user(tenant, user)
    }
}
