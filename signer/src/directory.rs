//! Tenants, users, their sealed keys, bunker-URI secrets, and the routing index.
//!
//! Each user has two keypairs (`docs/protocol-notes.md` §1): the **user key** (the identity it
//! signs for) and a distinct **remote-signer key** (the key on the wire, named in `bunker://`).
//! Both secret keys are sealed under the tenant's data key by [`kms::Vault`], bound to (tenant,
//! user, role), and stored in the user's record. The routing index maps remote-signer pubkey →
//! (tenant, user) in memory; it is loaded from the `signer_index` column family at start, so
//! start-up never reads user records and the first request for a user reads exactly one.
//!
//! Unsealed keys are cached in a bounded map ([`Directory::keys`]); evicted entries are zeroized when
//! their last reference drops. A change that invalidates cached keys (user update, policy,
//! rotation, deletion) bumps a key epoch after its store write and before it drops the entries;
//! a request that read the store before the bump does not cache what it read (the check and the
//! insert happen under the cache shard's lock, the drop takes that lock after the bump), so the
//! cache never keeps a record older than the store's.
//!
//! Store layout (all values JSON unless noted):
//! - `tenants`: `<tenant id>` → [`TenantRecord`]
//! - `users`: `<tenant id>/<user id>` → [`UserRecord`], and the index
//!   `upk/<tenant id>/<user pubkey hex>` → `<user id>` (one user per identity key per tenant)
//! - `signer_index`: `<remote-signer pubkey, 32 raw bytes>` → `<tenant id>/<user id>` (UTF-8)
//! - `connect_tokens`: `<SHA-256 of the bunker secret, 32 raw bytes>` → [`BunkerSecretRecord`], and the
//!   per-user index `idx/<tenant id>/<user id>/<hash hex>` → empty (to list and revoke a user's URIs)
//!
//! Lifecycle operations (list, update, delete, rotate, revoke) are in `lifecycle.rs`.
//!
//! Writers here do no locking of their own: every write of a tenant, user or bunker-URI record
//! goes through [`crate::admin`], which holds the record's lock around read → modify → write →
//! memory update; the write methods are crate-private for that reason.
//!
//! This module does no Nostr protocol work and never logs key material.

use crate::cluster::{Change, Changes, WriteMarks};
use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use dashmap::DashMap;
use kms::Vault;
use proto::nip46::{BunkerSecretView, UserKeys};
use proto::nostr::{Keypair, PublicKey, SecretKey};
use proto::policy::Policy;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use store::{Batch, Cf, Durability, Store};
pub use verify::KeyFailure;
use zeroize::Zeroizing;

mod lifecycle;
mod mirror;
#[cfg(test)]
mod tests;
mod verify;

pub use lifecycle::{
    valid_domain, valid_nip05_name, TenantUpdate, TokenInfo, UserUpdate, MAX_PAGE,
};

/// Record kind bound into the AAD of sealed user secret keys.
const SEALED_KEY_RECORD: &str = "user_secret_key";

/// Longest tenant or user display name, characters (Unicode scalar values).
pub const MAX_NAME_CHARS: usize = 128;

/// Whether `name` has at least `min` and at most [`MAX_NAME_CHARS`] characters. Names are kept
/// as given (not trimmed).
pub(crate) fn name_fits(name: &str, min: usize) -> bool {
    (min..=MAX_NAME_CHARS).contains(&name.chars().count())
}

/// A tenant (an organization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// 32 lowercase hex characters (128 random bits).
    pub id: String,
    /// Display name, 1..=128 characters.
    pub name: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds of the last update (0 = never updated).
    #[serde(default)]
    pub updated_at: u64,
    /// NIP-05 domain whose `/.well-known/nostr.json` this tenant's users are listed in (lowercase).
    #[serde(default)]
    pub nip05_domain: Option<String>,
    /// Nostr pubkeys allowed to administer this tenant with NIP-98 HTTP auth.
    #[serde(default)]
    pub admin_pubkeys: Vec<AdminPubkey>,
    /// The default signing policy of the tenant's users (a user's own policy replaces it).
    #[serde(default)]
    pub policy: Policy,
    /// Limits set by the operator.
    #[serde(default)]
    pub limits: TenantLimits,
    /// NIP-49 export allowed ([`crate::admin::Admin::export_user_key`]); set by the operator.
    #[serde(default)]
    pub key_export: bool,
}

