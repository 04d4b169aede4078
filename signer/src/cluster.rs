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
//! costs one read and converges on what the store holds, and no secret crosses the bus. What a
//! node missed while it was cut off from the bus it catches up on by reloading everything
//! ([`crate::Bunker::reload`]).
//!
//! In a cluster the signer also claims each request in the store before it runs it
//! ([`store::Store::insert_new`] in [`store::Cf::Claims`]), so a request published to several
//! nodes is answered once.

use crate::{Bunker, Error, Refusal};
use proto::nostr::{Event, PublicKey};
use serde::{Deserialize, Serialize};
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

/// Striped counters that a node's own writers of an in-memory record bump after their store
/// write and before their memory update ([`WriteMarks::mark`]), so that a mirror that read the
/// store before such a write cannot overwrite what the write puts in memory: the mirror reads
/// the mark before its store read and applies only if the mark has not moved, checked under the
/// map shard's lock that the writer's update takes too (else it reads again).
pub(crate) struct WriteMarks([std::sync::atomic::AtomicU64; MARK_STRIPES]);

/// Stripes of [`WriteMarks`]: a writer of another record in the same stripe only costs a mirror
/// one more read.
const MARK_STRIPES: usize = 64;

/// Store reads a mirror tries before it gives up (the record is being written again and again
/// here, so the next change will name it again).
pub(crate) const MIRROR_TRIES: usize = 8;

impl Default for WriteMarks {
    fn default() -> Self {
        WriteMarks(std::array::from_fn(|_| {
            std::sync::atomic::AtomicU64::new(0)
        }))
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
        self.0[Self::stripe(key)].fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The mark of `key`'s stripe now.
    pub(crate) fn read(&self, key: &impl std::hash::Hash) -> u64 {
        self.0[Self::stripe(key)].load(std::sync::atomic::Ordering::Acquire)
    }

    /// Every stripe's mark now, for a reload of many keys ([`WriteMarks::read_in`]).
    pub(crate) fn snapshot(&self) -> Vec<u64> {
        self.0
            .iter()
            .map(|m| m.load(std::sync::atomic::Ordering::Acquire))
            .collect()
    }

    /// The mark of `key`'s stripe in `snapshot`.
    pub(crate) fn read_in(snapshot: &[u64], key: &impl std::hash::Hash) -> u64 {
        snapshot[Self::stripe(key)]
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
    /// key, for a node that was cut off from the others and may have missed changes. Blocking
    /// (scans of those column families).
    ///
    /// # Errors
    ///
    /// As [`Bunker::open`]'s loading.
    pub fn reload(&self) -> Result<(), Error> {
        self.directory.reload()?;
        self.sessions.reload(&*self.store)
    }

    /// Marks this node cut off from the others (`false`: it may have missed changes, so it
    /// refuses requests) or back in step with the store (`true`, after [`Bunker::reload`]).
    pub fn set_in_step(&self, in_step: bool) {
        self.in_step
            .store(in_step, std::sync::atomic::Ordering::Release);
    }

    /// Whether this node is in step with the store ([`Bunker::set_in_step`]).
    pub fn in_step(&self) -> bool {
        self.in_step.load(std::sync::atomic::Ordering::Acquire)
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
        if !self.in_step.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Refusal::Error("cut off from the other nodes; try again"));
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
