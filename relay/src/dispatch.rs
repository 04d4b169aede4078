//! How the relay hands admitted events to the signer pool, and what comes back.
//!
//! Role: the relay's whole view of the signer, as a trait ([`Dispatch`]) and plain types, so that
//! this crate depends on no crate that can hold a secret key. The `bunkerd` crate implements
//! [`Dispatch`] over the signer pool and converts the signer's verdicts into [`Verdict`]s.
//!
//! Order of a request: the session admits the `EVENT` (kind, `p` tag naming a hosted remote
//! signer: [`Dispatch::is_hosted`]); the connection checks the tenant's rate ([`Dispatch::route`]),
//! reserves the `OK`'s place in its writer queue, and calls [`Dispatch::submit`]. The signer then
//! verifies the event, asks [`Request::first_seen`] once, processes it, delivers the response to
//! the fan-out, and only then calls [`Request::done`] with the verdict: a client that sees
//! `OK true` can rely on its response being retained already. A caller that needs the response
//! itself (`POST /nip46/request`) sets [`Request::want_response`] and finds it in
//! [`Verdict::response`].
//!
//! A request the relay refuses itself, before the signer ran it, may also be answered with a NIP-46
//! error reply ([`Dispatch::answer_refusal`], `crate::answer`).

use event::{Event, Refusal, Verified};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The signer pool, as the relay uses it. Implementations must not block: every method runs on an
/// I/O thread (except [`Dispatch::nip05`], which the relay runs on the blocking pool).
pub trait Dispatch: Send + Sync + 'static {
    /// Whether `remote_signer` (a 32-byte x-only public key) is a remote-signer pubkey hosted here.
    fn is_hosted(&self, remote_signer: &[u8; 32]) -> bool;

    /// Whether `client` has a session with `remote_signer` (32-byte x-only public keys), expired
    /// or not: decides which of the tenant's rate buckets a request is charged to
    /// ([`crate::ratelimit`]).
    fn has_session(&self, remote_signer: &[u8; 32], client: &[u8; 32]) -> bool;

    /// The tenant hosting `remote_signer` and its request-rate limits; `None` when not hosted.
    fn route(&self, remote_signer: &[u8; 32]) -> Option<Route>;

    /// Queues `request` in its tenant's lane, without blocking.
    ///
    /// # Errors
    ///
    /// [`Rejected`], with the bound that refused it ([`Overflow`]): the request was not queued,
    /// and its `done` was dropped without being called.
    #[allow(clippy::result_large_err)]
    fn submit(&self, request: Request) -> Result<(), Rejected>;

    /// Queues a NIP-46 error reply to a request the relay refused (see [`RefusalReply`]), without
    /// blocking, in a bounded lane of its own. The signer verifies the event, requires a session
    /// between its author and the remote signer its `p` tag names, reads the request's `id`, never
    /// runs it, and delivers `{"id":…,"error":<refusal message>}` to the fan-out.
    ///
    /// # Errors
    ///
    /// The [`Overflow`] that refused it (its lane or the whole queue full, the pool stopping): the
    /// reply is dropped and its `done` is not called.
    fn answer_refusal(&self, reply: RefusalReply) -> Result<(), Overflow>;

    /// The document of `GET /nip46/info`, as JSON text: the NIP-46 methods answered, the NIPs
    /// supported, the public relay URLs and the transports (`websocket`, `http`). Never names a
    /// user, a key or a tenant.
    fn nip46_info(&self) -> String;

    /// NIP-05: the user pubkey (64 lowercase hex) that `name` (a NIP-05 local part, lowercase) names
    /// on `domain` (lowercase, no port); `None` for an unknown domain or name, an invalid name, or a
    /// store failure. May block on the store.
    fn nip05(&self, domain: &str, name: &str) -> Option<Nip05>;

    /// A number that changes whenever a session on foreign relays is created, ended or moved to
    /// bunkerd's own relays: the foreign-relay links ([`crate::foreign`]) re-read
    /// [`Dispatch::foreign_sessions`] when it does. Cheap (an atomic read).
    fn foreign_generation(&self) -> u64;

    /// Every live session whose client named relays in its `nostrconnect://` URI and has not moved
    /// to bunkerd's own relays, with the generation it was read at. O(sessions); in memory.
    fn foreign_sessions(&self) -> (u64, Vec<ForeignSession>);

    /// A NIP-42 `AUTH` event (kind 22242, tags `relay` = `relay_url` and `challenge`), signed by
    /// the remote-signer key `remote_signer` (32-byte x-only public key), dated now; `None` when it
    /// is not hosted or its key cannot be opened. May block on the store (run it on the blocking
    /// pool). See <https://github.com/nostr-protocol/nips/blob/master/42.md>.
    fn authenticate(
        &self,
        remote_signer: &[u8; 32],
        relay_url: &str,
        challenge: &str,
    ) -> Option<Event>;

    /// What the approval page of `token` (64 lowercase hex, from an `auth_url` reply) shows;
    /// `None` for an unknown token or a store failure. May block on the store.
    fn approval_page(&self, token: &str) -> Option<ApprovalPage>;
}

/// A request held for an admin's approval, as its page shows it ([`Dispatch::approval_page`]).
/// Nothing secret: the preview is the event the client itself asked to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPage {
    /// The permission it needs (`sign_event:0`).
    pub permission: String,
    /// The client's display name, if it gave one.
    pub client_name: Option<String>,
    /// The client pubkey, 64 hex.
    pub client_pubkey: String,
    /// The start of the event to sign, for `sign_event`.
    pub preview: Option<String>,
    /// Unix seconds it was held.
    pub created_at: u64,
    /// Unix seconds it expires undecided.
    pub expires_at: u64,
    /// `pending`, `approved`, `remembered`, `denied` or `expired`.
    pub status: &'static str,
}