/// Per-tenant limits, set by the operator (`None` = no tenant-specific limit). `max_users` is
/// enforced when users are created; the request rates are enforced by the relay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// Most users the tenant may have.
    #[serde(default)]
    pub max_users: Option<u32>,
    /// Sustained NIP-46 requests per second for the whole tenant.
    #[serde(default)]
    pub requests_per_sec: Option<u32>,
    /// Burst of requests above the sustained rate.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// A Nostr pubkey registered as a tenant admin (NIP-98 HTTP auth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPubkey {
    /// The admin's pubkey (32-byte x-only, hex in JSON).
    pub pubkey: PublicKey,
    /// Optional label.
    pub name: Option<String>,
    /// Unix seconds.
    pub added_at: u64,
}

/// A user: public parts plus sealed secret keys (base64 of [`kms::DataKey::seal`] output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// 32 lowercase hex characters (128 random bits).
    pub id: String,
    /// Owning tenant id.
    pub tenant: String,
    /// Optional display name.
    pub name: Option<String>,
    /// The identity key (what `get_public_key` returns).
    pub user_pubkey: PublicKey,
    /// The key on the wire (named in `bunker://`, authors responses).
    pub remote_signer_pubkey: PublicKey,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds of the last update or key rotation (0 = never).
    #[serde(default)]
    pub updated_at: u64,
    /// A disabled user's requests are answered with an error; its sessions and URIs stay.
    #[serde(default)]
    pub disabled: bool,
    /// NIP-05 local part (`a-z0-9-_.`), served under the tenant's `nip05_domain`.
    #[serde(default)]
    pub nip05_name: Option<String>,
    /// The user's own signing policy; `None` = the tenant's default.
    #[serde(default)]
    pub policy: Option<Policy>,
    sealed_user_key: String,
    sealed_remote_signer_key: String,
}

/// A bunker-URI secret's record, stored under SHA-256(secret). The secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BunkerSecretRecord {
    /// Tenant id.
    pub tenant: String,
    /// User id.
    pub user: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds after which `connect` with this secret is refused.
    pub expires_at: u64,
    /// The client that consumed it (single use, NIP-46 §"bunker://").
    pub consumed_by: Option<PublicKey>,
    /// Unix seconds of consumption.
    pub consumed_at: Option<u64>,
    /// Permissions pre-approved by the admin who issued the URI (NIP-46 perms syntax); `None` =
    /// whatever the client requests, within the user's policy.
    #[serde(default)]
    pub perms: Option<String>,
    /// Lifetime of the session this URI creates, seconds from its `connect`; `None`: only the
    /// policy's `session_ttl_secs` bounds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ttl_secs: Option<u64>,
}

/// Which tenant and user a remote-signer pubkey belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Tenant id.
    pub tenant: Arc<str>,
    /// User id.
    pub user: Arc<str>,
}

/// A freshly issued bunker URI secret: shown once, never stored in clear.
pub struct IssuedSecret {
    /// 64 lowercase hex characters (256 random bits). Zeroized on drop.
    pub secret: Zeroizing<String>,
    /// The URI's public id ([`TokenInfo::id`]): hex SHA-256 of the secret.
    pub id: String,
    /// The remote-signer pubkey the URI names.
    pub remote_signer: PublicKey,
    /// Unix seconds.
    pub expires_at: u64,
}

/// The tenant/user directory over a [`Store`] and a [`Vault`].
pub struct Directory {
    store: Arc<dyn Store>,
    vault: Vault,
    tenants: DashMap<String, TenantRecord>,
    routes: DashMap<PublicKey, Route>,
    keys: DashMap<PublicKey, Arc<UserKeys>>,
    key_cache_capacity: usize,
    /// Bumped by every invalidation of cached keys, after its store write (see the module doc).
    key_epoch: AtomicU64,
    /// NIP-05 names of each tenant that serves a domain: name → (user pubkey, remote-signer
    /// pubkey) of its enabled users, built by one scan at the tenant's first lookup and dropped at
    /// any change of a user ([`Directory::forget_nip05`]), so lookups are map reads.
    nip05_names: DashMap<String, Arc<Nip05Names>>,
    /// Bumped by every drop of `nip05_names`, as `key_epoch` for keys.
    nip05_epoch: AtomicU64,
    /// The other nodes of a cluster, told of every change of a tenant or route ([`crate::cluster`]).
    pub(crate) changes: Changes,
    /// This node's own writes of tenants and routes, against mirrors that read the store
    /// before them ([`crate::cluster::WriteMarks`]).
    pub(super) marks: WriteMarks,
}

