//! The imperative shell around the sans-IO NIP-46 handler: one kind-24133 request event in, one
//! response event out.
//!
//! [`Bunker::process`] runs, in order: verify the event id and BIP-340 signature; route by the `p`
//! tag to a hosted remote-signer key; decrypt the content (NIP-44 v2, or NIP-04 when it contains
//! `?iv=`, `docs/protocol-notes.md` §11.1); parse the JSON-RPC request loosely; look up the
//! session and, for `connect`, the bunker-URI record; [`nip46::handle`]; persist the effect
//! durably; encrypt the reply in the scheme the request used; sign the response with the
//! remote-signer key.
//!
//! It blocks (store reads and writes, crypto): call it from the worker pool, never from the async
//! reactor. It never logs payloads, secrets or keys.
//!
//! A `connect` that may consume a bunker secret holds the user's record lock (the one the admin
//! services take, see [`crate::admin`]) from reading the secret's record to writing it back
//! consumed with the new session: two clients racing with one secret cannot both win, and a
//! revocation, rotation or deletion of the user cannot interleave (the secret it deletes is then
//! either not found or already consumed, and the session it ends already written). A session's
//! other writes off the admin API take that lock too: its end by `logout` or expiry, and its move
//! to bunkerd's own relays, which reads the stored record under it; so no node writes back a
//! session another has just ended or changed. Every other request takes no lock.

mod held;
mod lifecycle;
pub(crate) mod refusal;
#[cfg(test)]
#[path = "bunker/shared_store_tests.rs"]
mod shared_store_tests;

pub use held::{Answer, HeldView, PREVIEW_CHARS};

pub use lifecycle::{IssuedUri, SessionInfo, UriOptions, MAX_URI_PERMS_BYTES, MAX_URI_TTL_SECS};

use crate::admin::{Admin, Locks};
use crate::audit::{self, AuditLog, AuditRecord, Outcome};
use crate::directory::Directory;
use crate::sessions::{Session, SessionRecord, Sessions};
use crate::{Error, KIND_NOSTR_CONNECT};
use kms::{MasterKey, Vault};
use proto::nip46::nostrconnect::relay_key;
use proto::nip46::UserKeys;
use proto::nip46::{self, Approval, Context, Effect, Reply, Request, RpcError, Scheme};
use proto::nostr::{hex32, nip04, nip44, Event, PublicKey, SecretKey, UnsignedEvent, Verified};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use store::{Batch, Durability, Store};
use zeroize::Zeroizing;

/// NIP-42 client authentication events.
const KIND_CLIENT_AUTH: u16 = 22242;

/// Default lifetime of a bunker URI's secret: 24 hours. A URI is meant to be pasted into a client
/// soon after it is issued; an unused one should not stay valid for long.
pub const DEFAULT_BUNKER_URI_TTL_SECS: u64 = 24 * 60 * 60;

/// Default bound on cached unsealed user keys (~200 bytes each).
pub const DEFAULT_KEY_CACHE_CAPACITY: usize = 100_000;

/// Settings of the signer. Tests build it directly; the binary fills it from flags.
#[derive(Debug, Clone)]
pub struct BunkerConfig {
    /// Public relay URLs (`ws://` or `wss://`) put in bunker URIs and answered to `switch_relays`.
    /// Must not be empty.
    pub relays: Vec<String>,
    /// Lifetime of newly issued bunker-URI secrets, seconds. Default: 86,400.
    pub bunker_uri_ttl_secs: u64,
    /// Bound on cached unsealed user keys. Default: 100,000.
    pub key_cache_capacity: usize,
    /// How long a request held for approval waits for a decision, seconds. Default: 600.
    pub approval_ttl_secs: u64,
    /// Base of the approval pages' URLs (`http://` or `https://`, no trailing `/`): bunkerd's
    /// public listener. Default: the first relay URL with `ws` → `http`.
    pub approval_base_url: String,
}

impl BunkerConfig {
    /// A config with the defaults and the given public relay URL.
    pub fn new(relay_url: impl Into<String>) -> Self {
        let relay_url = relay_url.into();
        BunkerConfig {
            approval_base_url: http_base(&relay_url),
            relays: vec![relay_url],
            bunker_uri_ttl_secs: DEFAULT_BUNKER_URI_TTL_SECS,
            key_cache_capacity: DEFAULT_KEY_CACHE_CAPACITY,
            approval_ttl_secs: crate::approvals::DEFAULT_APPROVAL_TTL_SECS,
        }
    }
}

