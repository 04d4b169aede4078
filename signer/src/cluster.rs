//! What the nodes of a cluster tell each other about the records they keep in memory.
//!
//! Every node keeps tenants, the routing index, sessions, admin tokens and unsealed keys in
//! memory for the hot path (see [`crate::directory`], [`crate::sessions`]). A node that changes
//! one of these records writes the shared store first, then updates its own memory, then sends a
//! [`Change`] naming the record through the [`Broadcast`] it joined with (bunkerd's cluster bus).
//! Every other node re-reads that record from the store ([`crate::Bunker::mirror`],
//! [`crate::admin::AdminTokens::mirror`]) and updates its memory as the writer did, dropping
//! what was built from the old record (unsealed keys, a tenant's data keys, NIP-05 names).
//!
//! A change names a record and never carries its content: a late, repeated or reordered change
//! costs one read and converges on what the store holds, and no secret crosses the bus. A node
//! that may have missed a change (cut off from the bus, or a change lost on the way) catches up
//! by reloading everything ([`crate::Bunker::reload`]), refusing requests until it has.
//!
//! In a cluster the signer also claims each request in the store before it runs it
//! ([`store::Store::insert_new`] in [`store::Cf::Claims`]), so a request published to several
//! nodes is answered once.

use crate::{Bunker, Error, Refusal};
use dashmap::{DashMap, Entry};
use proto::nostr::{Event, PublicKey};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use store::{Batch, Cf, Durability};

/// A record whose in-memory copy changed on the node that sends it. JSON on the bus:
/// `{"record":"tenant","id":"…"}`, `{"record":"remote_signer","pubkey":"<64 hex>"}`,
/// `{"record":"session","remote_signer":"<64 hex>","client":"<64 hex>"}`,
/// `{"record":"admin_token","hash":"<64 hex>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Change {
    /// A tenant: its record (name, policy, limits, admins), its existence, or its data keys.
    Tenant {
        /// Tenant id, 32 lowercase hex characters.
        id: String,
    },
    /// A user, by its remote-signer pubkey: its routing entry and everything its unsealed keys
    /// were built from (policy, enabled state, the keys themselves).
    RemoteSigner {
        /// The remote-signer pubkey.
        pubkey: PublicKey,
    },
    /// A session: created, changed or ended.
    Session {
        /// The remote-signer pubkey.
        remote_signer: PublicKey,
        /// The client pubkey.
        client: PublicKey,
    },
    /// A tenant admin token: created or revoked.
    AdminToken {
        /// SHA-256 of the token, 64 lowercase hex characters.
        hash: String,
    },
}

/// Where a node sends its [`Change`]s: the other nodes. Called after the store write and the
/// node's own memory update, on the writing thread (a signer thread or the blocking pool); must
/// not block for long.
pub trait Broadcast: Send + Sync {
    /// Sends `change` to every other node.
    fn send(&self, change: &Change);
}

/// The [`Broadcast`] a record holder sends its changes through, once joined.
#[derive(Default)]
pub(crate) struct Changes(OnceLock<Arc<dyn Broadcast>>);

impl Changes {
    /// Sends changes to `broadcast` from now on. Only the first call counts.
    pub(crate) fn join(&self, broadcast: Arc<dyn Broadcast>) {
        let _ = self.0.set(broadcast);
    }

    /// Whether this holder is part of a cluster.
    pub(crate) fn joined(&self) -> bool {
        self.0.get().is_some()
    }

    /// Sends `change` if joined; nothing otherwise.
    pub(crate) fn send(&self, change: Change) {
        if let Some(broadcast) = self.0.get() {
            broadcast.send(&change);
        }
    }
}

/// Striped counters that keep a node's memory from going back to an older copy of a record.
///
/// Whoever changes a record in memory moves the mark of its stripe: a local writer after its
/// store write and before its memory update ([`WriteMarks::mark`]), a mirror as it applies what
/// it read ([`WriteMarks::mirror`]). A mirror reads the mark before its store read and applies
/// only if the mark has not moved, checked and moved at once (compare-and-swap) under the lock of
/// the map shard that holds the record, which every writer's memory update takes too; otherwise
/// it reads again. So of two mirrors of one record, the one that read the store last decides
/// what memory holds, whichever applies first; and a mirror never undoes a local write it read
/// before. A local write applies unchecked, which is sound because every write of a record this
/// type guards holds that record's cluster-wide lock from its store read to its memory update
/// (the admin services' locks, also taken by a session's `connect`, end and relay move): another
/// node's write of it, and so its change, comes before or after the whole of it.
pub(crate) struct WriteMarks(Box<[AtomicU64; MARK_STRIPES]>);