/// One tenant's NIP-05 names ([`Directory::nip05_lookup`]).
type Nip05Names = std::collections::HashMap<String, (PublicKey, PublicKey)>;

impl Directory {
    /// Loads tenants and the routing index (not user records) from `store`.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] on store failure, [`Error::Corrupt`] on undecodable records.
    pub fn load(
        store: Arc<dyn Store>,
        vault: Vault,
        key_cache_capacity: usize,
    ) -> Result<Self, Error> {
        let dir = Directory {
            store,
            vault,
            tenants: DashMap::new(),
            routes: DashMap::new(),
            keys: DashMap::new(),
            key_cache_capacity: key_cache_capacity.max(1),
            key_epoch: AtomicU64::new(0),
            nip05_names: DashMap::new(),
            nip05_epoch: AtomicU64::new(0),
            changes: Changes::default(),
            marks: WriteMarks::default(),
        };
        dir.load_all()?;
        Ok(dir)
    }

    /// Creates a tenant with its data key, durably: the wrapped DEK first, then the tenant
    /// record (a DEK without a tenant, left by a crash between the two, opens nothing and is
    /// listed by `bunkerd backup verify`; a tenant never exists without its DEK).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or over-long name; [`Error::Kms`] on store or
    /// master-key provider failure.
    pub(crate) fn create_tenant(&self, name: &str, now: u64) -> Result<TenantRecord, Error> {
        if !name_fits(name, 1) {
            return Err(Error::InvalidInput("name must be 1 to 128 characters"));
        }
        let record = TenantRecord {
            id: random_id(),
            name: name.to_owned(),
            created_at: now,
            updated_at: 0,
            nip05_domain: None,
            admin_pubkeys: Vec::new(),
            policy: Policy::default(),
            limits: TenantLimits::default(),
            key_export: false,
        };
        self.vault.create_data_key(&record.id)?;
        let mut batch = Batch::new();
        batch.put(Cf::Tenants, record.id.as_bytes(), to_json(&record));
        if let Err(e) = self.store.write(batch, Durability::Sync) {
            // Best effort: the DEK alone opens nothing.
            let _ = self.vault.destroy_data_key(&record.id);
            return Err(e.into());
        }
        self.marks.mark(&record.id);
        self.tenants.insert(record.id.clone(), record.clone());
        self.changes.send(Change::Tenant {
            id: record.id.clone(),
        });
        Ok(record)
    }

    /// Re-seals a user's two secret keys under the tenant's current data key, adding the record
    /// to `batch`, unless both already are (then `false`). The caller holds the user's lock. The
    /// keys themselves do not change, so nothing cached needs invalidating.
    ///
    /// # Errors
    ///
    /// [`Error::UserNotFound`] (deleted meanwhile), [`Error::Kms`], [`Error::Corrupt`].
    pub(crate) fn reseal_user(
        &self,
        tenant: &str,
        user: &str,
        batch: &mut Batch,
    ) -> Result<bool, Error> {
        let mut record = self.user(tenant, user)?;
        let mut changed = false;
        for role in ["user", "remote_signer"] {
            let field = match role {
                "user" => &mut record.sealed_user_key,
                _ => &mut record.sealed_remote_signer_key,
            };
            let sealed = B64
                .decode(field.as_bytes())
                .map_err(|_| Error::Corrupt("sealed key encoding"))?;
            if self.vault.is_current(tenant, &sealed)? {
                continue;
            }
            let secret = self
                .vault
                .open(tenant, SEALED_KEY_RECORD, user, role, &sealed)?;
            let resealed = self
                .vault
                .seal(tenant, SEALED_KEY_RECORD, user, role, &secret)?;
            *field = B64.encode(resealed);
            changed = true;
        }
        if changed {
            batch.put(
                Cf::Users,
                format!("{tenant}/{user}").into_bytes(),
                to_json(&record),
            );
        }
        Ok(changed)
    }

