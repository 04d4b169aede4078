//! User services: create (with its key import and NIP-05 name, one batch), update, policy, delete,
//! rotate the remote-signer key, issue and revoke bunker URIs, end sessions.
//!
//! Creation holds the tenant's lock exclusively; every other write holds the tenant's lock shared
//! and the user's lock (exclusive tenant lock too when a NIP-05 name changes), from reading the
//! user record to updating the routing index, key cache and sessions (see the parent module's doc).

use super::{Admin, AdminError, KeyImport};
use crate::bunker::{uri_query_value, IssuedUri, UriOptions, MAX_URI_TTL_SECS};
use crate::directory::{UserRecord, UserUpdate};
use crate::sessions::Sessions;
use crate::Error;
use proto::nostr::PublicKey;
use proto::policy::{Perms, Policy, MAX_SESSION_TTL_SECS};
use store::{Batch, Durability};
use zeroize::Zeroizing;

/// What a new user is made of; every field optional.
#[derive(Debug, Default)]
pub struct NewUser {
    /// Display name, at most 128 characters.
    pub name: Option<String>,
    /// The user key to import (none: a fresh one is generated).
    pub key: KeyImport,
    /// NIP-05 local part: 1 to 64 characters of `a-z0-9-_.`, unique in the tenant.
    pub nip05_name: Option<String>,
}

