//! Lifecycle of tenants, users and bunker URIs: list, update, delete (crypto-shred), rotate, revoke.
//!
//! Every operation builds one [`Batch`], writes it with [`Durability::Sync`], and only then changes
//! the in-memory maps (tenants, routes, unsealed-key cache), so a crash never leaves memory ahead of
//! the store. The writers are crate-private: [`crate::admin`] calls them with the record's lock
//! held, so a read → modify → write never interleaves with another writer of the same record.
//! Sessions live in [`crate::sessions`]; the operations that also end sessions are composed in
//! [`crate::admin`].
//!
//! Deleting a user removes its record (both sealed keys), its routing entry and its bunker URIs;
//! deleting a tenant first destroys the tenant's data key (every sealed key of the tenant becomes
//! unrecoverable at once, a crypto-shred), then removes the rows. Key material never leaves `kms`.

use super::{
    name_fits, random_id, to_json, BunkerSecretRecord, Directory, Nip05Names, Route, TenantRecord,
    UserRecord, SEALED_KEY_RECORD,
};
use crate::cluster::Change;
use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use proto::nostr::{Keypair, PublicKey};
use proto::policy::Policy;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use store::{Batch, Cf, Durability};

/// Most items a list call returns.
pub const MAX_PAGE: usize = 1000;

/// Changes to a tenant; `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct TenantUpdate {
    /// New display name, 1..=128 characters.
    pub name: Option<String>,
    /// New NIP-05 domain (`Some(None)` removes it). Lowercase DNS name, at most 253 bytes.
    pub nip05_domain: Option<Option<String>>,
    /// New limits (replacing all of them).
    pub limits: Option<super::TenantLimits>,
    /// Allow or forbid NIP-49 key export.
    pub key_export: Option<bool>,
}

/// Changes to a user; `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New display name (`Some(None)` removes it), at most 128 characters.
    pub name: Option<Option<String>>,
    /// Disable or enable the user.
    pub disabled: Option<bool>,
    /// New NIP-05 local part (`Some(None)` removes it): 1..=64 chars of `a-z0-9-_.` (NIP-05).
    pub nip05_name: Option<Option<String>>,
}

/// A bunker URI as the admin API lists it. The secret itself is never stored or shown again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Identifier of the URI: lowercase hex SHA-256 of its secret (64 chars).
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds after which it no longer connects.
    pub expires_at: u64,
    /// The client that used it, if any.
    pub consumed_by: Option<PublicKey>,
    /// Unix seconds of use.
    pub consumed_at: Option<u64>,
    /// Pre-approved permissions.
    pub perms: Option<String>,
}

/// Store key of the per-user index entry of a bunker-URI secret hash.
pub(super) fn bunker_secret_index_key(tenant: &str, user: &str, hash: &[u8; 32]) -> Vec<u8> {
    format!("idx/{tenant}/{user}/{}", hex::encode(hash)).into_bytes()
}

/// Store key (in `users`) of the index entry that keeps one user per identity key per tenant.
pub(super) fn user_pubkey_key(tenant: &str, user_pubkey: &PublicKey) -> Vec<u8> {
    format!("upk/{tenant}/{user_pubkey}").into_bytes()
}

fn token_index_prefix(tenant: &str, user: &str) -> Vec<u8> {
    format!("idx/{tenant}/{user}/").into_bytes()
}

