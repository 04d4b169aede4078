//! Client sessions: (remote-signer pubkey, client pubkey) → what `connect` granted.
//!
//! A session is created by a successful `connect` and ended by `logout` (NIP-46 §"logout") or by an
//! admin. Sessions are persisted in the `sessions` column family, keyed by the two 32-byte pubkeys
//! (64 raw bytes), so a restart does not log clients out; all of them are loaded into memory at start.
//!
//! Per session, the transport keys (NIP-44 conversation key, NIP-04 shared key) between the
//! remote-signer key and the client key are derived once and cached, so a request costs no ECDH.

use crate::cluster::{Change, Changes, WriteMarks};
use crate::Error;
use dashmap::{DashMap, Entry};
use proto::nip46::{ClientMetadata, Scheme};
use proto::nostr::{nip04, nip44, PublicKey};
use proto::policy::{Grant, Perms};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use store::{Batch, Cf, Store};

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
    /// Permissions the client requested at `connect`, canonical (comma-separated `method[:kind]`).
    /// They narrow the session only under the policy's `grant: "requested"`.
    pub perms: String,
    /// Permissions pre-approved on the bunker URI it connected with, canonical; `None` when the URI
    /// carried none. They always cap the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<String>,
    /// Read only, from records written before `approved` existed: the grant fixed at `connect`
    /// (requested ∩ policy then). Such a session keeps it as its cap, so an upgrade widens nothing.
    #[serde(default, skip_serializing)]
    pub grant: Option<String>,
    /// Unix seconds at which the session ends, set by its bunker URI's `session_ttl_secs`; `None`:
    /// only the policy's `session_ttl_secs` can end it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Transport scheme of the `connect` request.
    pub scheme: Scheme,
    /// Unauthenticated client display metadata from `connect`, or from the `nostrconnect://` URI
    /// the session was paired with.
    pub metadata: Option<ClientMetadata>,
    /// The relays the client named in its `nostrconnect://` URI, as it wrote them (empty for a
    /// session made by `connect`, whose client uses bunkerd's own relays).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relays: Vec<String>,
    /// What admins approved for this client with "remember" (canonical NIP-46 perms): the policy's
    /// approval rules no longer hold such requests. `None`: nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remembered: Option<String>,
    /// Whether an admin confirmed this client (approved one of its requests with "remember"):
    /// the policy's `ask_new_clients` no longer holds its requests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    /// Unix seconds.
    pub created_at: u64,
}

/// A live session: the record plus cached transport keys and usage counters.
#[derive(Debug)]
pub struct Session {
    /// The persisted record.
    pub record: SessionRecord,
    /// The parsed grant (checked against the user's current policy on every request).
    pub grant: Grant,
    /// [`SessionRecord::remembered`], parsed.
    pub remembered: Perms,
    nip44: OnceLock<nip44::ConversationKey>,
    nip04: OnceLock<nip04::SharedKey>,
    /// Requests answered in this session since the process started (not persisted).
    requests: AtomicU64,
    /// Unix seconds of the last request since the process started (0 = none yet; not persisted).
    last_used: AtomicU64,
    /// Whether its client asked `switch_relays` on a foreign relay since the process started:
    /// only then does a request on bunkerd's own relay move the session there (not persisted).
    switch_asked: std::sync::atomic::AtomicBool,
}