impl Admin<'_> {
    /// Creates a user in `tenant` at `now` (Unix seconds): imports or generates the user key,
    /// generates its remote-signer key, and writes the record (both keys sealed, the NIP-05 name
    /// set), the identity index and the routing entry in ONE synced batch: on any error nothing
    /// is written. Blocking; a NIP-49 import runs scrypt first, outside every lock (run those one
    /// at a time).
    ///
    /// # Errors
    ///
    /// In this order: [`AdminError::Import`] (fields that do not go together, a bad key, an
    /// `ncryptsec` that does not decrypt); [`Error::TenantNotFound`]; [`Error::LimitReached`]
    /// (`max_users`); [`Error::InvalidInput`] (name over 128 characters); [`Error::UserExists`]
    /// (this user key is already in the tenant); [`Error::InvalidInput`] (NIP-05 name malformed);
    /// [`Error::Conflict`] (NIP-05 name taken); [`Error::Kms`] / [`Error::Store`].
    pub fn create_user(
        &self,
        tenant: &str,
        new: NewUser,
        now: u64,
    ) -> Result<UserRecord, AdminError> {
        let secret = new.key.resolve()?;
        let _guard = self.bunker.locks.tenant_exclusive(tenant)?;
        let record =
            self.bunker
                .directory
                .create_user(tenant, new.name, secret, new.nip05_name, now)?;
        Ok(record)
    }

    /// Applies `update` (name, disabled, NIP-05 name; `None` fields unchanged) to a user and
    /// stamps `updated_at = now`, durably; its next request runs with the change. Returns the
    /// record as written.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::UserNotFound`] (also when deleted meanwhile);
    /// [`Error::InvalidInput`] (name over 128 characters, NIP-05 name malformed);
    /// [`Error::Conflict`] (NIP-05 name taken);
    /// [`Error::Kms`] / [`Error::Store`].
    pub fn update_user(
        &self,
        tenant: &str,
        user: &str,
        update: UserUpdate,
        now: u64,
    ) -> Result<UserRecord, Error> {
        let locks = &self.bunker.locks;
        let _guard = if update.nip05_name.is_some() {
            locks.user_exclusive(tenant, user)
        } else {
            locks.user(tenant, user)
        }?;
        self.bunker.directory.update_user(tenant, user, update, now)
    }

    /// Sets a user's own signing policy, or with `None` removes it (the tenant's default applies),
    /// durably. Returns the policy the user's requests now run under and whether it is the
    /// tenant's default (`inherited`), as of this write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPolicy`]; [`Error::TenantNotFound`]; [`Error::UserNotFound`];
    /// [`Error::Kms`] / [`Error::Store`].
    pub fn set_user_policy(
        &self,
        tenant: &str,
        user: &str,
        policy: Option<Policy>,
        now: u64,
    ) -> Result<(Policy, bool), Error> {
        if let Some(policy) = &policy {
            policy.validate()?;
        }
        let _guard = self.bunker.locks.user(tenant, user)?;
        let directory = &self.bunker.directory;
        let record = directory.set_user_policy(tenant, user, policy, now)?;
        Ok(match record.policy {
            Some(policy) => (policy, false),
            // The tenant's policy cannot change while its lock is held shared.
            None => (
                directory
                    .tenant(tenant)
                    .ok_or(Error::TenantNotFound)?
                    .policy,
                true,
            ),
        })
    }

    /// Deletes a user: its record (both sealed keys), identity index, routing entry, bunker URIs
    /// and sessions, in one synced batch. Its remote-signer key stops being hosted at once.
    /// The same batch leaves a shred mark: the next [`Admin::run_key_custody`] replaces the
    /// tenant's data key and destroys every key that sealed this user's secrets (copies of the
    /// store then still open them until the master key version wrapping those data keys is
    /// retired). Returns the deleted record.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`] / [`Error::Store`].
    pub fn delete_user(&self, tenant: &str, user: &str) -> Result<UserRecord, Error> {
        let bunker = self.bunker;
        let _guard = bunker.locks.user(tenant, user)?;
        let record = bunker.user_in(tenant, user)?;
        let rs = record.remote_signer_pubkey;
        let mut batch = Batch::new();
        bunker.directory.delete_user_into(&mut batch, &record)?;
        self.mark_shred(&mut batch, tenant, user)?;
        let clients = bunker
            .sessions
            .delete_all(&*bunker.store, &mut batch, &rs)?;
        bunker.store.write(batch, Durability::Sync)?;
        bunker.directory.forget_user(&rs);
        for client in &clients {
            bunker.sessions.forget(&rs, client);
        }
        Ok(record)
    }

    /// Replaces a user's remote-signer key with a fresh one at `now`, in one synced batch: old
    /// bunker URIs and sessions stop working (the old key is no longer hosted); the user key, and
    /// so the user's identity, is unchanged. Returns the record as written.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`] / [`Error::Store`].
    pub fn rotate_remote_signer(
        &self,
        tenant: &str,
        user: &str,
        now: u64,
    ) -> Result<UserRecord, Error> {
        let bunker = self.bunker;
        let _guard = bunker.locks.user(tenant, user)?;
        let mut batch = Batch::new();
        let (record, old) = bunker
            .directory
            .rotate_remote_signer(tenant, user, now, &mut batch)?;
        let clients = bunker
            .sessions
            .delete_all(&*bunker.store, &mut batch, &old)?;
        bunker.store.write(batch, Durability::Sync)?;
        bunker.directory.apply_rotation(&record, &old);
        for client in &clients {
            bunker.sessions.forget(&old, client);
        }
        Ok(record)
    }

    /// Issues a single-use bunker URI for a user at `now`:
    /// `bunker://<remote-signer hex>?relay=<url>&…&secret=<64 hex>`, each relay URL written as is
    /// where it needs no escaping (letters, digits, `_ - . : /`; anything else percent-encoded), so
    /// that Amethyst, whose parser never percent-decodes, reads it. Only SHA-256 of the secret is
    /// stored, durably; the URI carries the secret, so it is returned zeroize-on-drop.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a `ttl_secs` of 0 or over [`MAX_URI_TTL_SECS`], a
    /// `session_ttl_secs` of 0 or over ten years, or `perms` that name no permission;
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`] / [`Error::Store`].
    pub fn issue_bunker_uri(
        &self,
        tenant: &str,
        user: &str,
        now: u64,
        options: UriOptions,
    ) -> Result<IssuedUri, Error> {
        let config = &self.bunker.config;
        let ttl = options.ttl_secs.unwrap_or(config.bunker_uri_ttl_secs);
        if ttl == 0 || ttl > MAX_URI_TTL_SECS {
            return Err(Error::InvalidInput(
                "ttl_secs must be 1 to 31536000 (one year)",
            ));
        }
        if options
            .perms
            .as_deref()
            .is_some_and(|p| Perms::parse(p).is_empty())
        {
            return Err(Error::InvalidInput(
                "perms names no NIP-46 permission (e.g. sign_event:1,nip44_encrypt)",
            ));
        }
        if options
            .session_ttl_secs
            .is_some_and(|t| t == 0 || t > MAX_SESSION_TTL_SECS)
        {
            return Err(Error::InvalidInput(
                "session_ttl_secs must be 1 to 315360000 (ten years)",
            ));
        }
        let issued = {
            let _guard = self.bunker.locks.user(tenant, user)?;
            self.bunker.directory.issue_secret(
                tenant,
                user,
                now,
                ttl,
                options.perms,
                options.session_ttl_secs,
            )?
        };
        // Sized up front so pushes never reallocate and leave unzeroized copies of the secret
        // behind.
        let capacity = 160 + config.relays.iter().map(|r| 3 * r.len() + 7).sum::<usize>();
        let mut uri = Zeroizing::new(String::with_capacity(capacity));
        uri.push_str("bunker://");
        uri.push_str(&issued.remote_signer.to_hex());
        uri.push('?');
        for relay in &config.relays {
            uri.push_str("relay=");
            uri.push_str(&uri_query_value(relay));
            uri.push('&');
        }
        uri.push_str("secret=");
        uri.push_str(&issued.secret);
        Ok(IssuedUri {
            uri,
            id: issued.id,
            expires_at: issued.expires_at,
        })
    }

    /// Deletes one bunker URI of a user (by its id, the hex SHA-256 of its secret), durably: its
    /// secret no longer connects. Sessions already created with it are not affected.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::NotFound`] (`bunker URI`: unknown, another user's, or
    /// revoked meanwhile); [`Error::Kms`] / [`Error::Store`].
    pub fn revoke_bunker_uri(&self, tenant: &str, user: &str, id: &str) -> Result<(), Error> {
        let _guard = self.bunker.locks.user(tenant, user)?;
        self.bunker.directory.revoke_token(tenant, user, id)
    }

    /// Ends one client's session with a user (its next request is refused until it connects again
    /// with a new secret), or with `client` `None` every session of the user, durably. Returns how
    /// many ended.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::NotFound`] (`session`) for a
    /// client without a session, [`Error::Kms`] / [`Error::Store`].
    pub fn revoke_sessions(
        &self,
        tenant: &str,
        user: &str,
        client: Option<&PublicKey>,
    ) -> Result<usize, Error> {
        let bunker = self.bunker;
        let _guard = bunker.locks.user(tenant, user)?;
        let record = bunker.user_in(tenant, user)?;
        let rs = record.remote_signer_pubkey;
        let mut batch = Batch::new();
        let clients = match client {
            Some(client) => {
                if Sessions::stored(&*bunker.store, &rs, client)?.is_none()
                    && bunker.sessions.get(&rs, client).is_none()
                {
                    return Err(Error::NotFound("session"));
                }
                Sessions::delete(&mut batch, &rs, client);
                vec![*client]
            }
            None => bunker
                .sessions
                .delete_all(&*bunker.store, &mut batch, &rs)?,
        };
        bunker.store.write(batch, Durability::Sync)?;
        for client in &clients {
            bunker.sessions.forget(&rs, client);
        }
        Ok(clients.len())
    }
}
