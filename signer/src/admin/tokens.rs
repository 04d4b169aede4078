//! Tenant admin tokens: bearer credentials for the routes of one tenant.
//!
//! A token is 32 random bytes (64 lowercase hex characters), shown once; only its SHA-256 is
//! stored, as the key of its [`AdminTokenRecord`] in the `admin_tokens` column family, and held in
//! memory by digest for authentication ([`AdminTokens::find`]). Creating and revoking tokens are
//! admin services ([`Admin::create_admin_token`], [`Admin::revoke_admin_token`]) holding the
//! tenant's lock exclusively, so a token is never created for a tenant being deleted and a revoked
//! token is never answered twice.

use super::{check_label, Admin, AdminError};
use crate::cluster::{set_entry, Broadcast, Change, Changes, WriteMarks};
use crate::directory::Directory;
use crate::Error;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use store::{Batch, Cf, Durability, Store};
use zeroize::Zeroizing;

/// A tenant admin token's record (JSON in the store). The token itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminTokenRecord {
    /// Public id (32 lowercase hex characters), for listing and revocation.
    pub id: String,
    /// The tenant it administers.
    pub tenant: String,
    /// Optional label, at most [`super::MAX_LABEL_CHARS`] characters.
    pub name: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// The audit actor that created it (`operator`, `token:<id>` or `nip98:<pubkey hex>`).
    pub created_by: String,
}

/// The tenant admin tokens, in memory by SHA-256 and in the `admin_tokens` column family.
pub struct AdminTokens {
    store: Arc<dyn Store>,
    by_hash: DashMap<[u8; 32], AdminTokenRecord>,
    /// The other nodes of a cluster, told of every token created or revoked.
    changes: Changes,
    /// This node's own token writes, against mirrors and reloads that read the store before them.
    marks: WriteMarks,
}

impl std::fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminTokens")
            .field("count", &self.by_hash.len())
            .finish_non_exhaustive()
    }
}

impl AdminTokens {
    /// Loads every token record from `store`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the scan fails; [`Error::Corrupt`] for a key that is not 32 bytes or
    /// a record that does not decode.
    pub fn load(store: Arc<dyn Store>) -> Result<Self, Error> {
        let tokens = AdminTokens {
            store,
            by_hash: DashMap::new(),
            changes: Changes::default(),
            marks: WriteMarks::default(),
        };
        tokens.reload()?;
        Ok(tokens)
    }

    /// Sends every change of a token to `broadcast` from now on ([`crate::cluster`]).
    pub fn join_cluster(&self, broadcast: Arc<dyn Broadcast>) {
        self.changes.join(broadcast);
    }

    /// Reloads every token from the store (inserting or replacing, then dropping the ones no
    /// longer stored), for a node that may have missed changes; a token changed here meanwhile is
    /// read again alone.
    ///
    /// # Errors
    ///
    /// As [`AdminTokens::load`].
    pub fn reload(&self) -> Result<(), Error> {
        let mut reload = self.marks.reload();
        let live: Vec<[u8; 32]> = self.by_hash.iter().map(|e| *e.key()).collect();
        let stored = self.read_all()?;
        let hashes: std::collections::HashSet<[u8; 32]> = stored.iter().map(|(h, _)| *h).collect();
        let gone = live.into_iter().filter(|h| !hashes.contains(h));
        let mut missed = Vec::new();
        let all = stored.into_iter().map(|(h, r)| (h, Some(r)));
        for (hash, record) in all.chain(gone.map(|h| (h, None))) {
            if !reload.apply(&self.by_hash, hash, record, set_entry) {
                missed.push(hash);
            }
        }
        for hash in missed {
            self.mirror_hash(hash)?;
        }
        Ok(())
    }

    /// Every stored token: its SHA-256 and record.
    fn read_all(&self) -> Result<Vec<([u8; 32], AdminTokenRecord)>, Error> {
        let mut bad = false;
        let mut stored = Vec::new();
        self.store
            .scan_prefix(Cf::AdminTokens, b"", &mut |key, value| {
                match (
                    <[u8; 32]>::try_from(key),
                    serde_json::from_slice::<AdminTokenRecord>(value),
                ) {
                    (Ok(hash), Ok(record)) => stored.push((hash, record)),
                    _ => bad = true,
                }
                !bad
            })?;
        if bad {
            return Err(Error::Corrupt("admin token record"));
        }
        Ok(stored)
    }

    /// Makes memory hold what the store holds for the token named by a [`Change::AdminToken`]
    /// another node sent; other changes are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a hash that is not 64 hex characters; [`Error::Store`] when the
    /// store cannot be read; [`Error::Corrupt`] for an undecodable record.
    pub fn mirror(&self, change: &Change) -> Result<(), Error> {
        let Change::AdminToken { hash } = change else {
            return Ok(());
        };
        let hash: [u8; 32] = hex::decode(hash)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or(Error::InvalidInput(
                "admin token hash is not 64 hex characters",
            ))?;
        self.mirror_hash(hash)
    }