impl Session {
    fn new(record: SessionRecord) -> Self {
        let approved = record.approved.as_deref().or(record.grant.as_deref());
        let grant = Grant::new(Perms::parse(&record.perms), approved.map(Perms::parse));
        let remembered = record
            .remembered
            .as_deref()
            .map_or_else(Perms::none, Perms::parse);
        Session {
            grant,
            remembered,
            record,
            nip44: OnceLock::new(),
            nip04: OnceLock::new(),
            requests: AtomicU64::new(0),
            last_used: AtomicU64::new(0),
            switch_asked: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// When the session ends under `policy`, Unix seconds; `None`: it does not expire.
    pub fn expires_at(&self, policy: &proto::policy::Policy) -> Option<u64> {
        policy.session_expiry(self.record.created_at, self.record.expires_at)
    }

    /// Records that the client asked `switch_relays` over a foreign relay.
    pub fn mark_switch_asked(&self) {
        self.switch_asked.store(true, Ordering::Relaxed);
    }

    /// Whether the client asked `switch_relays` over a foreign relay since the process started.
    pub fn switch_asked(&self) -> bool {
        self.switch_asked.load(Ordering::Relaxed)
    }

    /// Counts one request at `now` (unix seconds). Two relaxed atomic operations.
    pub fn touch(&self, now: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.last_used.fetch_max(now, Ordering::Relaxed);
    }

    /// Requests answered since the process started.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Unix seconds of the last request since the process started, if any.
    pub fn last_used(&self) -> Option<u64> {
        Some(self.last_used.load(Ordering::Relaxed)).filter(|t| *t > 0)
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
    /// Keyed by (remote-signer pubkey, client pubkey), 32 raw bytes each: a lookup from raw bytes
    /// ([`Sessions::exists`]) needs no curve validation.
    pub(crate) map: DashMap<([u8; 32], [u8; 32]), Arc<Session>>,
    /// Moves whenever a session with [`SessionRecord::relays`] is inserted or dropped
    /// ([`Sessions::foreign_generation`]).
    foreign_generation: AtomicU64,
    /// The other nodes of a cluster, told of every session change ([`crate::cluster`]).
    pub(crate) changes: Changes,
    /// This node's own session writes, against mirrors that read the store before them.
    pub(crate) marks: WriteMarks,
}

/// A session's map key.
fn pair(remote_signer: &PublicKey, client: &PublicKey) -> ([u8; 32], [u8; 32]) {
    (*remote_signer.as_bytes(), *client.as_bytes())
}

impl Sessions {
    /// Loads every session from `store`.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] on store failure; [`Error::Corrupt`] on an undecodable record.
    pub fn load(store: &dyn Store) -> Result<Self, Error> {
        let map = DashMap::new();
        for record in read_all(store)? {
            map.insert(
                pair(&record.remote_signer, &record.client),
                Arc::new(Session::new(record)),
            );
        }
        Ok(Sessions {
            map,
            foreign_generation: AtomicU64::new(1),
            changes: Changes::default(),
            marks: WriteMarks::default(),
        })
    }

    /// Makes memory hold what the store holds for one session, after another node changed it
    /// ([`crate::cluster`]). A live session's usage counters and derived keys survive when its
    /// record changes.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the store cannot be read (memory is left as it was);
    /// [`Error::Corrupt`] for an undecodable record.
    pub(crate) fn mirror(
        &self,
        store: &dyn Store,
        remote_signer: &PublicKey,
        client: &PublicKey,
    ) -> Result<(), Error> {
        self.mirror_pair(store, pair(remote_signer, client))
    }

    fn mirror_pair(&self, store: &dyn Store, k: ([u8; 32], [u8; 32])) -> Result<(), Error> {
        let read = || match store.get(Cf::Sessions, &[k.0, k.1].concat())? {
            Some(value) => serde_json::from_slice::<SessionRecord>(&value)
                .map(Some)
                .map_err(|_| Error::Corrupt("session record")),
            None => Ok(None),
        };
        self.marks
            .mirror(&self.map, &k, read, |entry, stored| self.set(entry, stored))
    }

    /// Reloads every session from the store, for a node that may have missed changes: stored
    /// ones are inserted or replaced, the others dropped; one that changed here meanwhile is read
    /// again alone ([`WriteMarks`]).
    ///
    /// # Errors
    ///
    /// As [`Sessions::load`].
    pub(crate) fn reload(&self, store: &dyn Store) -> Result<(), Error> {
        let mut reload = self.marks.reload();
        let live: Vec<([u8; 32], [u8; 32])> = self.map.iter().map(|e| *e.key()).collect();
        let mut stored = std::collections::HashSet::new();
        let mut missed = Vec::new();
        for record in read_all(store)? {
            let k = pair(&record.remote_signer, &record.client);
            stored.insert(k);
            if !reload.apply(&self.map, k, Some(record), |e, r| self.set(e, r)) {
                missed.push(k);
            }
        }
        for k in live.into_iter().filter(|k| !stored.contains(k)) {
            if !reload.apply(&self.map, k, None, |e, r| self.set(e, r)) {
                missed.push(k);
            }
        }
        for k in missed {
            self.mirror_pair(store, k)?;
        }
        Ok(())
    }

    /// Makes a session's map entry hold `stored` (`None`: no session). A live session keeps its
    /// counters and derived keys when its record is unchanged, its counters when it changed.
    pub(crate) fn set(
        &self,
        entry: Entry<'_, ([u8; 32], [u8; 32]), Arc<Session>>,
        stored: Option<SessionRecord>,
    ) {
        let foreign = match (entry, stored) {
            (Entry::Occupied(live), Some(record)) if live.get().record == record => false,
            (Entry::Occupied(mut live), Some(record)) => {
                let foreign = !record.relays.is_empty() || !live.get().record.relays.is_empty();
                let replacement = carried(live.get(), record);
                live.insert(Arc::new(replacement));
                foreign
            }
            (Entry::Vacant(slot), Some(record)) => {
                let foreign = !record.relays.is_empty();
                slot.insert(Arc::new(Session::new(record)));
                foreign
            }
            (Entry::Occupied(live), None) => !live.remove().record.relays.is_empty(),
            (Entry::Vacant(_), None) => false,
        };
        if foreign {
            self.foreign_generation.fetch_add(1, Ordering::Release);
        }
    }

    /// The session of `client` with `remote_signer`, if any.
    pub fn get(&self, remote_signer: &PublicKey, client: &PublicKey) -> Option<Arc<Session>> {
        self.map
            .get(&pair(remote_signer, client))
            .map(|s| s.clone())
    }

    /// Whether `client` has a session with `remote_signer` (32 raw bytes each), expired or not.
    pub fn exists(&self, remote_signer: &[u8; 32], client: &[u8; 32]) -> bool {
        self.map.contains_key(&(*remote_signer, *client))
    }

    /// Sessions per tenant id (O(sessions)).
    pub fn by_tenant(&self) -> std::collections::HashMap<String, usize> {
        let mut counts = std::collections::HashMap::new();
        for session in self.map.iter() {
            *counts.entry(session.record.tenant.clone()).or_insert(0) += 1;
        }
        counts
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
        let change = changed(&record);
        self.marks
            .mark(&pair(&record.remote_signer, &record.client));
        self.insert_session(Session::new(record));
        self.changes.send(change);
    }

    fn insert_session(&self, session: Session) {
        let k = pair(&session.record.remote_signer, &session.record.client);
        let foreign = !session.record.relays.is_empty();
        let old = self.map.insert(k, Arc::new(session));
        if foreign || old.is_some_and(|s| !s.record.relays.is_empty()) {
            self.foreign_generation.fetch_add(1, Ordering::Release);
        }
    }

    /// Replaces a live session's record with `record` (same pair), keeping its usage counters.
    pub(crate) fn replace(&self, session: &Session, record: SessionRecord) {
        let change = changed(&record);
        self.marks
            .mark(&pair(&record.remote_signer, &record.client));
        self.insert_session(carried(session, record));
        self.changes.send(change);
    }

    /// Drops a session from memory.
    pub(crate) fn forget(&self, remote_signer: &PublicKey, client: &PublicKey) {
        self.marks.mark(&pair(remote_signer, client));
        self.drop_live(remote_signer, client);
        self.changes.send(Change::Session {
            remote_signer: *remote_signer,
            client: *client,
        });
    }

    fn drop_live(&self, remote_signer: &PublicKey, client: &PublicKey) {
        let old = self.map.remove(&pair(remote_signer, client));
        if old.is_some_and(|(_, s)| !s.record.relays.is_empty()) {
            self.foreign_generation.fetch_add(1, Ordering::Release);
        }
    }

    /// A number that moves whenever a session served on its client's relays is created, ended or
    /// moved to bunkerd's own relays (an atomic read).
    pub fn foreign_generation(&self) -> u64 {
        self.foreign_generation.load(Ordering::Acquire)
    }

    /// The sessions whose client named relays in its `nostrconnect://` URI ([`SessionRecord::relays`]
    /// not empty), with the generation read before them: a change after the read moves it.
    /// O(sessions).
    pub fn foreign(&self) -> (u64, Vec<Arc<Session>>) {
        let generation = self.foreign_generation();
        let found = self
            .map
            .iter()
            .filter(|e| !e.record.relays.is_empty())
            .map(|e| e.value().clone())
            .collect();
        (generation, found)
    }

    /// Every live session (for the sweeper), in no particular order.
    pub(crate) fn all(&self) -> Vec<Arc<Session>> {
        self.map.iter().map(|e| e.value().clone()).collect()
    }

    /// The live sessions of one remote-signer key, ordered by client pubkey.
    pub fn of_remote_signer(&self, remote_signer: &PublicKey) -> Vec<Arc<Session>> {
        let mut found: Vec<Arc<Session>> = self
            .map
            .iter()
            .filter(|e| e.key().0 == *remote_signer.as_bytes())
            .map(|e| e.value().clone())
            .collect();
        found.sort_by_key(|s| s.record.client);
        found
    }

    /// Adds to `batch` the deletes of every session of `remote_signer`, those in the store
    /// (another node's may not have reached this one's memory) and those in memory; returns their
    /// client keys (for [`Sessions::forget`] after the batch is written). The caller holds the
    /// user's lock.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the store cannot be read.
    pub(crate) fn delete_all(
        &self,
        store: &dyn Store,
        batch: &mut Batch,
        remote_signer: &PublicKey,
    ) -> Result<Vec<PublicKey>, Error> {
        let mut clients = std::collections::BTreeSet::new();
        let mut bad = false;
        store.scan_prefix(Cf::Sessions, remote_signer.as_bytes(), &mut |k, _| {
            match <&[u8; 32]>::try_from(&k[32..]).map(PublicKey::from_bytes) {
                Ok(Ok(client)) => drop(clients.insert(client)),
                _ => bad = true,
            }
            !bad
        })?;
        if bad {
            return Err(Error::Corrupt("session key"));
        }
        clients.extend(
            self.of_remote_signer(remote_signer)
                .iter()
                .map(|s| s.record.client),
        );
        for client in &clients {
            Self::delete(batch, remote_signer, client);
        }
        Ok(clients.into_iter().collect())
    }

    /// The stored record of a session, to edit and put back under the user's lock: in a cluster,
    /// memory may not yet hold another node's last write of it.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the store cannot be read; [`Error::Corrupt`].
    pub(crate) fn stored(
        store: &dyn Store,
        remote_signer: &PublicKey,
        client: &PublicKey,
    ) -> Result<Option<SessionRecord>, Error> {
        match store.get(Cf::Sessions, &key(remote_signer, client))? {
            Some(value) => serde_json::from_slice(&value)
                .map(Some)
                .map_err(|_| Error::Corrupt("session record")),
            None => Ok(None),
        }
    }

    /// Makes a written session record live: replaces the live session (keeping its counters) or
    /// inserts it.
    pub(crate) fn put_live(&self, record: SessionRecord) {
        match self.get(&record.remote_signer, &record.client) {
            Some(live) => self.replace(&live, record),
            None => self.insert(record),
        }
    }
}

/// A session of `record` that keeps `session`'s usage counters.
fn carried(session: &Session, record: SessionRecord) -> Session {
    let replacement = Session::new(record);
    replacement
        .requests
        .store(session.requests(), Ordering::Relaxed);
    replacement
        .last_used
        .store(session.last_used.load(Ordering::Relaxed), Ordering::Relaxed);
    replacement
}

/// The [`Change`] that names `record`'s session.
fn changed(record: &SessionRecord) -> Change {
    Change::Session {
        remote_signer: record.remote_signer,
        client: record.client,
    }
}

/// Every stored session record.
fn read_all(store: &dyn Store) -> Result<Vec<SessionRecord>, Error> {
    let mut records = Vec::new();
    let mut bad = false;
    store.scan_prefix(Cf::Sessions, b"", &mut |_, value| {
        match serde_json::from_slice::<SessionRecord>(value) {
            Ok(record) => records.push(record),
            Err(_) => bad = true,
        }
        !bad
    })?;
    if bad {
        return Err(Error::Corrupt("session record"));
    }
    Ok(records)
}

fn key(remote_signer: &PublicKey, client: &PublicKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    k.extend_from_slice(remote_signer.as_bytes());
    k.extend_from_slice(client.as_bytes());
    k
}