/// Stripes of [`WriteMarks`]: a change of another record in the same stripe only costs a mirror
/// one more read (and a reload one read of each record of that stripe).
const MARK_STRIPES: usize = 1024;

/// Store reads a mirror tries while others change records of its stripe, before it reads once
/// more under the record's shard lock ([`WriteMarks::mirror`]).
const MIRROR_TRIES: usize = 8;

impl Default for WriteMarks {
    fn default() -> Self {
        WriteMarks(Box::new(std::array::from_fn(|_| AtomicU64::new(0))))
    }
}

impl WriteMarks {
    fn stripe(key: &impl std::hash::Hash) -> usize {
        use std::hash::Hasher as _;
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        // The remainder is below MARK_STRIPES, a usize.
        (hasher.finish() % MARK_STRIPES as u64) as usize
    }

    /// Marks a local write of `key` (after its store write, before its memory update).
    pub(crate) fn mark(&self, key: &impl std::hash::Hash) {
        self.0[Self::stripe(key)].fetch_add(1, Ordering::AcqRel);
    }

    /// Moves `key`'s stripe from `mark` to the next: `false` if it is no longer `mark`.
    fn advance(&self, stripe: usize, mark: u64) -> bool {
        self.0[stripe]
            .compare_exchange(mark, mark + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Makes `map`'s entry for `key` what the store holds: `read` reads the stored record,
    /// `apply` puts it in the entry (under its shard lock). Retries while other changes of the
    /// stripe come between the read and the apply; after [`MIRROR_TRIES`] reads, reads once more
    /// holding the entry's shard lock, which no local writer's memory update can then pass.
    ///
    /// # Errors
    ///
    /// Whatever `read` returns; memory is left as it was then.
    pub(crate) fn mirror<K, V, T>(
        &self,
        map: &DashMap<K, V>,
        key: &K,
        read: impl Fn() -> Result<T, Error>,
        apply: impl FnOnce(Entry<'_, K, V>, T),
    ) -> Result<(), Error>
    where
        K: std::hash::Hash + Eq + Clone,
    {
        let stripe = Self::stripe(key);
        for _ in 0..MIRROR_TRIES {
            let mark = self.0[stripe].load(Ordering::Acquire);
            let stored = read()?;
            let entry = map.entry(key.clone());
            if self.advance(stripe, mark) {
                apply(entry, stored);
                return Ok(());
            }
        }
        let entry = map.entry(key.clone());
        let stored = read()?;
        self.0[stripe].fetch_add(1, Ordering::AcqRel);
        apply(entry, stored);
        Ok(())
    }

    /// Starts a reload: records read by one scan, applied with [`Reload::apply`].
    pub(crate) fn reload(&self) -> Reload<'_> {
        Reload {
            marks: self,
            expected: self.0.iter().map(|m| m.load(Ordering::Acquire)).collect(),
        }
    }
}

/// Applies the records of one store scan to memory ([`WriteMarks::reload`]): each unless some
/// other change of its stripe came since the scan began, in which case the caller mirrors that
/// record alone ([`WriteMarks::mirror`]), reading it again.
pub(crate) struct Reload<'a> {
    marks: &'a WriteMarks,
    /// Each stripe's mark before the scan, plus this reload's own applies.
    expected: Vec<u64>,
}

impl Reload<'_> {
    /// Puts `value` in `map`'s entry for `key` with `apply` (under its shard lock); `false` when
    /// another change of the stripe came since the scan began: nothing was applied.
    pub(crate) fn apply<K, V, T>(
        &mut self,
        map: &DashMap<K, V>,
        key: K,
        value: T,
        apply: impl FnOnce(Entry<'_, K, V>, T),
    ) -> bool
    where
        K: std::hash::Hash + Eq,
    {
        let stripe = WriteMarks::stripe(&key);
        let entry = map.entry(key);
        if !self.marks.advance(stripe, self.expected[stripe]) {
            return false;
        }
        self.expected[stripe] += 1;
        apply(entry, value);
        true
    }
}

/// Makes a map entry hold `value`, or be absent for `None`.
pub(crate) fn set_entry<K: std::hash::Hash + Eq, V>(entry: Entry<'_, K, V>, value: Option<V>) {
    match (entry, value) {
        (Entry::Occupied(mut live), Some(value)) => drop(live.insert(value)),
        (Entry::Vacant(slot), Some(value)) => drop(slot.insert(value)),
        (Entry::Occupied(live), None) => drop(live.remove()),
        (Entry::Vacant(_), None) => {}
    }
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.joined() {
            "Changes(joined)"
        } else {
            "Changes(alone)"
        })
    }
}

