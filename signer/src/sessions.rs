//! Client sessions: (remote-signer pubkey, client pubkey) → what `connect` granted.
//!
//! A session is created by a successful `connect` and ended by `logout` (NIP-46 §"logout") or by an
//! admin. Sessions are persisted in the `sessions` column family, keyed by the two 32-byte pubkeys
//! (64 raw bytes), so a restart does not log clients out; all of them are loaded into memory at start.
//!
//! Per session, the transport keys (NIP-44 conversation key, NIP-04 shared key) between the
//! remote-signer key and the client key are derived once and cached, so a request costs no ECDH.

use crate::nip46::{ClientMetadata, Scheme};
use crate::nostr::{nip04, nip44, PublicKey};
use crate::Error;
use dashmap::DashMap;
use kms::{Batch, Cf, Store};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// The stored part of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Tenant id.
    pub tenant: String,
    /// User id.
    pub user: String,
    /// The remote-signer pubkey the client talks to.
    pub remote_signer: PublicKey,
    /// The client pubkey (author of the requests).
    pub client: PublicKey,
    /// Permissions the client requested at `connect` (comma-separated `method[:kind]`).
    pub perms: String,
    /// Transport scheme of the `connect` request.
    pub scheme: Scheme,
    /// Unauthenticated client display metadata from `connect`.
    pub metadata: Option<ClientMetadata>,
    /// Unix seconds.
    pub created_at: u64,
}

/// A live session: the record plus cached transport keys.
#[derive(Debug)]
pub struct Session {
    /// The persisted record.
    pub record: SessionRecord,
    nip44: OnceLock<nip44::ConversationKey>,
    nip04: OnceLock<nip04::SharedKey>,
}

impl Session {
    fn new(record: SessionRecord) -> Self {
        Session {
            record,
            nip44: OnceLock::new(),
            nip04: OnceLock::new(),
        }
    }

    /// The cached NIP-44 conversation key, derived with `derive` on first use.
    ///
    /// # Errors
    ///
    /// Whatever `derive` returns (an invalid client point); nothing is cached then.
    pub fn nip44_key<E>(
        &self,
        derive: impl FnOnce() -> Result<nip44::ConversationKey, E>,
    ) -> Result<&nip44::ConversationKey, E> {
        if let Some(key) = self.nip44.get() {
            return Ok(key);
        }
        let key = derive()?;
        Ok(self.nip44.get_or_init(|| key))
    }

    /// The cached NIP-04 shared key, derived with `derive` on first use.
    ///
    /// # Errors
    ///
    /// Whatever `derive` returns; nothing is cached then.
    pub fn nip04_key<E>(
        &self,
        derive: impl FnOnce() -> Result<nip04::SharedKey, E>,
    ) -> Result<&nip04::SharedKey, E> {
        if let Some(key) = self.nip04.get() {
            return Ok(key);
        }
        let key = derive()?;
        Ok(self.nip04.get_or_init(|| key))
    }
}

/// All sessions, in memory and in the store.
pub struct Sessions {
    map: DashMap<(PublicKey, PublicKey), Arc<Session>>,
}

impl Sessions {
    /// Loads every session from `store`.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] on store failure; [`Error::Corrupt`] on an undecodable record.
    pub fn load(store: &dyn Store) -> Result<Self, Error> {
        let map = DashMap::new();
        let mut bad = false;
        store.scan_prefix(Cf::Sessions, b"", &mut |_, value| {
            match serde_json::from_slice::<SessionRecord>(value) {
                Ok(r) => drop(map.insert((r.remote_signer, r.client), Arc::new(Session::new(r)))),
                Err(_) => bad = true,
            }
            !bad
        })?;
        if bad {
            return Err(Error::Corrupt("session record"));
        }
        Ok(Sessions { map })
    }

    /// The session of `client` with `remote_signer`, if any.
    pub fn get(&self, remote_signer: &PublicKey, client: &PublicKey) -> Option<Arc<Session>> {
        self.map.get(&(*remote_signer, *client)).map(|s| s.clone())
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds the put of `record` to `batch`; call [`Sessions::insert`] after the batch is written.
    pub(crate) fn put(batch: &mut Batch, record: &SessionRecord) {
        let value = serde_json::to_vec(record).expect("records serialize");
        batch.put(
            Cf::Sessions,
            key(&record.remote_signer, &record.client),
            value,
        );
    }

    /// Adds the delete of a session to `batch`; call [`Sessions::forget`] after it is written.
    pub(crate) fn delete(batch: &mut Batch, remote_signer: &PublicKey, client: &PublicKey) {
        batch.delete(Cf::Sessions, key(remote_signer, client));
    }

    /// Makes a persisted session live.
    pub(crate) fn insert(&self, record: SessionRecord) {
        let k = (record.remote_signer, record.client);
        self.map.insert(k, Arc::new(Session::new(record)));
    }

    /// Drops a session from memory.
    pub(crate) fn forget(&self, remote_signer: &PublicKey, client: &PublicKey) {
        self.map.remove(&(*remote_signer, *client));
    }
}

fn key(remote_signer: &PublicKey, client: &PublicKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    k.extend_from_slice(remote_signer.as_bytes());
    k.extend_from_slice(client.as_bytes());
    k
}