    fn mirror_hash(&self, hash: [u8; 32]) -> Result<(), Error> {
        let read = || match self.store.get(Cf::AdminTokens, &hash)? {
            Some(value) => serde_json::from_slice::<AdminTokenRecord>(&value)
                .map(Some)
                .map_err(|_| Error::Corrupt("admin token record")),
            None => Ok(None),
        };
        self.marks.mirror(&self.by_hash, &hash, read, set_entry)
    }

    fn changed(&self, hash: &[u8; 32]) {
        self.changes.send(Change::AdminToken {
            hash: hex::encode(hash),
        });
    }

    /// The record of the token whose SHA-256 is `hash`, if any. O(1), in memory.
    pub fn find(&self, hash: &[u8; 32]) -> Option<AdminTokenRecord> {
        self.by_hash.get(hash).map(|r| r.clone())
    }

    /// The tokens of a tenant, ordered by creation time (then id).
    pub fn list(&self, tenant: &str) -> Vec<AdminTokenRecord> {
        let mut list: Vec<AdminTokenRecord> = self
            .by_hash
            .iter()
            .filter(|e| e.value().tenant == tenant)
            .map(|e| e.value().clone())
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list
    }

    /// Deletes every token of `tenant`, durably, then from memory; returns how many. The caller
    /// holds the tenant's lock exclusively. Reads the tokens from the store, which also holds
    /// those another node created that this one has not heard of yet.
    pub(super) fn delete_tenant_locked(&self, tenant: &str) -> Result<usize, Error> {
        let hashes: Vec<[u8; 32]> = self
            .read_all()?
            .into_iter()
            .filter(|(_, record)| record.tenant == tenant)
            .map(|(hash, _)| hash)
            .collect();
        let mut batch = Batch::new();
        for hash in &hashes {
            batch.delete(Cf::AdminTokens, hash.to_vec());
        }
        self.store.write(batch, Durability::Sync)?;
        for hash in &hashes {
            self.marks.mark(hash);
            self.by_hash.remove(hash);
            self.changed(hash);
        }
        Ok(hashes.len())
    }
}

impl Admin<'_> {
    /// Creates an admin token for `tenant`, durably, labelled `name` (at most
    /// [`super::MAX_LABEL_CHARS`] characters) and recorded as created by `created_by` at `now` (Unix
    /// seconds). Returns the token (64 hex characters, zeroized on drop: show it once) and its
    /// record.
    ///
    /// # Errors
    ///
    /// [`AdminError::LabelTooLong`]; [`Error::TenantNotFound`]; [`Error::Store`].
    pub fn create_admin_token(
        &self,
        tokens: &AdminTokens,
        tenant: &str,
        name: Option<String>,
        created_by: String,
        now: u64,
    ) -> Result<(Zeroizing<String>, AdminTokenRecord), AdminError> {
        check_label(name.as_deref())?;
        let _guard = self.bunker.locks.tenant_exclusive(tenant)?;
        if self.bunker.directory.tenant(tenant).is_none() {
            return Err(Error::TenantNotFound.into());
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).expect("OS random source failed");
        let token = Zeroizing::new(hex::encode(bytes.as_ref()));
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let record = AdminTokenRecord {
            id: Directory::new_id(),
            tenant: tenant.to_owned(),
            name,
            created_at: now,
            created_by,
        };
        let mut batch = Batch::new();
        batch.put(
            Cf::AdminTokens,
            hash.to_vec(),
            serde_json::to_vec(&record).expect("records serialize"),
        );
        tokens
            .store
            .write(batch, Durability::Sync)
            .map_err(Error::from)?;
        tokens.marks.mark(&hash);
        tokens.by_hash.insert(hash, record.clone());
        tokens.changed(&hash);
        Ok((token, record))
    }

    /// Revokes the admin token `id` of `tenant`, durably: it no longer authenticates.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`AdminError::AdminTokenNotFound`] (also for another tenant's
    /// token, or one revoked meanwhile); [`Error::Store`].
    pub fn revoke_admin_token(
        &self,
        tokens: &AdminTokens,
        tenant: &str,
        id: &str,
    ) -> Result<(), AdminError> {
        let _guard = self.bunker.locks.tenant_exclusive(tenant)?;
        if self.bunker.directory.tenant(tenant).is_none() {
            return Err(Error::TenantNotFound.into());
        }
        // From the store: a token another node created may not have reached this one's memory.
        let hash = tokens
            .read_all()?
            .into_iter()
            .find(|(_, record)| record.tenant == tenant && record.id == id)
            .map(|(hash, _)| hash)
            .ok_or(AdminError::AdminTokenNotFound)?;
        let mut batch = Batch::new();
        batch.delete(Cf::AdminTokens, hash.to_vec());
        tokens
            .store
            .write(batch, Durability::Sync)
            .map_err(Error::from)?;
        tokens.marks.mark(&hash);
        tokens.by_hash.remove(&hash);
        tokens.changed(&hash);
        Ok(())
    }
}