/// The HTTP base URL of a relay URL: `ws://h` → `http://h`, `wss://h` → `https://h`, without a
/// trailing `/`.
pub fn http_base(relay_url: &str) -> String {
    let trimmed = relay_url.trim().trim_end_matches('/');
    if let Some(rest) = trimmed.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = trimmed.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        trimmed.to_owned()
    }
}

pub use event::Refusal;

/// The result of processing one request event.
#[derive(Debug)]
pub struct Processed {
    /// `Ok` → `OK true`; `Err` → `OK false` with the refusal's message.
    pub accepted: Result<(), Refusal>,
    /// The response event to deliver to the client's subscriptions, if any.
    pub response: Option<Event>,
    /// The method label (bounded set, see [`nip46::method_label`]), when a request was parsed.
    pub method: Option<&'static str>,
    /// The event verified but was seen before: accepted (`OK true "duplicate: …"`), not processed.
    pub duplicate: bool,
    /// The tenant the request was routed to, once routed (a metrics label).
    pub tenant: Option<Arc<str>>,
    /// How the NIP-46 request ended, when one was answered: `ok`, `refused` (an authorization or
    /// policy refusal, or bad params) or `error` (a server-side failure). A metrics label.
    pub outcome: Option<&'static str>,
    /// How long the job waited in the signer queue (set by the pool).
    pub queue_wait: std::time::Duration,
}

impl Processed {
    /// An event refused before processing.
    pub fn refused(refusal: Refusal) -> Self {
        Processed {
            accepted: Err(refusal),
            response: None,
            method: None,
            duplicate: false,
            tenant: None,
            outcome: None,
            queue_wait: std::time::Duration::ZERO,
        }
    }
}