/// Whether `s` is a NIP-05 local part bunkerd accepts: 1..=64 chars of `a-z0-9-_.`.
pub fn valid_nip05_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// Whether `s` looks like a lowercase DNS name: labels of `a-z0-9-`, dots between, ≤ 253 bytes.
pub fn valid_domain(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

impl Directory {
    /// Tenants ordered by id, starting after `after` (a cursor: the last id of the previous page),
    /// at most `limit` (clamped to 1..=[`MAX_PAGE`]).
    pub fn list_tenants(&self, after: Option<&str>, limit: usize) -> Vec<TenantRecord> {
        let mut all: Vec<TenantRecord> = self
            .tenants
            .iter()
            .filter(|t| after.is_none_or(|a| t.id.as_str() > a))
            .map(|t| t.clone())
            .collect();
        all.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        all.truncate(limit.clamp(1, MAX_PAGE));
        all
    }

    /// Applies `update` to a tenant, durably. The caller holds the tenant's lock exclusively.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::InvalidInput`] naming the bad field; [`Error::Kms`].
    pub(crate) fn update_tenant(
        &self,
        tenant: &str,
        update: TenantUpdate,
        now: u64,
    ) -> Result<TenantRecord, Error> {
        let mut record = self.tenant_for_update(tenant)?;
        if let Some(name) = update.name {
            if !name_fits(&name, 1) {
                return Err(Error::InvalidInput("name must be 1 to 128 characters"));
            }
            name.clone_into(&mut record.name);
        }
        if let Some(domain) = update.nip05_domain {
            if domain.as_deref().is_some_and(|d| !valid_domain(d)) {
                return Err(Error::InvalidInput(
                    "nip05_domain must be a lowercase DNS name",
                ));
            }
            record.nip05_domain = domain;
        }
        if let Some(limits) = update.limits {
            record.limits = limits;
        }
        if let Some(allowed) = update.key_export {
            record.key_export = allowed;
        }
        record.updated_at = now;
        self.put_tenant(record)
    }

    /// A tenant's record as the store holds it, to edit and put back ([`Directory::put_tenant`])
    /// under the tenant's exclusive lock: in a cluster, memory may not yet hold another node's
    /// last write of it, which an edit of memory's copy would undo.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::Kms`] when the store cannot be read;
    /// [`Error::Corrupt`].
    pub(crate) fn tenant_for_update(&self, tenant: &str) -> Result<TenantRecord, Error> {
        let value = self
            .store
            .get(Cf::Tenants, tenant.as_bytes())?
            .ok_or(Error::TenantNotFound)?;
        serde_json::from_slice(&value).map_err(|_| Error::Corrupt("tenant record"))
    }

    /// Writes a tenant record durably and makes it live (the admin-pubkey services edit the record
    /// and put it back). The caller holds the tenant's lock exclusively and read the record under
    /// it.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`].
    pub(crate) fn put_tenant(&self, record: TenantRecord) -> Result<TenantRecord, Error> {
        let mut batch = Batch::new();
        batch.put(Cf::Tenants, record.id.as_bytes(), to_json(&record));
        self.store.write(batch, Durability::Sync)?;
        self.marks.mark(&record.id);
        self.tenants.insert(record.id.clone(), record.clone());
        self.changes.send(Change::Tenant {
            id: record.id.clone(),
        });
        Ok(record)
    }

    /// Users of a tenant ordered by id, after the cursor `after`, at most `limit` (clamped to
    /// 1..=[`MAX_PAGE`]).
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::Kms`]; [`Error::Corrupt`].
    pub fn list_users(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, Error> {
        if !self.tenants.contains_key(tenant) {
            return Err(Error::TenantNotFound);
        }
        let limit = limit.clamp(1, MAX_PAGE);
        let prefix = format!("{tenant}/");
        let mut users = Vec::new();
        let mut bad = false;
        self.store
            .scan_prefix(Cf::Users, prefix.as_bytes(), &mut |key, value| {
                let id = &key[prefix.len()..];
                if after.is_some_and(|a| id <= a.as_bytes()) {
                    return true;
                }
                match serde_json::from_slice::<UserRecord>(value) {
                    Ok(u) => users.push(u),
                    Err(_) => bad = true,
                }
                !bad && users.len() < limit
            })?;
        if bad {
            return Err(Error::Corrupt("user record"));
        }
        Ok(users)
    }

    /// Applies `update` to a user, durably, and drops its unsealed keys from the cache so the next
    /// request sees the change. The caller holds the user's lock, with the tenant's exclusively
    /// when `update` sets a NIP-05 name (unique in the tenant).
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::InvalidInput`], [`Error::Kms`].
    pub(crate) fn update_user(
        &self,
        tenant: &str,
        user: &str,
        update: UserUpdate,
        now: u64,
    ) -> Result<UserRecord, Error> {
        if !self.tenants.contains_key(tenant) {
            return Err(Error::TenantNotFound);
        }
        let mut record = self.user(tenant, user)?;
        if let Some(name) = update.name {
            if name.as_ref().is_some_and(|n| !name_fits(n, 0)) {
                return Err(Error::InvalidInput("name must be at most 128 characters"));
            }
            record.name = name;
        }
        if let Some(disabled) = update.disabled {
            record.disabled = disabled;
        }
        if let Some(nip05) = update.nip05_name {
            if let Some(name) = &nip05 {
                self.check_nip05_name(tenant, name, Some(user))?;
            }
            record.nip05_name = nip05;
        }
        record.updated_at = now;
        self.put_user(record)
    }

    /// Writes an updated user record durably and drops its cached keys, so the next request reads
    /// the change.
    fn put_user(&self, record: UserRecord) -> Result<UserRecord, Error> {
        let mut batch = Batch::new();
        batch.put(
            Cf::Users,
            format!("{}/{}", record.tenant, record.id).into_bytes(),
            to_json(&record),
        );
        self.store.write(batch, Durability::Sync)?;
        self.forget_keys(&record.remote_signer_pubkey);
        self.forget_nip05();
        Ok(record)
    }

    /// Checks that `name` is a well-formed NIP-05 local part no user of `tenant` but `except` has.
    /// Only meaningful with the tenant's lock held exclusively (every NIP-05 change takes it).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed name; [`Error::Conflict`] for one another user of
    /// the tenant has; [`Error::Kms`] when the scan fails.
    pub(super) fn check_nip05_name(
        &self,
        tenant: &str,
        name: &str,
        except: Option<&str>,
    ) -> Result<(), Error> {
        if !valid_nip05_name(name) {
            return Err(Error::InvalidInput(
                "nip05_name must be 1 to 64 characters of a-z 0-9 - _ .",
            ));
        }
        if self.nip05_taken(tenant, name, except)? {
            return Err(Error::Conflict("nip05_name is taken in this tenant"));
        }
        Ok(())
    }

    fn nip05_taken(&self, tenant: &str, name: &str, except: Option<&str>) -> Result<bool, Error> {
        let mut taken = false;
        let prefix = format!("{tenant}/");
        self.store
            .scan_prefix(Cf::Users, prefix.as_bytes(), &mut |key, value| {
                if except.is_none_or(|e| &key[prefix.len()..] != e.as_bytes()) {
                    if let Ok(u) = serde_json::from_slice::<UserRecord>(value) {
                        taken = u.nip05_name.as_deref() == Some(name);
                    }
                }
                !taken
            })?;
        Ok(taken)
    }

    /// Adds to `batch` the removal of a user: its record (both sealed keys), its routing entry and
    /// every bunker URI issued for it. Call [`Directory::forget_user`] after the batch is written.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the URI index cannot be read.
    pub(crate) fn delete_user_into(
        &self,
        batch: &mut Batch,
        record: &UserRecord,
    ) -> Result<(), Error> {
        batch.delete(
            Cf::Users,
            format!("{}/{}", record.tenant, record.id).into_bytes(),
        );
        batch.delete(
            Cf::Users,
            user_pubkey_key(&record.tenant, &record.user_pubkey),
        );
        batch.delete(
            Cf::SignerIndex,
            record.remote_signer_pubkey.as_bytes().to_vec(),
        );
        self.delete_tokens_into(batch, &record.tenant, &record.id)
    }

    fn delete_tokens_into(&self, batch: &mut Batch, tenant: &str, user: &str) -> Result<(), Error> {
        let prefix = token_index_prefix(tenant, user);
        self.store
            .scan_prefix(Cf::BunkerSecrets, &prefix, &mut |key, _| {
                if let Ok(hash) = hex::decode(&key[prefix.len()..]) {
                    batch.delete(Cf::BunkerSecrets, hash);
                }
                batch.delete(Cf::BunkerSecrets, key.to_vec());
                true
            })?;
        Ok(())
    }

    /// Drops a deleted user from memory: its route and its unsealed keys.
    pub(crate) fn forget_user(&self, remote_signer: &PublicKey) {
        self.marks.mark(remote_signer);
        self.routes.remove(remote_signer);
        self.forget_keys(remote_signer);
        self.forget_nip05();
    }

    /// Every user record of a tenant (for deletion).
    pub(crate) fn all_users(&self, tenant: &str) -> Result<Vec<UserRecord>, Error> {
        let prefix = format!("{tenant}/");
        let mut users = Vec::new();
        let mut bad = false;
        self.store
            .scan_prefix(Cf::Users, prefix.as_bytes(), &mut |_, value| {
                match serde_json::from_slice::<UserRecord>(value) {
                    Ok(u) => users.push(u),
                    Err(_) => bad = true,
                }
                !bad
            })?;
        if bad {
            return Err(Error::Corrupt("user record"));
        }
        Ok(users)
    }

    /// Crypto-shreds a tenant's keys: destroys its data key (durably), after which no sealed key of
    /// the tenant can be opened by anyone, and drops its unsealed keys and routes from memory.
    /// The caller then deletes the rows ([`Directory::delete_tenant_rows_into`]).
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::Kms`].
    pub(crate) fn shred_tenant(&self, tenant: &str, users: &[UserRecord]) -> Result<(), Error> {
        if !self.tenants.contains_key(tenant) {
            return Err(Error::TenantNotFound);
        }
        self.vault.destroy_data_key(tenant)?;
        for user in users {
            let remote_signer = &user.remote_signer_pubkey;
            self.marks.mark(remote_signer);
            self.routes.remove(remote_signer);
            self.drop_keys(remote_signer);
        }
        self.forget_nip05();
        // Other nodes drop their copies of the destroyed data key now; the users' routes once
        // their rows are gone ([`Directory::forget_tenant`]), not before.
        self.data_keys_changed(tenant);
        Ok(())
    }

    /// Adds to `batch` the removal of every row of a tenant's users and of the tenant record.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`].
    pub(crate) fn delete_tenant_rows_into(
        &self,
        batch: &mut Batch,
        tenant: &str,
        users: &[UserRecord],
    ) -> Result<(), Error> {
        for user in users {
            self.delete_user_into(batch, user)?;
        }
        batch.delete(Cf::Tenants, tenant.as_bytes());
        Ok(())
    }

    /// Drops a deleted tenant from memory, after its rows are deleted, and tells the other nodes
    /// of it and of its `users`.
    pub(crate) fn forget_tenant(&self, tenant: &str, users: &[UserRecord]) {
        self.marks.mark(&tenant);
        self.tenants.remove(tenant);
        self.forget_nip05();
        for user in users {
            self.changes.send(Change::RemoteSigner {
                pubkey: user.remote_signer_pubkey,
            });
        }
        self.changes.send(Change::Tenant { id: tenant.into() });
    }

    /// Replaces a user's remote-signer key with a fresh one, durably: the record gets the new sealed
    /// key, the routing index moves to the new pubkey, and every bunker URI of the user is deleted
    /// (they name the old key). Returns the updated record and the old remote-signer pubkey, whose
    /// sessions the caller ends.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`].
    pub(crate) fn rotate_remote_signer(
        &self,
        tenant: &str,
        user: &str,
        now: u64,
        batch: &mut Batch,
    ) -> Result<(UserRecord, PublicKey), Error> {
        if !self.tenants.contains_key(tenant) {
            return Err(Error::TenantNotFound);
        }
        let mut record = self.user(tenant, user)?;
        let old = record.remote_signer_pubkey;
        let fresh = crate::crypto::with(Keypair::generate);
        let sealed = {
            let sk = fresh.secret_key();
            self.vault.seal(
                tenant,
                SEALED_KEY_RECORD,
                &record.id,
                "remote_signer",
                sk.expose_bytes(),
            )?
        };
        record.sealed_remote_signer_key = B64.encode(sealed);
        record.remote_signer_pubkey = fresh.public_key();
        record.updated_at = now;
        let route_value = format!("{tenant}/{user}");
        batch.put(Cf::Users, route_value.as_bytes(), to_json(&record));
        batch.delete(Cf::SignerIndex, old.as_bytes().to_vec());
        batch.put(
            Cf::SignerIndex,
            record.remote_signer_pubkey.as_bytes().to_vec(),
            route_value,
        );
        self.delete_tokens_into(batch, tenant, user)?;
        Ok((record, old))
    }

    /// Makes a rotation live after its batch is written.
    pub(crate) fn apply_rotation(&self, record: &UserRecord, old: &PublicKey) {
        self.forget_user(old);
        self.marks.mark(&record.remote_signer_pubkey);
        self.routes.insert(
            record.remote_signer_pubkey,
            Route {
                tenant: record.tenant.as_str().into(),
                user: record.id.as_str().into(),
            },
        );
        self.changes.send(Change::RemoteSigner {
            pubkey: record.remote_signer_pubkey,
        });
    }

    /// The bunker URIs issued for a user, consumed or not, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`], [`Error::Corrupt`].
    pub fn list_tokens(&self, tenant: &str, user: &str) -> Result<Vec<TokenInfo>, Error> {
        if !self.tenants.contains_key(tenant) {
            return Err(Error::TenantNotFound);
        }
        self.user(tenant, user)?;
        let prefix = token_index_prefix(tenant, user);
        let mut hashes = Vec::new();
        self.store
            .scan_prefix(Cf::BunkerSecrets, &prefix, &mut |key, _| {
                if let Ok(hash) = <[u8; 32]>::try_from(
                    hex::decode(&key[prefix.len()..])
                        .unwrap_or_default()
                        .as_slice(),
                ) {
                    hashes.push(hash);
                }
                true
            })?;
        let mut tokens = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some((record, _)) = self.bunker_secret(&hash)? {
                tokens.push(token_info(&hash, &record));
            }
        }
        tokens.sort_by_key(|t| t.created_at);
        Ok(tokens)
    }

    /// Adds to `batch` the deletes of one bunker-URI record and its per-user index entry.
    pub(crate) fn delete_token_into(
        &self,
        batch: &mut Batch,
        tenant: &str,
        user: &str,
        hash: &[u8; 32],
    ) {
        batch.delete(Cf::BunkerSecrets, hash.to_vec());
        batch.delete(
            Cf::BunkerSecrets,
            bunker_secret_index_key(tenant, user, hash),
        );
    }

    /// Deletes one bunker URI of a user (by [`TokenInfo::id`]): its secret no longer connects.
    /// Sessions already created with it are not affected (revoke those separately). The caller
    /// holds the user's lock (a `connect` consuming the secret holds it too).
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::NotFound`] (also for a URI of another user),
    /// [`Error::Kms`].
    pub(crate) fn revoke_token(&self, tenant: &str, user: &str, id: &str) -> Result<(), Error> {
        if !self.tenants.contains_key(tenant) {
            return Err(Error::TenantNotFound);
        }
        let hash: [u8; 32] = hex::decode(id)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(Error::NotFound("bunker URI"))?;
        match self.bunker_secret(&hash)? {
            Some((record, _)) if record.tenant == tenant && record.user == user => {}
            _ => return Err(Error::NotFound("bunker URI")),
        }
        let mut batch = Batch::new();
        self.delete_token_into(&mut batch, tenant, user, &hash);
        self.store.write(batch, Durability::Sync)?;
        Ok(())
    }

    /// NIP-05 lookup: the tenant whose `nip05_domain` is `domain`, and in it the enabled user whose
    /// `nip05_name` is `name`. Returns the user's (user pubkey, remote-signer pubkey). Map reads,
    /// after the tenant's names were built by one prefix scan of its users at its first lookup
    /// since the last change of a user.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when that scan fails.
    pub fn nip05_lookup(
        &self,
        domain: &str,
        name: &str,
    ) -> Result<Option<(PublicKey, PublicKey)>, Error> {
        let Some(tenant) = self.nip05_domain_holder(domain) else {
            return Ok(None);
        };
        if let Some(names) = self.nip05_names.get(&tenant) {
            return Ok(names.get(name).copied());
        }
        // Read before the store: a change after this point keeps what we read unindexed.
        let epoch = self.nip05_epoch.load(Ordering::Acquire);
        let mut names = Nip05Names::new();
        let prefix = format!("{tenant}/");
        self.store
            .scan_prefix(Cf::Users, prefix.as_bytes(), &mut |_, value| {
                if let Ok(u) = serde_json::from_slice::<UserRecord>(value) {
                    if let (false, Some(n)) = (u.disabled, u.nip05_name) {
                        names.insert(n, (u.user_pubkey, u.remote_signer_pubkey));
                    }
                }
                true
            })?;
        let found = names.get(name).copied();
        if let dashmap::Entry::Vacant(slot) = self.nip05_names.entry(tenant) {
            if self.nip05_epoch.load(Ordering::Acquire) == epoch {
                slot.insert(Arc::new(names));
            }
        }
        Ok(found)
    }

    /// Replaces a tenant's default policy, durably, and drops every cached key of the tenant so its
    /// users' next requests run under it. The caller holds the tenant's lock exclusively.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::InvalidPolicy`] for a policy that does not validate;
    /// [`Error::Kms`].
    pub(crate) fn set_tenant_policy(
        &self,
        tenant: &str,
        policy: Policy,
        now: u64,
    ) -> Result<TenantRecord, Error> {
        policy.validate()?;
        let mut record = self.tenant_for_update(tenant)?;
        record.policy = policy;
        record.updated_at = now;
        let record = self.put_tenant(record)?;
        self.forget_tenant_keys(tenant);
        Ok(record)
    }

    /// Sets (or, with `None`, removes) a user's own policy, durably, and drops its cached keys. The
    /// caller holds the user's lock.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::InvalidPolicy`],
    /// [`Error::Kms`].
    pub(crate) fn set_user_policy(
        &self,
        tenant: &str,
        user: &str,
        policy: Option<Policy>,
        now: u64,
    ) -> Result<UserRecord, Error> {
        if let Some(policy) = &policy {
            policy.validate()?;
        }
        if !self.tenants.contains_key(tenant) {
            return Err(Error::TenantNotFound);
        }
        let mut record = self.user(tenant, user)?;
        record.policy = policy;
        record.updated_at = now;
        self.put_user(record)
    }

    /// The policy a user's requests run under: its own, else the tenant's default. Returns it and
    /// whether it is inherited from the tenant.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`].
    pub fn effective_policy(&self, tenant: &str, user: &str) -> Result<(Policy, bool), Error> {
        let tenant_record = self.tenant(tenant).ok_or(Error::TenantNotFound)?;
        let record = self.user(tenant, user)?;
        Ok(match record.policy {
            Some(policy) => (policy, false),
            None => (tenant_record.policy, true),
        })
    }

    /// A fresh random id (32 lowercase hex chars), for records kept by other modules.
    pub fn new_id() -> String {
        random_id()
    }
}

fn token_info(hash: &[u8; 32], record: &BunkerSecretRecord) -> TokenInfo {
    TokenInfo {
        id: hex::encode(hash),
        created_at: record.created_at,
        expires_at: record.expires_at,
        consumed_by: record.consumed_by,
        consumed_at: record.consumed_at,
        perms: record.perms.clone(),
    }
}
