//! Requests held for an admin's approval (NIP-46 "Auth Challenges",
//! <https://github.com/nostr-protocol/nips/blob/master/46.md>): the policy's `ask_*` rules hold a
//! request, the client is answered `{"id","result":"auth_url","error":<url>}`, and the request
//! waits here — persisted, so it survives a restart — until an admin approves or denies it or it
//! expires. Its real reply then goes to the client with the same id.
//!
//! Stored in [`Cf::Approvals`] under three kinds of key:
//! - `a` ‖ tenant id (32 ASCII) ‖ approval id (32 ASCII hex) → the [`ApprovalRecord`] (JSON);
//! - `t` ‖ SHA-256(page token) (32 bytes) → tenant id ‖ approval id: the page's lookup. The token
//!   (32 random bytes, hex in the URL) is never stored, logged or audited: it is the capability
//!   to read the page;
//! - `e` ‖ expiry (8 bytes, big-endian Unix seconds) ‖ tenant id ‖ approval id → empty, for pending
//!   approvals only: the expiry sweep reads the due ones in order.
//!
//! The held request is kept as its kind-24133 event, encrypted to the remote-signer key as the
//! client sent it: nothing decrypted is stored.

use crate::Error;
use proto::nostr::PublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::{Batch, Cf, Store};

/// Default time a held request waits for a decision, seconds: 10 minutes.
pub const DEFAULT_APPROVAL_TTL_SECS: u64 = 600;

/// Most requests of one client (one session) held at once; beyond it the client is answered
/// `restricted:` at once, so that a paired client cannot fill the store with held requests.
pub const MAX_HELD_PER_CLIENT: u32 = 8;

/// How many requests each session has held, pending (rebuilt from the store at start).
#[derive(Debug, Default)]
pub(crate) struct HeldCounts {
    counts: std::sync::Mutex<std::collections::HashMap<(PublicKey, PublicKey), u32>>,
}

impl HeldCounts {
    /// Counts the pending records in `store`.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] on store failure; [`Error::Corrupt`] on an undecodable record.
    pub(crate) fn load(store: &dyn Store) -> Result<Self, Error> {
        let held = HeldCounts::default();
        for record in all(store)? {
            if record.status == ApprovalStatus::Pending {
                held.add(record.remote_signer, record.client);
            }
        }
        Ok(held)
    }

    /// Takes one place for (remote signer, client); `false` when it already holds
    /// [`MAX_HELD_PER_CLIENT`].
    pub(crate) fn try_add(&self, remote_signer: PublicKey, client: PublicKey) -> bool {
        let mut counts = self.counts.lock().expect("held counts");
        let n = counts.entry((remote_signer, client)).or_insert(0);
        if *n >= MAX_HELD_PER_CLIENT {
            return false;
        }
        *n += 1;
        true
    }

    fn add(&self, remote_signer: PublicKey, client: PublicKey) {
        *self
            .counts
            .lock()
            .expect("held counts")
            .entry((remote_signer, client))
            .or_insert(0) += 1;
    }

    /// Gives one place back.
    pub(crate) fn remove(&self, remote_signer: PublicKey, client: PublicKey) {
        let mut counts = self.counts.lock().expect("held counts");
        if let Some(n) = counts.get_mut(&(remote_signer, client)) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&(remote_signer, client));
            }
        }
    }
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for an admin.
    Pending,
    /// Approved once: the request ran.
    Approved,
    /// Approved and remembered for its client: the request ran, and such requests of that client
    /// no longer ask.
    Remembered,
    /// Denied: the client got an error reply.
    Denied,
    /// Nobody decided in time: the client got an error reply.
    Expired,
}

impl ApprovalStatus {
    /// The lowercase name (`pending`, `approved`, `remembered`, `denied`, `expired`).
    pub fn name(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Remembered => "remembered",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }
}

/// One request held for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// 32 lowercase hex (16 random bytes): how admins name it.
    pub id: String,
    /// Tenant id.
    pub tenant: String,
    /// User id.
    pub user: String,
    /// The remote-signer pubkey the request went to.
    pub remote_signer: PublicKey,
    /// The client pubkey (the request's author).
    pub client: PublicKey,
    /// The permission it needs, NIP-46 perms syntax (`sign_event:0`, `nip44_decrypt`).
    pub permission: String,
    /// The request event as the client sent it (JSON; its content encrypted to the remote signer).
    pub request: String,
    /// The foreign relay it came from; `None`: bunkerd's own listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Unix seconds it was held.
    pub created_at: u64,
    /// Unix seconds after which it expires unanswered.
    pub expires_at: u64,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// Unix seconds of the decision (or expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<u64>,
    /// Who decided: the admin credential's actor name (`operator`, `token:<id>`, `npub…`), or
    /// `expiry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// The page-token index key (`t` ‖ SHA-256(token)), hex: what the record's deletion removes with it.
    /// The token itself is never stored.
    #[serde(default)]
    pub token_key: String,
}

/// How long an approval an admin decided stays listed, seconds: 7 days. The sweeper deletes it
/// after.
pub const DECIDED_RETENTION_SECS: u64 = 7 * 86_400;

/// How long an expired approval (nobody decided) stays listed, seconds: 1 hour. Short, because a
/// client can make them without an admin: with [`MAX_HELD_PER_CLIENT`] held at a time, one client
/// keeps at most a few dozen expired records in the store.
pub const EXPIRED_RETENTION_SECS: u64 = 3600;