impl Bunker {
    /// Joins a cluster: from now on every change of a tenant, user, route or session is sent to
    /// `broadcast`, and every request is claimed in the store before it runs, so that of the
    /// nodes it reaches exactly one answers it ([`crate::cluster`]).
    pub fn join_cluster(&self, broadcast: Arc<dyn Broadcast>) {
        self.directory.changes.join(broadcast.clone());
        self.sessions.changes.join(broadcast);
    }

    /// Makes this node's memory hold what the store holds for the record another node's
    /// `change` names ([`crate::cluster`]). Blocking (one store read).
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] / [`Error::Store`] when the store cannot be read (memory is left as it
    /// was: the caller reloads later); [`Error::Corrupt`].
    pub fn mirror(&self, change: &Change) -> Result<(), Error> {
        match change {
            Change::Tenant { id } => self.directory.mirror_tenant(id),
            Change::RemoteSigner { pubkey } => {
                self.directory.mirror_remote_signer(pubkey)?;
                // A user's deletion or rotation ends its sessions without a change of each.
                for session in self.sessions.of_remote_signer(pubkey) {
                    let client = session.record.client;
                    self.sessions.mirror(&*self.store, pubkey, &client)?;
                }
                Ok(())
            }
            Change::Session {
                remote_signer,
                client,
            } => self.sessions.mirror(&*self.store, remote_signer, client),
            Change::AdminToken { .. } => Ok(()),
        }
    }

    /// Reloads tenants, the routing index and sessions from the store and drops every cached
    /// key, for a node that may have missed changes. Blocking
    /// (scans of those column families).
    ///
    /// # Errors
    ///
    /// As [`Bunker::open`]'s loading.
    pub fn reload(&self) -> Result<(), Error> {
        self.directory.reload()?;
        self.sessions.reload(&*self.store)
    }

    /// Marks this node out of step with the others (`false`: it may have missed changes, so it
    /// refuses requests) or back in step with the store (`true`, after [`Bunker::reload`]).
    pub fn set_in_step(&self, in_step: bool) {
        self.in_step.store(in_step, Ordering::Release);
    }

    /// Whether this node is in step with the store ([`Bunker::set_in_step`]).
    pub fn in_step(&self) -> bool {
        self.in_step.load(Ordering::Acquire)
    }

    /// Deletes the claims of requests created before `before` (Unix seconds), which admission
    /// refuses anyway; returns how many. Blocking.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails; what was deleted stays deleted.
    pub fn prune_claims(&self, before: u64) -> Result<usize, Error> {
        const PAGE: usize = 1024;
        let end = before.to_be_bytes();
        let mut pruned = 0;
        loop {
            let mut keys = Vec::with_capacity(PAGE);
            self.store
                .scan_range(Cf::Claims, b"", &end, &mut |key, _| {
                    keys.push(key.to_vec());
                    keys.len() < PAGE
                })?;
            if keys.is_empty() {
                return Ok(pruned);
            }
            pruned += keys.len();
            let mut batch = Batch::new();
            for key in keys {
                batch.delete(Cf::Claims, key);
            }
            self.store.write(batch, Durability::Buffered)?;
        }
    }

    /// The session of `client` with `remote_signer`: from memory, or, in a cluster, from the
    /// store when memory has none (another node may have made it a moment ago, before its
    /// change arrived). Reached only by verified requests of a hosted user, whose clients
    /// without a session take the tenant's unpaired budget, so the reads are bounded.
    pub(crate) fn session(
        &self,
        remote_signer: &PublicKey,
        client: &PublicKey,
    ) -> Option<Arc<crate::sessions::Session>> {
        let session = self.sessions.get(remote_signer, client);
        if session.is_some() || !self.directory.changes.joined() {
            return session;
        }
        if let Err(e) = self.sessions.mirror(&*self.store, remote_signer, client) {
            tracing::warn!(code = e.code(), "cannot read a session from the store");
        }
        self.sessions.get(remote_signer, client)
    }

    /// In a cluster, claims `event` for this node: `false` when another node (or an earlier
    /// copy here) claimed it first. Alone, always `true` without touching the store.
    pub(crate) fn claim(&self, event: &Event) -> Result<bool, Refusal> {
        if !self.directory.changes.joined() {
            return Ok(true);
        }
        if !self.in_step.load(Ordering::Acquire) {
            return Err(Refusal::Error(
                "out of step with the other nodes; try again",
            ));
        }
        let mut key = Vec::with_capacity(40);
        key.extend_from_slice(&event.created_at.to_be_bytes());
        key.extend_from_slice(&event.id);
        // Buffered: a claim lost with the database's crash can only let a copy run twice.
        self.store
            .insert_new(Cf::Claims, &key, b"", Durability::Buffered)
            .map_err(|e| {
                tracing::error!(code = e.code(), "cannot claim a request in the store");
                Refusal::Error("store unavailable")
            })
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod cluster_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_mirror_contended_past_its_tries_reads_under_the_lock_and_applies() {
        let (marks, map) = (WriteMarks::default(), DashMap::new());
        let reads = Cell::new(0);
        // Every read but the last races a local write of the stripe.
        let read = || {
            reads.set(reads.get() + 1);
            if reads.get() <= MIRROR_TRIES {
                marks.mark(&7u8);
            }
            Ok(Some(reads.get()))
        };
        marks.mirror(&map, &7u8, read, set_entry).unwrap();
        assert_eq!(reads.get(), MIRROR_TRIES + 1);
        assert_eq!(
            *map.get(&7).unwrap(),
            MIRROR_TRIES + 1,
            "the last read applied"
        );
    }

    #[test]
    fn a_reload_applies_many_keys_of_one_stripe_and_leaves_one_changed_since_its_scan() {
        let (marks, map) = (WriteMarks::default(), DashMap::new());
        let keys: Vec<u32> = (0..4 * MARK_STRIPES as u32).collect();
        let mut reload = marks.reload();
        marks.mark(&keys[0]);
        let mut missed = Vec::new();
        for &k in &keys {
            if !reload.apply(&map, k, Some(k), set_entry) {
                missed.push(k);
            }
        }
        let stripe = WriteMarks::stripe(&keys[0]);
        assert!(missed.contains(&keys[0]), "changed since the scan");
        assert!(missed.iter().all(|k| WriteMarks::stripe(k) == stripe));
        assert_eq!(
            map.len() + missed.len(),
            keys.len(),
            "every other key applied"
        );
    }

    #[test]
    fn changes_have_the_documented_json_shape() {
        let pk =
            proto::nostr::Keypair::generate(&mut proto::nostr::Crypto::from_os_rng()).public_key();
        let cases = [
            (
                Change::Tenant {
                    id: "ab".repeat(16),
                },
                format!(r#"{{"record":"tenant","id":"{}"}}"#, "ab".repeat(16)),
            ),
            (
                Change::RemoteSigner { pubkey: pk },
                format!(r#"{{"record":"remote_signer","pubkey":"{}"}}"#, pk.to_hex()),
            ),
            (
                Change::Session {
                    remote_signer: pk,
                    client: pk,
                },
                format!(
                    r#"{{"record":"session","remote_signer":"{0}","client":"{0}"}}"#,
                    pk.to_hex()
                ),
            ),
            (
                Change::AdminToken {
                    hash: "cd".repeat(32),
                },
                format!(r#"{{"record":"admin_token","hash":"{}"}}"#, "cd".repeat(32)),
            ),
        ];
        for (change, json) in cases {
            assert_eq!(serde_json::to_string(&change).unwrap(), json);
            assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), change);
        }
    }
}