/// A session served on relays its client chose ([`Dispatch::foreign_sessions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignSession {
    /// The tenant hosting it.
    pub tenant: Arc<str>,
    /// The remote-signer pubkey, 32 bytes.
    pub remote_signer: [u8; 32],
    /// The client pubkey, 32 bytes.
    pub client: [u8; 32],
    /// The relay URLs of its `nostrconnect://` URI, as the client wrote them (bunkerd's own among
    /// them are served without a link).
    pub relays: Vec<String>,
}

/// A NIP-05 answer ([`Dispatch::nip05`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nip05 {
    /// The user pubkey, 64 lowercase hex.
    pub user_pubkey: String,
}

/// Where a request goes: the tenant that hosts its remote signer, with the tenant's own limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Tenant id: the signer-queue lane and the rate-limit bucket.
    pub tenant: Arc<str>,
    /// The tenant's own sustained requests per second; `None` = the server's default.
    pub requests_per_sec: Option<u32>,
    /// The tenant's own burst; `None` = its rate, or the server's default burst.
    pub burst: Option<u32>,
}

/// Atomically records an event id (32 bytes) and says whether it is new.
pub type FirstSeen = Box<dyn FnOnce(&[u8; 32]) -> bool + Send>;

/// Receives the verdict, on a signer thread, after the response went to the fan-out; with it, a
/// [`WriteGuard`] when the signer may wait for this `OK` to be written (`None` when nobody waits:
/// demoted connections' own `OK`s, requests over HTTP, or the wait is off).
pub type Done = Box<dyn FnOnce(Verdict, Option<WriteGuard>) + Send>;

/// Dropped by the connection's writer once the `OK` it came with is written (or the connection is
/// gone): a signer thread may be waiting for that before it starts a demoted connection's
/// request. Opaque to the relay.
pub struct WriteGuard(#[allow(dead_code)] Box<dyn Send>);

impl WriteGuard {
    /// Wraps the signer's guard; it is dropped when the `OK` has been written.
    pub fn new(guard: impl Send + 'static) -> Self {
        WriteGuard(Box::new(guard))
    }
}

impl std::fmt::Debug for WriteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteGuard")
    }
}

/// One admitted kind-24133 request event.
pub struct Request {
    /// The event, its id and signature verified (before any tenant budget was charged).
    pub event: Verified,
    /// Duplicate check, asked once after the event verifies.
    pub first_seen: FirstSeen,
    /// Called with the verdict (for the `OK`) after the response went to the fan-out.
    pub done: Done,
    /// When the request was submitted.
    pub queued_at: Instant,
    /// The tenant lane it waits in; requests whose tenant is unknown (the remote signer was just
    /// removed) share one lane under any fixed name.
    pub tenant: Arc<str>,
    /// From a connection demoted for its rate: a signer thread starts it only once the `OK`s it
    /// last handed to other connections are written, or a short bound passed.
    pub demoted: bool,
    /// The caller wants the response event in [`Verdict::response`] (one clone of it, on the
    /// signer thread); the fan-out gets it either way. `false` for websocket requests.
    pub want_response: bool,
    /// The foreign relay it came from (its URL as the session's client wrote it); `None` for
    /// bunkerd's own listener, websocket or HTTP.
    pub origin: Option<Arc<str>>,
}

/// A kind-24133 request the relay refused before the signer ran it — its connection's or
/// address's event rate, the `created_at` window, its tenant's rate or a full signer queue — to
/// answer with a NIP-46 error reply ([`Dispatch::answer_refusal`]).
pub struct RefusalReply {
    /// The refused event (parsed, not verified).
    pub event: Event,
    /// The refusal the `OK false` carried; its message becomes the reply's `error`.
    pub refusal: Refusal,
    /// Called on a signer thread: `true` once a reply went to the fan-out, `false` when the signer
    /// gave none (a forged event, no session, an unreadable request).
    pub done: Box<dyn FnOnce(bool) + Send>,
}

impl std::fmt::Debug for RefusalReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalReply")
            .field("refusal", &self.refusal)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("tenant", &self.tenant)
            .field("demoted", &self.demoted)
            .finish_non_exhaustive()
    }
}

/// A request the queue did not take, and why.
#[derive(Debug)]
pub struct Rejected {
    /// The request's event, unprocessed.
    pub event: Event,
    /// The request's tenant lane.
    pub tenant: Arc<str>,
    /// Which bound refused it.
    pub reason: Overflow,
}

/// Which bound of the signer queue refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// The request's tenant has as many requests waiting as its lane holds.
    TenantQueueFull,
    /// The whole queue is full.
    QueueFull,
    /// The pool is shutting down.
    Stopped,
}

/// The outcome of one request, for its `OK` and its metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `Ok` → `OK true`; `Err` → `OK false` with the refusal's message.
    pub accepted: Result<(), Refusal>,
    /// The event verified but was seen before: `OK true "duplicate: …"`, not processed again.
    pub duplicate: bool,
    /// The tenant it was routed to, once routed (a metrics label).
    pub tenant: Option<Arc<str>>,
    /// The NIP-46 method label, when a request was parsed (a bounded set: a metrics label).
    pub method: Option<&'static str>,
    /// How the NIP-46 request ended, when one was answered: `ok`, `refused` or `error`.
    pub outcome: Option<&'static str>,
    /// How long the request waited in the signer queue.
    pub queue_wait: Duration,
    /// The signed response event, when the request asked for it ([`Request::want_response`]) and
    /// one was made (not for a refused event or a duplicate).
    pub response: Option<Event>,
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