/// The signer: directory, sessions and the request pipeline.
pub struct Bunker {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) directory: Directory,
    pub(crate) sessions: Sessions,
    pub(crate) audit: AuditLog,
    pub(crate) config: BunkerConfig,
    /// The record locks of every admin write, also held by a `connect` that consumes a secret and
    /// by a session's end or move (see the module doc). These are rare; the hot path never takes
    /// them.
    pub(crate) locks: Locks,
    /// Requests held for approval, per session ([`crate::approvals::MAX_HELD_PER_CLIENT`]).
    pub(crate) held: crate::approvals::HeldCounts,
    /// In a cluster, whether this node's memory is known to hold what the store holds (false
    /// while it may have missed a change: requests are refused then; [`crate::cluster`]).
    pub(crate) in_step: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Bunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bunker")
            .field("tenants", &self.directory.tenant_count())
            .field("users", &self.directory.user_count())
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl Bunker {
    /// Opens the signer over a store and master key: runs the master key's self-test
    /// ([`Vault::load`]), then loads tenants, the routing index and sessions.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `config.relays` is empty; [`Error::Kms`] with
    /// [`kms::Error::Custody`] when the master key does not open this store (nothing is
    /// written then), [`kms::Error::Provider`] when it cannot be reached; [`Error::Kms`] /
    /// [`Error::Corrupt`] from loading.
    pub fn open(
        store: Arc<dyn Store>,
        master: Arc<dyn MasterKey>,
        config: BunkerConfig,
    ) -> Result<Self, Error> {
        if config.relays.is_empty() {
            return Err(Error::InvalidInput(
                "at least one public relay URL is required",
            ));
        }
        let vault = Vault::load(master, store.clone())?;
        let directory = Directory::load(store.clone(), vault, config.key_cache_capacity)?;
        let sessions = Sessions::load(store.as_ref())?;
        let audit = AuditLog::open(store.clone())?;
        let held = crate::approvals::HeldCounts::load(store.as_ref())?;
        Ok(Bunker {
            held,
            in_step: std::sync::atomic::AtomicBool::new(true),
            locks: Locks::new(store.clone()),
            store,
            directory,
            sessions,
            audit,
            config,
        })
    }

    /// The tenant/user directory: reads. Writes go through [`Bunker::admin`].
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The admin services: every write of tenants, users, policies, admin keys, bunker URIs and
    /// sessions, each atomic against concurrent writers of the same records.
    pub fn admin(&self) -> Admin<'_> {
        Admin::new(self)
    }

    /// The key hierarchy: master key, tenant data keys, rotation.
    pub fn vault(&self) -> &Vault {
        self.directory.vault()
    }

    /// The per-tenant audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The live sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The signer's settings.
    pub fn config(&self) -> &BunkerConfig {
        &self.config
    }

    /// Whether `remote_signer` (32 raw bytes) is hosted here (the relay's cheap admission check).
    pub fn is_hosted(&self, remote_signer: &[u8; 32]) -> bool {
        self.directory.is_hosted(remote_signer)
    }

    /// Processes one kind-24133 request event. `now` is unix seconds. Blocking.
    ///
    /// `first_seen(id)` is asked at most once, after the id and signature verify (and, in a
    /// cluster, after the request is claimed: [`crate::cluster`]), and must atomically record the
    /// id and say whether it is new; a repeat is accepted as a duplicate and not processed
    /// (`docs/protocol-notes.md` §11.13). Asking only after verification means a forged copy cannot
    /// block the real event.
    pub fn process(
        &self,
        event: &Event,
        now: u64,
        first_seen: impl FnOnce(&[u8; 32]) -> bool,
    ) -> Processed {
        match self.try_process(event, false, None, now, first_seen) {
            Ok(p) => p,
            Err(refusal) => Processed::refused(refusal),
        }
    }

    /// [`Bunker::process`] for an event already verified (the relay verifies before it charges a
    /// tenant's budget): the same, without verifying again. `origin` is the foreign relay it came
    /// from (`None`: bunkerd's own listener); a session served on its client's relays whose request
    /// comes to bunkerd's own listener has moved there (after `switch_relays`), and from then on is
    /// served only there (its [`SessionRecord::relays`] cleared, durably).
    pub fn process_verified(
        &self,
        event: &Verified,
        origin: Option<&str>,
        now: u64,
        first_seen: impl FnOnce(&[u8; 32]) -> bool,
    ) -> Processed {
        match self.try_process(event.event(), true, origin, now, first_seen) {
            Ok(p) => p,
            Err(refusal) => Processed::refused(refusal),
        }
    }

    /// `verified`: only from [`Bunker::process_verified`], whose argument proves it.
    fn try_process(
        &self,
        event: &Event,
        verified: bool,
        origin: Option<&str>,
        now: u64,
        first_seen: impl FnOnce(&[u8; 32]) -> bool,
    ) -> Result<Processed, Refusal> {
        if event.kind != KIND_NOSTR_CONNECT {
            return Err(Refusal::Blocked(
                "only kind 24133 (NIP-46) events are accepted",
            ));
        }
        if !verified {
            event
                .verify()
                .map_err(|_| Refusal::Invalid("event id or signature does not verify"))?;
        }
        let remote_signer = event
            .first_tag_value("p")
            .and_then(hex32)
            .filter(|pk| self.directory.is_hosted(pk))
            .ok_or(Refusal::Blocked(
                "p tag does not name a remote signer hosted here",
            ))?;
        // The claim first: a claim the store refuses (an error reply) leaves the id unrecorded
        // here, so the client's retry of the same event runs.
        if !self.claim(event)? || !first_seen(&event.id) {
            return Ok(Processed {
                accepted: Ok(()),
                response: None,
                method: None,
                duplicate: true,
                tenant: None,
                outcome: None,
                queue_wait: std::time::Duration::ZERO,
            });
        }
        let keys = self.directory.keys(&remote_signer).map_err(|e| {
            tracing::error!(
                code = e.code(),
                "cannot unseal keys of a hosted remote signer"
            );
            Refusal::Error("signer unavailable")
        })?;
        let transport = Transport::new(self, &keys, event)?;
        let plaintext = transport.decrypt(&event.content).inspect_err(|_| {
            self.audit_unreadable(&keys, event.pubkey, "undecryptable");
        })?;
        let incoming = Request::parse(&plaintext).map_err(|why| {
            self.audit_unreadable(&keys, event.pubkey, "unparsable request");
            Refusal::Invalid(why)
        })?;
        let method = nip46::method_label(&incoming.method);
        let kind = match &incoming.request {
            Ok(Request::SignEvent(template)) => Some(template.kind),
            _ => None,
        };
        let mut reply = self.run(
            &keys,
            event.pubkey,
            transport.scheme(),
            incoming,
            false,
            now,
        );
        match origin {
            None => self.settle_on_own_relays(&keys, event.pubkey),
            Some(_) if method == "switch_relays" => {
                if let Some(s) = self
                    .sessions
                    .get(&keys.remote_signer.public_key(), &event.pubkey)
                {
                    s.mark_switch_asked();
                }
            }
            Some(_) => {}
        }
        if let Err(RpcError::ApprovalRequired(permission)) = &reply.body {
            reply.body = match self.hold(&keys, event, origin, permission, now) {
                Ok(Some(url)) => Err(RpcError::AuthUrl(url)),
                Ok(None) => Err(RpcError::TooManyHeld),
                Err(e) => {
                    tracing::error!(code = e.code(), "cannot hold a request for approval");
                    Err(RpcError::Internal)
                }
            };
        }
        self.audit_reply(&keys, event.pubkey, method, kind, &reply);
        let outcome = match &reply.body {
            Ok(_) => "ok",
            Err(RpcError::Internal) => "error",
            Err(_) => "refused",
        };
        let response = self.response(&keys, &transport, event, reply, now);
        Ok(Processed {
            accepted: Ok(()),
            response: Some(response),
            method: Some(method),
            duplicate: false,
            tenant: Some(keys.tenant.as_str().into()),
            outcome: Some(outcome),
            queue_wait: std::time::Duration::ZERO,
        })
    }

    /// A session served on its client's relays ([`SessionRecord::relays`]) whose client asked
    /// `switch_relays` there and now talks to bunkerd's own listener has moved: its relays become
    /// bunkerd's own public relays, durably, so the foreign-relay links stop listening for it.
    /// Without that `switch_relays` (a copy of the client's request replayed here by someone
    /// reading its relay) nothing moves. Runs under the user's lock, on the session as the store
    /// holds it then: a revocation meanwhile, on any node, wins, and is not undone by a write of
    /// the record this node still holds. A store failure leaves it served on both (logged).
    fn settle_on_own_relays(&self, keys: &UserKeys, client: PublicKey) {
        let remote_signer = keys.remote_signer.public_key();
        let moving = |s: &Arc<Session>| s.switch_asked() && !s.record.relays.is_empty();
        if !self
            .sessions
            .get(&remote_signer, &client)
            .is_some_and(|s| moving(&s))
        {
            return;
        }
        let _guard = match self.locks.user(&keys.tenant, &keys.user_id) {
            Ok(guard) => guard,
            Err(e) => {
                tracing::error!(
                    code = e.code(),
                    "cannot lock a session's move to bunkerd's own relays"
                );
                return;
            }
        };
        let mut record = match Sessions::stored(&*self.store, &remote_signer, &client) {
            Ok(Some(record)) => record,
            // Ended on another node whose word has not reached this one's memory yet.
            Ok(None) => return self.sessions.forget(&remote_signer, &client),
            Err(e) => {
                tracing::error!(
                    code = e.code(),
                    "cannot read a session moving to bunkerd's own relays"
                );
                return;
            }
        };
        let own: Vec<Option<String>> = self.config.relays.iter().map(|r| relay_key(r)).collect();
        let foreign = |url: &String| {
            let key = relay_key(url);
            key.is_none() || !own.contains(&key)
        };
        if !record.relays.iter().any(foreign) {
            return;
        }
        record.relays = self.config.relays.clone();
        let mut batch = Batch::new();
        Sessions::put(&mut batch, &record);
        match self.store.write(batch, Durability::Sync) {
            Ok(()) => self.sessions.put_live(record),
            Err(e) => tracing::error!(
                code = e.code(),
                "cannot record a session's move to bunkerd's own relays"
            ),
        }
    }

    /// A NIP-42 `AUTH` event for a foreign relay (kind 22242; tags `relay` = `relay_url`,
    /// `challenge`; empty content; dated `now`, Unix seconds), signed by the remote-signer key
    /// `remote_signer` (32 bytes); `None` when it is not hosted or its keys cannot be opened.
    /// See <https://github.com/nostr-protocol/nips/blob/master/42.md>.
    pub fn authenticate(
        &self,
        remote_signer: &[u8; 32],
        relay_url: &str,
        challenge: &str,
        now: u64,
    ) -> Option<Event> {
        if !self.directory.is_hosted(remote_signer) {
            return None;
        }
        let keys = self.directory.keys(remote_signer).ok()?;
        let unsigned = UnsignedEvent {
            created_at: now,
            kind: KIND_CLIENT_AUTH,
            tags: vec![
                vec!["relay".to_owned(), relay_url.to_owned()],
                vec!["challenge".to_owned(), challenge.to_owned()],
            ],
            content: String::new(),
        };
        Some(crate::crypto::with(|c| {
            keys.remote_signer.sign_event(unsigned, c)
        }))
    }

    /// Audits one answered request: method (a fixed label, never the client's string), kind and the
    /// signed event's id for `sign_event`, outcome, and for refusals a fixed reason. Never content.
    fn audit_reply(
        &self,
        keys: &UserKeys,
        client: PublicKey,
        method: &'static str,
        kind: Option<u16>,
        reply: &Reply,
    ) {
        let (outcome, detail, event_id) = match &reply.body {
            // Our serializer writes `{"id":"<64 hex>",…` first (event.rs `to_json`).
            Ok(result) if method == "sign_event" => {
                (Outcome::Ok, None, result.get(7..71).map(str::to_owned))
            }
            Ok(_) => (Outcome::Ok, None, None),
            Err(RpcError::Internal) => (Outcome::Error, Some("internal".to_owned()), None),
            Err(RpcError::PermissionDenied(message)) => {
                (Outcome::Refused, Some(message.clone()), None)
            }
            // The URL carries the page token: the audit says only that the request waits.
            Err(RpcError::AuthUrl(_)) => {
                (Outcome::Refused, Some("approval_pending".to_owned()), None)
            }
            Err(e) => (Outcome::Refused, Some(e.code().to_owned()), None),
        };
        let mut record = AuditRecord::new(audit::now_ms(), keys.tenant.as_str(), method, outcome);
        record.user = Some(keys.user_id.clone());
        record.client = Some(client);
        record.kind = kind;
        record.event_id = event_id;
        record.detail = detail;
        self.audit.record(record);
    }

    /// Audits a routed request that could not be read (no id to answer with).
    fn audit_unreadable(&self, keys: &UserKeys, client: PublicKey, why: &'static str) {
        let mut record = AuditRecord::new(
            audit::now_ms(),
            keys.tenant.as_str(),
            "request",
            Outcome::Refused,
        );
        record.user = Some(keys.user_id.clone());
        record.client = Some(client);
        record.detail = Some(why.to_owned());
        self.audit.record(record);
    }

    /// Runs the handler with the records it needs and persists its effect.
    /// `granted`: an admin approved this very request (the policy's approval rules do not hold it).
    fn run(
        &self,
        keys: &UserKeys,
        client: PublicKey,
        scheme: Scheme,
        incoming: nip46::Incoming,
        granted: bool,
        now: u64,
    ) -> Reply {
        let remote_signer = keys.remote_signer.public_key();
        let connecting = matches!(&incoming.request, Ok(Request::Connect(_)));
        // A `connect` does not see an expired session: a client back with a new bunker URI gets
        // a new session (it replaces the expired one) rather than `session expired`.
        let live = |session: Option<Arc<Session>>| {
            session.filter(|s| !connecting || s.expires_at(&keys.policy).is_none_or(|t| now < t))
        };
        let mut session = live(self.session(&remote_signer, &client));
        let secret_hash = match &incoming.request {
            Ok(Request::Connect(c)) if session.is_none() => c
                .secret
                .as_ref()
                .map(|s| <[u8; 32]>::from(Sha256::digest(s.as_bytes()))),
            _ => None,
        };
        // A session's end, by `logout` or expiry (answered to anything but `ping`, which then
        // takes the lock for nothing).
        let ending = matches!(&incoming.request, Ok(Request::Logout))
            || session
                .as_ref()
                .is_some_and(|s| s.expires_at(&keys.policy).is_some_and(|t| now >= t));
        // Only a connect that may consume a secret and a session's end take the user's lock (see
        // the module doc).
        let locking = secret_hash.is_some() || ending;
        let _guard = match locking.then(|| self.locks.user(&keys.tenant, &keys.user_id)) {
            Some(Err(e)) => return internal(incoming.id, &e.into()),
            guard => guard,
        };
        if secret_hash.is_some() {
            // The same client's other `connect` (a retry with a new id) may have created the
            // session while this one waited for the lock: answer it as connected, not as a reuse
            // of the secret that connect consumed.
            session = live(self.session(&remote_signer, &client));
        }
        let has_session = session.is_some();
        // Under the lock, a remote signer rotated away or deleted since routing is no longer
        // hosted: its secret then reads as unknown, so no session is created for a dead key.
        let lookup = |h: [u8; 32]| {
            if self.directory.is_hosted(remote_signer.as_bytes()) {
                self.directory.bunker_secret(&h)
            } else {
                Ok(None)
            }
        };
        let token = match secret_hash.map(lookup).transpose() {
            Ok(token) => token.flatten(),
            Err(e) => return internal(incoming.id, &e),
        };
        let ctx = Context {
            keys,
            client,
            has_session,
            grant: session.as_ref().map(|s| &s.grant),
            session_expires_at: session.as_ref().and_then(|s| s.expires_at(&keys.policy)),
            bunker_secret: token.as_ref().map(|(_, view)| view),
            relays: &self.config.relays,
            approval: match &session {
                _ if granted => Approval::Granted,
                Some(s) => Approval::Check {
                    remembered: &s.remembered,
                    confirmed: s.record.confirmed,
                },
                None => Approval::Granted,
            },
        };
        let outcome = crate::crypto::with(|crypto| nip46::handle(&ctx, incoming, now, crypto));
        match self.persist(
            keys,
            client,
            scheme,
            outcome.effect,
            token.map(|(r, _)| r),
            now,
        ) {
            Ok(()) => {
                // Usage counters for the admin API: the session this request ran in, or the one its
                // `connect` just created.
                if let Some(s) = session.or_else(|| self.sessions.get(&remote_signer, &client)) {
                    s.touch(now);
                }
                outcome.reply
            }
            Err(e) => internal(outcome.reply.id, &e),
        }
    }

    fn persist(
        &self,
        keys: &UserKeys,
        client: PublicKey,
        scheme: Scheme,
        effect: Effect,
        token: Option<crate::directory::BunkerSecretRecord>,
        now: u64,
    ) -> Result<(), Error> {
        let remote_signer = keys.remote_signer.public_key();
        let mut batch = Batch::new();
        match effect {
            Effect::None => return Ok(()),
            Effect::Connect {
                secret_hash,
                perms,
                approved,
                metadata,
            } => {
                let token = token.ok_or(Error::Corrupt("bunker secret vanished"))?;
                let expires_at = token.session_ttl_secs.map(|ttl| now.saturating_add(ttl));
                Directory::consume_token(&mut batch, &secret_hash, token, client, now);
                let record = SessionRecord {
                    tenant: keys.tenant.clone(),
                    user: keys.user_id.clone(),
                    remote_signer,
                    client,
                    perms,
                    approved,
                    grant: None,
                    expires_at,
                    scheme,
                    metadata,
                    relays: Vec::new(),
                    remembered: None,
                    confirmed: false,
                    created_at: now,
                };
                Sessions::put(&mut batch, &record);
                self.store.write(batch, Durability::Sync)?;
                self.sessions.insert(record);
            }
            Effect::Logout => {
                Sessions::delete(&mut batch, &remote_signer, &client);
                self.store.write(batch, Durability::Sync)?;
                self.sessions.forget(&remote_signer, &client);
            }
        }
        Ok(())
    }

    /// Encrypts the reply to `request` in its scheme and signs the response event, `p`-tagged to
    /// the request's author and dated max(`now`, the request's `created_at`) (Unix seconds): a
    /// client whose clock runs ahead subscribes with `since: <its now>` (go-nostr, nak) and would
    /// miss a reply stamped with ours.
    fn response(
        &self,
        keys: &UserKeys,
        transport: &Transport,
        request: &Event,
        mut reply: Reply,
        now: u64,
    ) -> Event {
        let content = match transport.encrypt(&reply.to_json()) {
            Some(content) => content,
            None => {
                reply.body = Err(RpcError::ReplyTooLarge);
                transport
                    .encrypt(&reply.to_json())
                    .expect("a short error reply always encrypts")
            }
        };
        crate::crypto::with(|c| {
            keys.remote_signer.sign_event(
                UnsignedEvent {
                    created_at: now.max(request.created_at),
                    kind: KIND_NOSTR_CONNECT,
                    tags: vec![vec!["p".to_owned(), request.pubkey.to_hex()]],
                    content,
                },
                c,
            )
        })
    }
}

