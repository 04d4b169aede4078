//! The crash harness's record of one data directory: every acknowledged tenant, user, bunker URI
//! and session (with the client key, so it can sign again), and the writes in flight whose outcome
//! is unknown until the next restart. Nothing is ever removed: each restart checks it all.
//!
//! Must not: be locked across an `.await` (a plain mutex, held for a lookup or a push).

use super::{Rng, Write};
use nostr::{Keys, PublicKey};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

/// An acknowledged tenant.
#[derive(Debug, Clone)]
pub(super) struct TenantRec {
    pub(super) id: String,
    pub(super) name: String,
}

/// An acknowledged user, or one found after a restart although its creation was cut.
#[derive(Debug, Clone)]
pub(super) struct UserRec {
    pub(super) tenant: String,
    pub(super) id: String,
    pub(super) user_pubkey: PublicKey,
    pub(super) remote: PublicKey,
}

/// Where an acknowledged bunker URI stands.
#[derive(Debug, Clone)]
pub(super) enum UriState {
    /// Never used by us: the secret must still connect.
    Unconsumed,
    /// A `connect` with this client key was sent and not answered: consumed by it, or not at all.
    Connecting(Keys),
    /// Consumed by this client (its `connect` was acknowledged, or found done after a restart);
    /// `refusal_checked` once a new client was refused with the same secret.
    Consumed {
        client: PublicKey,
        refusal_checked: bool,
    },
}

/// An acknowledged bunker URI.
#[derive(Debug, Clone)]
pub(super) struct UriRec {
    /// Index into [`Ledger::users`].
    pub(super) user: usize,
    pub(super) id: String,
    pub(super) secret: String,
    pub(super) state: UriState,
}

/// An acknowledged session: the client key that connected.
#[derive(Debug, Clone)]
pub(super) struct SessionRec {
    /// Index into [`Ledger::users`].
    pub(super) user: usize,
    pub(super) keys: Keys,
}

/// A user creation that was sent and not answered.
#[derive(Debug, Clone)]
pub(super) struct PendingUser {
    pub(super) tenant: String,
    pub(super) name: String,
    /// The imported key's pubkey; `None` for a generated key.
    pub(super) expected: Option<PublicKey>,
    pub(super) kind: Write,
}

/// Everything one data directory acknowledged, and what is in doubt.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub(super) tenants: Vec<TenantRec>,
    pub(super) users: Vec<UserRec>,
    pub(super) uris: Vec<UriRec>,
    pub(super) sessions: Vec<SessionRec>,
    /// Names of tenant creations that were cut.
    pub(super) pending_tenants: Vec<String>,
    /// User creations that were cut.
    pub(super) pending_users: Vec<PendingUser>,
    /// Bunker URI issues that were cut, by user index (their ids and secrets were never seen).
    pub(super) pending_uris: Vec<usize>,
    /// Ids of bunker URIs found after a restart whose issue had been cut: unused by us forever.
    pub(super) stray_uris: HashSet<String>,
}

/// A ledger shared by the workers.
pub(super) type Shared = Arc<Mutex<Ledger>>;

impl Ledger {
    /// A new, empty shared ledger.
    pub(super) fn shared() -> Shared {
        Arc::new(Mutex::new(Ledger::default()))
    }

    /// Locks `shared`, whatever a panicking holder left (the harness reports, it does not unwind).
    pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Ledger> {
        shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A random acknowledged tenant's id.
    pub(super) fn random_tenant(&self, rng: &mut Rng) -> Option<String> {
        pick(&self.tenants, rng).map(|t| t.id.clone())
    }

    /// A random acknowledged session: its client key, remote signer and user pubkey.
    pub(super) fn random_session(&self, rng: &mut Rng) -> Option<(Keys, PublicKey, PublicKey)> {
        let session = pick(&self.sessions, rng)?;
        let user = &self.users[session.user];
        Some((session.keys.clone(), user.remote, user.user_pubkey))
    }

    /// Records an acknowledged user; returns its index.
    pub(super) fn add_user(&mut self, user: UserRec) -> usize {
        self.users.push(user);
        self.users.len() - 1
    }

    /// Records an acknowledged bunker URI of user `user`; returns its index.
    pub(super) fn add_uri(&mut self, user: usize, id: String, secret: String) -> usize {
        self.uris.push(UriRec {
            user,
            id,
            secret,
            state: UriState::Unconsumed,
        });
        self.uris.len() - 1
    }

    /// Records that URI `uri` was consumed by `keys` and the session that made.
    pub(super) fn add_session(&mut self, uri: usize, keys: Keys) {
        let user = self.uris[uri].user;
        self.uris[uri].state = UriState::Consumed {
            client: keys.public_key(),
            refusal_checked: false,
        };
        self.sessions.push(SessionRec { user, keys });
    }
}

fn pick<'a, T>(items: &'a [T], rng: &mut Rng) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    let n = items.len() as u64;
    items.get(usize::try_from(rng.range(0, n - 1)).unwrap_or(0))
}