    /// Whether a user's secret keys are not both sealed under the tenant's current data key
    /// (`false` for a user deleted meanwhile).
    ///
    /// # Errors
    ///
    /// [`Error::Kms`], [`Error::Corrupt`].
    pub(crate) fn needs_reseal(&self, tenant: &str, user: &str) -> Result<bool, Error> {
        let record = match self.user(tenant, user) {
            Ok(record) => record,
            Err(Error::UserNotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        for sealed in [&record.sealed_user_key, &record.sealed_remote_signer_key] {
            let sealed = B64
                .decode(sealed.as_bytes())
                .map_err(|_| Error::Corrupt("sealed key encoding"))?;
            if !self.vault.is_current(tenant, &sealed)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every tenant id (in memory).
    pub(crate) fn tenant_ids(&self) -> Vec<String> {
        self.tenants.iter().map(|t| t.id.clone()).collect()
    }

    /// The ids of a tenant's users, in key order (reads keys only).
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] on a store failure.
    pub(crate) fn user_ids(&self, tenant: &str) -> Result<Vec<String>, Error> {
        let prefix = format!("{tenant}/");
        let mut ids = Vec::new();
        self.store
            .scan_prefix(Cf::Users, prefix.as_bytes(), &mut |key, _| {
                ids.push(String::from_utf8_lossy(&key[prefix.len()..]).into_owned());
                true
            })?;
        Ok(ids)
    }

    /// The vault sealing this directory's keys.
    pub(crate) fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The tenant with this id.
    pub fn tenant(&self, id: &str) -> Option<TenantRecord> {
        self.tenants.get(id).map(|t| t.clone())
    }

    /// The id of the tenant whose `nip05_domain` is `domain`, if any (O(tenants), in memory).
    pub(crate) fn nip05_domain_holder(&self, domain: &str) -> Option<String> {
        self.tenants
            .iter()
            .find(|t| t.nip05_domain.as_deref() == Some(domain))
            .map(|t| t.id.clone())
    }

    /// Number of tenants.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Whether `pubkey` is registered as a NIP-98 admin of `tenant` (false for an unknown tenant).
    pub fn is_tenant_admin(&self, tenant: &str, pubkey: &PublicKey) -> bool {
        self.tenants
            .get(tenant)
            .is_some_and(|t| t.admin_pubkeys.iter().any(|a| a.pubkey == *pubkey))
    }

    /// A tenant's limits (a small copy; `None` for an unknown tenant).
    pub fn tenant_limits(&self, tenant: &str) -> Option<TenantLimits> {
        self.tenants.get(tenant).map(|t| t.limits.clone())
    }

    /// Users per tenant id (from the routing index; O(users)).
    pub fn users_by_tenant(&self) -> std::collections::HashMap<String, usize> {
        let mut counts = std::collections::HashMap::new();
        for route in self.routes.iter() {
            *counts.entry(route.tenant.to_string()).or_insert(0) += 1;
        }
        counts
    }

    /// Number of users (routes) across all tenants.
    pub fn user_count(&self) -> usize {
        self.routes.len()
    }

    /// Creates a user in `tenant`, importing `secret` as the user key or generating one, always
    /// generating a fresh remote-signer key, with its optional NIP-05 name: the record, the
    /// identity index and the routing entry in one batch, durable before it returns. The caller
    /// holds the tenant's lock exclusively (`max_users`, identity and NIP-05 uniqueness).
    ///
    /// Checks, in order: tenant, `max_users`, name length, identity key unused in the tenant,
    /// NIP-05 name well-formed, NIP-05 name unused in the tenant.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::LimitReached`] (`max_users`); [`Error::InvalidInput`]
    /// for a name over 128 characters or a bad NIP-05 name; [`Error::Conflict`] for a taken one;
    /// [`Error::UserExists`];
    /// [`Error::Kms`] / [`Error::Store`] when sealing or the store write fails.
    pub(crate) fn create_user(
        &self,
        tenant: &str,
        name: Option<String>,
        secret: Option<SecretKey>,
        nip05_name: Option<String>,
        now: u64,
    ) -> Result<UserRecord, Error> {
        let max_users = self
            .tenants
            .get(tenant)
            .ok_or(Error::TenantNotFound)?
            .limits
            .max_users;
        if let Some(max) = max_users {
            let count = self.routes.iter().filter(|r| &*r.tenant == tenant).count();
            if count >= max as usize {
                return Err(Error::LimitReached("max_users"));
            }
        }
        if name.as_ref().is_some_and(|n| !name_fits(n, 0)) {
            return Err(Error::InvalidInput("name must be at most 128 characters"));
        }
        let user = crate::crypto::with(|c| {
            let secret = secret.unwrap_or_else(|| SecretKey::generate(c));
            Keypair::new(&secret, c)
        });
        let identity_key = lifecycle::user_pubkey_key(tenant, &user.public_key());
        if self.store.get(Cf::Users, &identity_key)?.is_some() {
            return Err(Error::UserExists);
        }
        if let Some(nip05) = &nip05_name {
            self.check_nip05_name(tenant, nip05, None)?;
        }
        let remote_signer = crate::crypto::with(Keypair::generate);
        let id = random_id();
        let seal = |role: &str, keys: &Keypair| -> Result<String, Error> {
            let sk = keys.secret_key();
            let sealed =
                self.vault
                    .seal(tenant, SEALED_KEY_RECORD, &id, role, sk.expose_bytes())?;
            Ok(B64.encode(sealed))
        };
        let record = UserRecord {
            sealed_user_key: seal("user", &user)?,
            sealed_remote_signer_key: seal("remote_signer", &remote_signer)?,
            id: id.clone(),
            tenant: tenant.to_owned(),
            name,
            user_pubkey: user.public_key(),
            remote_signer_pubkey: remote_signer.public_key(),
            created_at: now,
            updated_at: 0,
            disabled: false,
            nip05_name,
            policy: None,
        };
        let route_value = format!("{tenant}/{id}");
        let mut batch = Batch::new();
        batch.put(Cf::Users, route_value.as_bytes(), to_json(&record));
        batch.put(Cf::Users, identity_key, id.as_bytes().to_vec());
        batch.put(
            Cf::SignerIndex,
            remote_signer.public_key().as_bytes().to_vec(),
            route_value,
        );
        self.store.write(batch, Durability::Sync)?;
        self.marks.mark(&record.remote_signer_pubkey);
        self.routes.insert(
            record.remote_signer_pubkey,
            Route {
                tenant: tenant.into(),
                user: id.as_str().into(),
            },
        );
        if record.nip05_name.is_some() {
            self.forget_nip05();
        }
        self.changes.send(Change::RemoteSigner {
            pubkey: record.remote_signer_pubkey,
        });
        Ok(record)
    }

    /// Reads a user record.
    ///
    /// # Errors
    ///
    /// [`Error::UserNotFound`] (also for another tenant's user); [`Error::Kms`]; [`Error::Corrupt`].
    pub fn user(&self, tenant: &str, user: &str) -> Result<UserRecord, Error> {
        let key = format!("{tenant}/{user}");
        let bytes = self
            .store
            .get(Cf::Users, key.as_bytes())?
            .ok_or(Error::UserNotFound)?;
        serde_json::from_slice(&bytes).map_err(|_| Error::Corrupt("user record"))
    }

    /// Issues a single-use bunker-URI secret for a user, valid for `ttl_secs`. Only SHA-256 of the
    /// secret is stored, durably, before this returns. The caller holds the user's lock.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`], [`Error::Kms`].
    pub(crate) fn issue_secret(
        &self,
        tenant: &str,
        user: &str,
        now: u64,
        ttl_secs: u64,
        perms: Option<String>,
        session_ttl_secs: Option<u64>,
    ) -> Result<IssuedSecret, Error> {
        if !self.tenants.contains_key(tenant) {
            return Err(Error::TenantNotFound);
        }
        let record = self.user(tenant, user)?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).expect("OS random source failed");
        let secret = Zeroizing::new(hex::encode(bytes.as_ref()));
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let token = BunkerSecretRecord {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            created_at: now,
            expires_at: now.saturating_add(ttl_secs),
            consumed_by: None,
            consumed_at: None,
            perms,
            session_ttl_secs,
        };
        let mut batch = Batch::new();
        batch.put(Cf::BunkerSecrets, hash.to_vec(), to_json(&token));
        batch.put(
            Cf::BunkerSecrets,
            lifecycle::bunker_secret_index_key(tenant, user, &hash),
            Vec::new(),
        );
        self.store.write(batch, Durability::Sync)?;
        Ok(IssuedSecret {
            secret,
            id: hex::encode(hash),
            remote_signer: record.remote_signer_pubkey,
            expires_at: token.expires_at,
        })
    }

    /// The bunker-URI record stored under `secret_hash`, as `connect` sees it.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] on store failure; [`Error::Corrupt`].
    pub fn bunker_secret(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<(BunkerSecretRecord, BunkerSecretView)>, Error> {
        let Some(bytes) = self.store.get(Cf::BunkerSecrets, secret_hash)? else {
            return Ok(None);
        };
        let record: BunkerSecretRecord =
            serde_json::from_slice(&bytes).map_err(|_| Error::Corrupt("bunker secret"))?;
        let view = BunkerSecretView {
            secret_hash: *secret_hash,
            tenant: record.tenant.clone(),
            user: record.user.clone(),
            expires_at: record.expires_at,
            consumed_by: record.consumed_by,
            perms: record.perms.clone(),
        };
        Ok(Some((record, view)))
    }

    /// Adds to `batch` the update that marks a secret consumed by `client`.
    pub(crate) fn consume_token(
        batch: &mut Batch,
        secret_hash: &[u8; 32],
        mut record: BunkerSecretRecord,
        client: PublicKey,
        now: u64,
    ) {
        if record.consumed_by.is_none() {
            record.consumed_by = Some(client);
            record.consumed_at = Some(now);
        }
        batch.put(Cf::BunkerSecrets, secret_hash.to_vec(), to_json(&record));
    }

    /// Whether `remote_signer` (32 raw bytes, see [`proto::nostr::hex32`]) is a remote-signer pubkey
    /// hosted here. O(1), in memory, no curve validation needed.
    pub fn is_hosted(&self, remote_signer: &[u8; 32]) -> bool {
        self.routes.contains_key(remote_signer)
    }

    /// The (tenant, user) of a remote-signer pubkey (32 raw bytes).
    pub fn route(&self, remote_signer: &[u8; 32]) -> Option<Route> {
        self.routes.get(remote_signer).map(|r| r.clone())
    }

    /// The unsealed keys behind a remote-signer pubkey: from the bounded cache, or read and unsealed
    /// (one store read, two AES-GCM opens, two point multiplications).
    ///
    /// # Errors
    ///
    /// [`Error::UserNotFound`] when the pubkey is not hosted; [`Error::Kms`] when the data key is gone
    /// or a sealed key fails to open; [`Error::Corrupt`].
    pub fn keys(&self, remote_signer: &[u8; 32]) -> Result<Arc<UserKeys>, Error> {
        if let Some(keys) = self.keys.get(remote_signer) {
            return Ok(keys.clone());
        }
        // Read before the store: an invalidation after this point keeps what we read uncached.
        let epoch = self.key_epoch.load(Ordering::Acquire);
        let keys = self.load_keys(remote_signer)?;
        self.cache_keys(keys.remote_signer.public_key(), keys.clone(), epoch);
        Ok(keys)
    }

    /// Reads and unseals the keys behind a remote-signer pubkey, bypassing the cache.
    ///
    /// A tenant data-key rotation may re-seal the record and retire the old data key between
    /// the read and the unseal; the record is then read once more (it is re-sealed under a data
    /// key the tenant still has), so a rotation never fails a request.
    fn load_keys(&self, remote_signer: &[u8; 32]) -> Result<Arc<UserKeys>, Error> {
        let route = self.route(remote_signer).ok_or(Error::UserNotFound)?;
        let record = self.user(&route.tenant, &route.user)?;
        match self.unseal_keys(record) {
            Err(Error::Kms(kms::Error::UnknownKeyId { .. })) => {
                self.unseal_keys(self.user(&route.tenant, &route.user)?)
            }
            other => other,
        }
    }

    fn unseal_keys(&self, record: UserRecord) -> Result<Arc<UserKeys>, Error> {
        Ok(Arc::new(UserKeys {
            user: self.unseal(&record, "user", &record.sealed_user_key)?,
            remote_signer: self.unseal(
                &record,
                "remote_signer",
                &record.sealed_remote_signer_key,
            )?,
            disabled: record.disabled,
            policy: Arc::new(match record.policy {
                Some(policy) => policy,
                None => self
                    .tenants
                    .get(&record.tenant)
                    .map(|t| t.policy.clone())
                    .unwrap_or_default(),
            }),
            tenant: record.tenant,
            user_id: record.id,
        }))
    }

    fn unseal(&self, record: &UserRecord, role: &str, sealed_b64: &str) -> Result<Keypair, Error> {
        let sealed = B64
            .decode(sealed_b64)
            .map_err(|_| Error::Corrupt("sealed key encoding"))?;
        let bytes =
            self.vault
                .open(&record.tenant, SEALED_KEY_RECORD, &record.id, role, &sealed)?;
        let array: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::Corrupt("sealed key length"))?;
        let secret =
            SecretKey::from_bytes(array).map_err(|_| Error::Corrupt("sealed key value"))?;
        Ok(crate::crypto::with(|c| Keypair::new(&secret, c)))
    }

    /// Inserts into the bounded key cache, evicting an arbitrary entry when full. Arbitrary (not LRU)
    /// eviction keeps the hot path lock-free; a re-unseal costs ~50 µs.
    ///
    /// Inserts only if no invalidation happened since `epoch` was read (before the store read the
    /// keys come from). The epoch is checked under the shard's write lock, which an invalidation
    /// takes after bumping the epoch: either the invalidation sees (and drops) this entry, or this
    /// check sees the bump.
    fn cache_keys(&self, remote_signer: PublicKey, keys: Arc<UserKeys>, epoch: u64) {
        if self.keys.len() >= self.key_cache_capacity {
            let victim = self.keys.iter().next().map(|e| *e.key());
            if let Some(victim) = victim {
                self.keys.remove(&victim);
            }
        }
        if let dashmap::Entry::Vacant(slot) = self.keys.entry(remote_signer) {
            if self.key_epoch.load(Ordering::Acquire) == epoch {
                slot.insert(keys);
            }
        }
    }

    /// Drops the cached keys of one remote signer after a change of what they were built from:
    /// bumps the epoch, then removes the entry (see [`Directory::cache_keys`]). They are zeroized
    /// when the last in-flight request holding them finishes.
    pub(crate) fn forget_keys(&self, remote_signer: &PublicKey) {
        self.drop_keys(remote_signer);
        self.changes.send(Change::RemoteSigner {
            pubkey: *remote_signer,
        });
    }

    /// [`Directory::forget_keys`] without telling the other nodes (for a mirror of their change).
    pub(super) fn drop_keys(&self, remote_signer: &PublicKey) {
        self.key_epoch.fetch_add(1, Ordering::AcqRel);
        self.keys.remove(remote_signer);
    }

    /// Drops every tenant's NIP-05 names after a change of a user (written first), so the next
    /// lookup rebuilds them from the store.
    pub(crate) fn forget_nip05(&self) {
        self.nip05_epoch.fetch_add(1, Ordering::AcqRel);
        self.nip05_names.clear();
    }

    /// Drops the cached keys of every user of `tenant` (a tenant policy change), as
    /// [`Directory::forget_keys`] does for one.
    pub(crate) fn forget_tenant_keys(&self, tenant: &str) {
        self.drop_tenant_keys(tenant);
        self.changes.send(Change::Tenant { id: tenant.into() });
    }

    /// [`Directory::forget_tenant_keys`] without telling the other nodes.
    pub(super) fn drop_tenant_keys(&self, tenant: &str) {
        self.key_epoch.fetch_add(1, Ordering::AcqRel);
        self.keys.retain(|_, keys| keys.tenant != tenant);
    }
}

/// 128 random bits as 32 lowercase hex characters.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("OS random source failed");
    hex::encode(bytes)
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

pub(super) fn parse_route(key: &[u8], value: &[u8]) -> Option<(PublicKey, Route)> {
    let pk = PublicKey::from_bytes(key.try_into().ok()?).ok()?;
    let (tenant, user) = std::str::from_utf8(value).ok()?.split_once('/')?;
    Some((
        pk,
        Route {
            tenant: tenant.into(),
            user: user.into(),
        },
    ))
}