/// Largest reply plaintext (the reply's JSON), bytes, under either scheme: NIP-44's own limit,
/// 65,535. A larger result is answered with [`RpcError::ReplyTooLarge`] instead.
pub const MAX_REPLY_PLAINTEXT: usize = nip44::MAX_ENCRYPT_PLAINTEXT;

/// The transport keys for one request: NIP-44 or NIP-04 between remote signer and client, taken
/// from the session cache when there is a session.
enum Transport {
    Nip44(nip44::ConversationKey),
    Nip04(nip04::SharedKey),
}

impl Transport {
    fn scheme(&self) -> Scheme {
        match self {
            Transport::Nip44(_) => Scheme::Nip44,
            Transport::Nip04(_) => Scheme::Nip04,
        }
    }

    fn new(bunker: &Bunker, keys: &UserKeys, event: &Event) -> Result<Self, Refusal> {
        const BAD_PEER: Refusal = Refusal::Invalid("client pubkey is not a usable key");
        let remote_signer = keys.remote_signer.public_key();
        let session = bunker.sessions.get(&remote_signer, &event.pubkey);
        let secret = || -> SecretKey { keys.remote_signer.secret_key() };
        if nip04::is_nip04_payload(&event.content) {
            let derive = || nip04::SharedKey::derive(&secret(), &event.pubkey);
            let key = match &session {
                Some(s) => s.nip04_key(derive).cloned(),
                None => derive(),
            };
            return key.map(Transport::Nip04).map_err(|_| BAD_PEER);
        }
        let derive = || nip44::ConversationKey::derive(&secret(), &event.pubkey);
        let key = match &session {
            Some(s) => s.nip44_key(derive).cloned(),
            None => derive(),
        };
        key.map(Transport::Nip44).map_err(|_| BAD_PEER)
    }