/// Adds the deletion of `record` and its indexes to `batch`.
pub(crate) fn delete(batch: &mut Batch, record: &ApprovalRecord) {
    batch.delete(
        Cf::Approvals,
        expiry_key(record.expires_at, &record.tenant, &record.id),
    );
    if let Ok(key) = hex::decode(&record.token_key) {
        batch.delete(Cf::Approvals, key);
    }
    batch.delete(Cf::Approvals, record_key(&record.tenant, &record.id));
}

/// Every record, in key order.
///
/// # Errors
///
/// As [`get`].
pub(crate) fn all(store: &dyn Store) -> Result<Vec<ApprovalRecord>, Error> {
    scan(store, b"a", usize::MAX)
}

/// The records whose key starts with `prefix`, at most `limit`.
fn scan(store: &dyn Store, prefix: &[u8], limit: usize) -> Result<Vec<ApprovalRecord>, Error> {
    let mut found = Vec::new();
    let mut bad = false;
    store.scan_prefix(Cf::Approvals, prefix, &mut |_, value| {
        match serde_json::from_slice(value) {
            Ok(record) => found.push(record),
            Err(_) => bad = true,
        }
        !bad && found.len() < limit
    })?;
    if bad {
        return Err(Error::Corrupt("approval record"));
    }
    Ok(found)
}
/// The record's key.
pub(crate) fn record_key(tenant: &str, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + tenant.len() + id.len());
    key.push(b'a');
    key.extend_from_slice(tenant.as_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// The page-token index key: `t` ‖ SHA-256(token).
pub(crate) fn token_key(token: &str) -> Vec<u8> {
    let mut key = vec![b't'];
    key.extend_from_slice(&Sha256::digest(token.as_bytes()));
    key
}

/// The expiry index key of a pending approval.
pub(crate) fn expiry_key(expires_at: u64, tenant: &str, id: &str) -> Vec<u8> {
    let mut key = vec![b'e'];
    key.extend_from_slice(&expires_at.to_be_bytes());
    key.extend_from_slice(tenant.as_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// Adds a new pending record, its token index and its expiry index to `batch`.
pub(crate) fn put_new(batch: &mut Batch, record: &ApprovalRecord, token: &str) {
    let mut target = record.tenant.clone().into_bytes();
    target.extend_from_slice(record.id.as_bytes());
    batch.put(Cf::Approvals, token_key(token), target);
    batch.put(
        Cf::Approvals,
        expiry_key(record.expires_at, &record.tenant, &record.id),
        Vec::new(),
    );
    put(batch, record);
}

/// Adds the write of `record` to `batch`; a decided record leaves the expiry index.
pub(crate) fn put(batch: &mut Batch, record: &ApprovalRecord) {
    if record.status != ApprovalStatus::Pending {
        batch.delete(
            Cf::Approvals,
            expiry_key(record.expires_at, &record.tenant, &record.id),
        );
    }
    let value = serde_json::to_vec(record).expect("records serialize");
    batch.put(Cf::Approvals, record_key(&record.tenant, &record.id), value);
}

/// Reads one record.
///
/// # Errors
///
/// [`Error::Kms`] on store failure; [`Error::Corrupt`] on an undecodable record.
pub(crate) fn get(
    store: &dyn Store,
    tenant: &str,
    id: &str,
) -> Result<Option<ApprovalRecord>, Error> {
    store
        .get(Cf::Approvals, &record_key(tenant, id))?
        .map(|v| serde_json::from_slice(&v).map_err(|_| Error::Corrupt("approval record")))
        .transpose()
}

/// The record a page token names, if any.
///
/// # Errors
///
/// As [`get`].
pub(crate) fn by_token(store: &dyn Store, token: &str) -> Result<Option<ApprovalRecord>, Error> {
    let Some(target) = store.get(Cf::Approvals, &token_key(token))? else {
        return Ok(None);
    };
    let (tenant, id) = target.split_at(target.len().saturating_sub(32));
    let (Ok(tenant), Ok(id)) = (std::str::from_utf8(tenant), std::str::from_utf8(id)) else {
        return Err(Error::Corrupt("approval token index"));
    };
    get(store, tenant, id)
}

/// Every record of `tenant`, in id order (ids are random: no particular time order), at most
/// `limit`.
///
/// # Errors
///
/// As [`get`].
pub(crate) fn of_tenant(
    store: &dyn Store,
    tenant: &str,
    limit: usize,
) -> Result<Vec<ApprovalRecord>, Error> {
    let mut prefix = vec![b'a'];
    prefix.extend_from_slice(tenant.as_bytes());
    scan(store, &prefix, limit)
}

/// (tenant, id) of the pending approvals whose expiry is at or before `now`, oldest first, at most
/// `limit`.
///
/// # Errors
///
/// [`Error::Kms`] on store failure.
pub(crate) fn due(
    store: &dyn Store,
    now: u64,
    limit: usize,
) -> Result<Vec<(String, String)>, Error> {
    let mut end = vec![b'e'];
    end.extend_from_slice(&now.saturating_add(1).to_be_bytes());
    let mut found = Vec::new();
    store.scan_range(Cf::Approvals, b"e", &end, &mut |key, _| {
        let rest = &key[9..];
        if rest.len() == 64 {
            let (tenant, id) = rest.split_at(32);
            found.push((
                String::from_utf8_lossy(tenant).into_owned(),
                String::from_utf8_lossy(id).into_owned(),
            ));
        }
        found.len() < limit
    })?;
    Ok(found)
}
