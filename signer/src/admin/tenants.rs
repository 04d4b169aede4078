//! Tenant services: create, update, default policy, NIP-98 admin pubkeys, delete.
//!
//! Every write of an existing tenant holds the tenant's lock exclusively from reading the record
//! to updating the in-memory tenant map (see the parent module's doc).

use super::{check_label, Admin, AdminError, AdminTokens, MAX_ADMIN_PUBKEYS};
use crate::directory::{AdminPubkey, TenantRecord, TenantUpdate};
use crate::Error;
use proto::nostr::PublicKey;
use proto::policy::Policy;
use store::{Batch, Durability};

impl Admin<'_> {
    /// Creates a tenant (a fresh 128-bit id) with its data key, durably. `name` is kept as given.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a name that is empty or over 128 characters; [`Error::Kms`] /
    /// [`Error::Store`] when the write fails.
    pub fn create_tenant(&self, name: &str, now: u64) -> Result<TenantRecord, Error> {
        // A fresh id: no other writer can know it yet, so no lock.
        self.bunker.directory.create_tenant(name, now)
    }

    /// Applies `update` (name, NIP-05 domain, limits; `None` fields unchanged) to a tenant and
    /// stamps `updated_at = now` (Unix seconds), durably. Returns the record as written.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`] (also when the tenant was deleted meanwhile);
    /// [`Error::InvalidInput`] naming the bad field; [`Error::Conflict`] for a `nip05_domain`
    /// another tenant serves (a domain belongs to one tenant: checked and claimed under one lock);
    /// [`Error::Kms`] / [`Error::Store`].
    pub fn update_tenant(
        &self,
        tenant: &str,
        update: TenantUpdate,
        now: u64,
    ) -> Result<TenantRecord, Error> {
        let _guard = self.bunker.locks.tenant_exclusive(tenant)?;
        let claims = matches!(update.nip05_domain, Some(Some(_)));
        let _domains = claims
            .then(|| self.bunker.locks.nip05_domains())
            .transpose()?;
        if let Some(Some(domain)) = &update.nip05_domain {
            let holder = self.bunker.directory.nip05_domain_holder(domain);
            if holder.is_some_and(|other| other != tenant) {
                return Err(Error::Conflict("nip05_domain is served by another tenant"));
            }
        }
        self.bunker.directory.update_tenant(tenant, update, now)
    }

    /// Replaces a tenant's default signing policy, durably; its users without a policy of their
    /// own run under it from their next request. Returns the record as written.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPolicy`]; [`Error::TenantNotFound`]; [`Error::Kms`] / [`Error::Store`].
    pub fn set_tenant_policy(
        &self,
        tenant: &str,
        policy: Policy,
        now: u64,
    ) -> Result<TenantRecord, Error> {
        policy.validate()?;
        let _guard = self.bunker.locks.tenant_exclusive(tenant)?;
        self.bunker.directory.set_tenant_policy(tenant, policy, now)
    }

    /// Registers `pubkey` as a NIP-98 admin of `tenant` with an optional label (at most
    /// [`super::MAX_LABEL_CHARS`] characters), added at `now` (Unix seconds), durably.
    ///
    /// # Errors
    ///
    /// Checked in this order: [`AdminError::LabelTooLong`]; [`Error::TenantNotFound`];
    /// [`AdminError::AdminPubkeyExists`]; [`AdminError::AdminPubkeyLimit`] (already
    /// [`MAX_ADMIN_PUBKEYS`]); then [`Error::Kms`] / [`Error::Store`] when the write fails.
    pub fn add_admin_pubkey(
        &self,
        tenant: &str,
        pubkey: PublicKey,
        name: Option<String>,
        now: u64,
    ) -> Result<AdminPubkey, AdminError> {
        check_label(name.as_deref())?;
        let _guard = self.bunker.locks.tenant_exclusive(tenant)?;
        let directory = &self.bunker.directory;
        let mut record = directory.tenant_for_update(tenant)?;
        if record.admin_pubkeys.iter().any(|a| a.pubkey == pubkey) {
            return Err(AdminError::AdminPubkeyExists);
        }
        if record.admin_pubkeys.len() >= MAX_ADMIN_PUBKEYS {
            return Err(AdminError::AdminPubkeyLimit);
        }
        let added = AdminPubkey {
            pubkey,
            name,
            added_at: now,
        };
        record.admin_pubkeys.push(added.clone());
        record.updated_at = now;
        directory.put_tenant(record)?;
        Ok(added)
    }

    /// Removes `pubkey` from the NIP-98 admins of `tenant`, durably: its next request is refused.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`AdminError::AdminPubkeyNotFound`]; [`Error::Kms`] /
    /// [`Error::Store`].
    pub fn remove_admin_pubkey(
        &self,
        tenant: &str,
        pubkey: &PublicKey,
        now: u64,
    ) -> Result<(), AdminError> {
        let _guard = self.bunker.locks.tenant_exclusive(tenant)?;
        let directory = &self.bunker.directory;
        let mut record = directory.tenant_for_update(tenant)?;
        let before = record.admin_pubkeys.len();
        record.admin_pubkeys.retain(|a| a.pubkey != *pubkey);
        if record.admin_pubkeys.len() == before {
            return Err(AdminError::AdminPubkeyNotFound);
        }
        record.updated_at = now;
        directory.put_tenant(record)?;
        Ok(())
    }

    /// Deletes a tenant: destroys its data key first (every sealed key of the tenant is
    /// unrecoverable from that moment), then deletes its users, bunker URIs and sessions and the
    /// tenant record in one batch, then its admin tokens (in `tokens`) and its audit log. Returns
    /// the number of users deleted.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::Kms`] / [`Error::Store`] / [`Error::Corrupt`]. A failure
    /// after the data key is destroyed leaves rows that no longer open; calling again finishes.
    pub fn delete_tenant(&self, tokens: &AdminTokens, tenant: &str) -> Result<usize, Error> {
        let bunker = self.bunker;
        let _guard = bunker.locks.tenant_exclusive(tenant)?;
        let directory = &bunker.directory;
        if directory.tenant(tenant).is_none() {
            return Err(Error::TenantNotFound);
        }
        let users = directory.all_users(tenant)?;
        directory.shred_tenant(tenant, &users)?;
        let mut batch = Batch::new();
        directory.delete_tenant_rows_into(&mut batch, tenant, &users)?;
        let mut ended = Vec::new();
        for user in &users {
            let rs = user.remote_signer_pubkey;
            let clients = bunker
                .sessions
                .delete_all(&*bunker.store, &mut batch, &rs)?;
            ended.extend(clients.into_iter().map(|c| (rs, c)));
        }
        bunker.store.write(batch, Durability::Sync)?;
        for (rs, client) in &ended {
            bunker.sessions.forget(rs, client);
        }
        directory.forget_tenant(tenant, &users);
        tokens.delete_tenant_locked(tenant)?;
        bunker.audit.delete_tenant(tenant)?;
        Ok(users.len())
    }
}
