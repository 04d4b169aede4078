//! Admin operations that span the directory and the sessions: bunker URIs with options, session
//! listing and revocation, user deletion and key rotation, tenant deletion.
//!
//! Each builds one batch, writes it durably, then updates memory (routes, key cache, sessions), so a
//! revoked or deleted client's very next request is refused.

use super::Bunker;
use crate::directory::UserRecord;
use crate::nip46::{ClientMetadata, Scheme};
use crate::nostr::PublicKey;
use crate::sessions::Sessions;
use crate::Error;
use kms::{Batch, Durability};
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
    /// whatever the client requests.
    pub perms: Option<String>,
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
    /// Granted permissions (NIP-46 perms syntax).
    pub perms: String,
    /// Transport encryption of its `connect` (`nip44` or `nip04`).
    pub scheme: Scheme,
    /// Unix seconds of the `connect`.
    pub created_at: u64,
    /// Unix seconds of the last request since the server started, if any.
    pub last_used_at: Option<u64>,
    /// Requests answered since the server started.
    pub requests: u64,
}

impl Bunker {
    /// The sessions (connected clients) of a user, ordered by client pubkey.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`].
    pub fn list_sessions(&self, tenant: &str, user: &str) -> Result<Vec<SessionInfo>, Error> {
        let record = self.user_in(tenant, user)?;
        Ok(self
            .sessions
            .of_remote_signer(&record.remote_signer_pubkey)
            .iter()
            .map(|s| SessionInfo {
                client_pubkey: s.record.client,
                remote_signer_pubkey: s.record.remote_signer,
                metadata: s.record.metadata.clone(),
                perms: s.record.perms.clone(),
                scheme: s.record.scheme,
                created_at: s.record.created_at,
                last_used_at: s.last_used(),
                requests: s.requests(),
            })
            .collect())
    }

    /// Ends one client's session (its next request is refused until it connects again with a new
    /// secret), or every session of the user when `client` is `None`. Returns how many ended.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::NotFound`] for an unknown
    /// client, [`Error::Kms`].
    pub fn revoke_sessions(
        &self,
        tenant: &str,
        user: &str,
        client: Option<&PublicKey>,
    ) -> Result<usize, Error> {
        let record = self.user_in(tenant, user)?;
        let rs = record.remote_signer_pubkey;
        let mut batch = Batch::new();
        let clients = match client {
            Some(client) => {
                if self.sessions.get(&rs, client).is_none() {
                    return Err(Error::NotFound("session"));
                }
                Sessions::delete(&mut batch, &rs, client);
                vec![*client]
            }
            None => self.sessions.delete_all(&mut batch, &rs),
        };
        self.store.write(batch, Durability::Sync)?;
        for client in &clients {
            self.sessions.forget(&rs, client);
        }
        Ok(clients.len())
    }

    /// Deletes a user: its sealed keys, routing entry, bunker URIs and sessions, durably. Its
    /// remote-signer key stops being hosted at once (requests to it are refused `blocked:`).
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`].
    pub fn delete_user(&self, tenant: &str, user: &str) -> Result<UserRecord, Error> {
        let record = self.user_in(tenant, user)?;
        let rs = record.remote_signer_pubkey;
        let mut batch = Batch::new();
        self.directory.delete_user_into(&mut batch, &record)?;
        let clients = self.sessions.delete_all(&mut batch, &rs);
        self.store.write(batch, Durability::Sync)?;
        self.directory.forget_user(&rs);
        for client in &clients {
            self.sessions.forget(&rs, client);
        }
        Ok(record)
    }

    /// Replaces a user's remote-signer key: old bunker URIs and sessions stop working (the old key is
    /// no longer hosted); the user key, and so the user's identity, is unchanged.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`].
    pub fn rotate_remote_signer(
        &self,
        tenant: &str,
        user: &str,
        now: u64,
    ) -> Result<UserRecord, Error> {
        let mut batch = Batch::new();
        let (record, old) = self
            .directory
            .rotate_remote_signer(tenant, user, now, &mut batch)?;
        let clients = self.sessions.delete_all(&mut batch, &old);
        self.store.write(batch, Durability::Sync)?;
        self.directory.apply_rotation(&record, &old);
        for client in &clients {
            self.sessions.forget(&old, client);
        }
        Ok(record)
    }

    /// Deletes a tenant: destroys its data key first (every sealed key of the tenant is
    /// unrecoverable from that moment), then deletes its users, URIs and sessions and the tenant
    /// record. Returns the number of users deleted. Other stores of tenant data (audit, admin
    /// tokens) are the caller's to delete.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::Kms`], [`Error::Corrupt`].
    pub fn delete_tenant(&self, tenant: &str) -> Result<usize, Error> {
        if self.directory.tenant(tenant).is_none() {
            return Err(Error::TenantNotFound);
        }
        let users = self.directory.all_users(tenant)?;
        self.directory.shred_tenant(tenant, &users)?;
        let mut batch = Batch::new();
        self.directory
            .delete_tenant_rows_into(&mut batch, tenant, &users)?;
        let mut ended = Vec::new();
        for user in &users {
            let rs = user.remote_signer_pubkey;
            ended.extend(
                self.sessions
                    .delete_all(&mut batch, &rs)
                    .into_iter()
                    .map(|c| (rs, c)),
            );
        }
        self.store.write(batch, Durability::Sync)?;
        for (rs, client) in &ended {
            self.sessions.forget(rs, client);
        }
        self.directory.forget_tenant(tenant);
        Ok(users.len())
    }

    fn user_in(&self, tenant: &str, user: &str) -> Result<UserRecord, Error> {
        if self.directory.tenant(tenant).is_none() {
            return Err(Error::TenantNotFound);
        }
        self.directory.user(tenant, user)
    }
}