    /// The decrypted request; zeroized on drop, since it can hold a bunker secret or a plaintext.
    fn decrypt(&self, content: &str) -> Result<Zeroizing<String>, Refusal> {
        const UNDECRYPTABLE: Refusal =
            Refusal::Invalid("content does not decrypt for this remote signer");
        let plaintext = match self {
            Transport::Nip44(key) => nip44::decrypt(key, content).ok(),
            Transport::Nip04(key) => nip04::decrypt(key, content).ok(),
        };
        plaintext.map(Zeroizing::new).ok_or(UNDECRYPTABLE)
    }

    /// `None` when the reply's JSON is over [`MAX_REPLY_PLAINTEXT`] bytes, whatever the scheme:
    /// NIP-44 cannot carry more, and a NIP-04 reply (which has no limit of its own) is held to the
    /// same bound, so no request can make bunkerd build, queue and retain a reply larger than
    /// ≈ 88 KiB of event content.
    fn encrypt(&self, json: &str) -> Option<String> {
        if json.len() > MAX_REPLY_PLAINTEXT {
            return None;
        }
        match self {
            Transport::Nip44(key) => crate::crypto::with(|c| nip44::encrypt(key, json, c)).ok(),
            Transport::Nip04(key) => Some(crate::crypto::with(|c| nip04::encrypt(key, json, c))),
        }
    }
}

fn internal(id: String, error: &Error) -> Reply {
    tracing::error!(
        code = error.code(),
        "NIP-46 request failed on the server side"
    );
    Reply {
        id,
        body: Err(RpcError::Internal),
    }
}

/// A relay URL as a bunker-URI query value: written as is where it needs no escaping, which is what
/// every real relay URL is (`wss://host:port/path`), and percent-encoded elsewhere.
///
/// Kept literally: ASCII letters and digits and `_ - . : /`. Amethyst's URI validator wants a
/// literal `relay=wss://` and its parser never percent-decodes, while nostr-tools' `BUNKER_REGEX`
/// admits only `[?/\w:.=&%-]` in the query and decodes `%XX`; this set satisfies both. Anything
/// else — including `& = ? % # +`, which would split or change the value — is percent-encoded,
/// and so are the brackets of an IPv6 literal host (nostr-tools' pattern refuses them): give
/// Amethyst users a relay URL with a host name.
pub(crate) fn uri_query_value(s: &str) -> String {
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'-')
        .remove(b'.')
        .remove(b':')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, ESCAPED).to_string()
}
