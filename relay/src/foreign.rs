//! Foreign relays: the relays a client named in its `nostrconnect://` URI that are not bunkerd's
//! own. bunkerd serves such a session where its client listens (NIP-46, "Direct connection
//! initiated by the client": <https://github.com/nostr-protocol/nips/blob/master/46.md>).
//!
//! Role: keep one websocket per foreign relay (`link`), shared by every session that uses it,
//! with one subscription (kind 24133, `#p` = the remote signers served there, re-sent as sessions
//! come and go); feed the requests read there into the same path as the relay's own
//! (`intake`: verification, the tenant's budget, the signer queue, dedupe, policy, audit,
//! metrics), and write each response back to the relay its request came from.
//!
//! Which sessions are served where is the signer's ([`Dispatch::foreign_sessions`](crate::dispatch::Dispatch::foreign_sessions), persisted with
//! the sessions): [`ForeignRelays::run`] re-reads it whenever its generation changes, so
//! that after a restart every live session's relays are dialled again, and a session revoked,
//! logged out, expired or moved to bunkerd's own relays stops being listened for. Pairing
//! attaches its session at once ([`ForeignRelays::attach`]), before the session is persisted,
//! which is where the bounds are checked, atomically under one lock:
//! [`ForeignSettings::max_relays`] links in all, [`ForeignSettings::max_relays_per_tenant`] relays
//! and [`ForeignSettings::max_sessions_per_tenant`] sessions per tenant.
//!
//! Must not: hold a secret (NIP-42 `AUTH` events are signed by the signer,
//! [`Dispatch::authenticate`](crate::dispatch::Dispatch::authenticate)); dial a private address unless the operator allowed it (a relay
//! URL is a tenant admin's input, `dial::is_private`).

mod dial;
mod link;
mod message;

pub use dial::TlsSetupError;

/// Checks that `path` holds PEM CA certificates usable for `wss://` foreign relays.
///
/// # Errors
///
/// [`TlsSetupError::CaFile`] when it cannot be read or holds no certificate.
pub fn check_ca_file(path: &std::path::Path) -> Result<(), TlsSetupError> {
    dial::tls(Some(path)).map(|_| ())
}

use crate::dispatch::ForeignSession;
use crate::state::RelayState;
use event::relay_url::relay_key;
use event::Event;
use link::Link;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bounds and trust settings of foreign-relay links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignSettings {
    /// Foreign relays linked at once, all tenants together; 0 refuses every foreign relay.
    pub max_relays: usize,
    /// Foreign relays one tenant's sessions may use.
    pub max_relays_per_tenant: usize,
    /// Sessions of one tenant served on foreign relays.
    pub max_sessions_per_tenant: usize,
    /// Extra CA certificates (PEM) trusted for `wss://` relays, beside the system's.
    pub ca_file: Option<PathBuf>,
    /// Whether relay URLs may lead to loopback, private or link-local addresses (tests, private
    /// deployments). Off: such relays are refused at pairing (address literals) or fail to dial.
    pub allow_private: bool,
}

impl Default for ForeignSettings {
    fn default() -> Self {
        ForeignSettings {
            max_relays: 64,
            max_relays_per_tenant: 8,
            max_sessions_per_tenant: 1000,
            ca_file: None,
            allow_private: false,
        }
    }
}

/// Why a session cannot be served on the relays its client named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// [`ForeignSettings::max_relays`] links are open and the session needs another.
    #[error("bunkerd already serves as many foreign relays as it may ({0}, foreign_relays_max)")]
    Relays(usize),
    /// The tenant's sessions already use [`ForeignSettings::max_relays_per_tenant`] relays.
    #[error("the tenant's sessions already use as many foreign relays as they may ({0}, foreign_relays_per_tenant)")]
    RelaysPerTenant(usize),
    /// The tenant already has [`ForeignSettings::max_sessions_per_tenant`] such sessions.
    #[error("the tenant already has as many sessions on foreign relays as it may ({0}, foreign_sessions_per_tenant)")]
    SessionsPerTenant(usize),
    /// A relay URL names a private address (the field: its host) and private addresses are not allowed.
    #[error("relay host {0} is a private address (foreign_relays_allow_private is off)")]
    Private(String),
}

impl Refused {
    /// The `reason` label of `bunkerd_foreign_relay_refusals_total`, and a stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::Relays(_) => "foreign_relays_max",
            Refused::RelaysPerTenant(_) => "foreign_relays_per_tenant",
            Refused::SessionsPerTenant(_) => "foreign_sessions_per_tenant",
            Refused::Private(_) => "foreign_relay_private",
        }
    }

    const CODES: [&'static str; 4] = [
        "foreign_relays_max",
        "foreign_relays_per_tenant",
        "foreign_sessions_per_tenant",
        "foreign_relay_private",
    ];
}

/// The states a link is in, the `state` label of `bunkerd_foreign_relays`: `connecting` (dialling,
/// or waiting for the relay to take its subscription, NIP-42 included), `connected` (subscribed: the
/// relay answered `EOSE`), `backoff` (waiting to dial again).
pub(crate) const LINK_STATES: [&str; 3] = ["connecting", "connected", "backoff"];

/// The foreign-relay metrics: `bunkerd_foreign_relays{state}`, `bunkerd_foreign_relay_sessions`,
/// `bunkerd_foreign_relay_events_total{direction}` (`in`: requests read, `out`: events written),
/// `bunkerd_foreign_relay_reconnects_total`, `bunkerd_foreign_relay_refusals_total{reason}`,
/// `bunkerd_foreign_relay_dropped_total{reason}`. Labels are fixed sets, never a relay URL.
#[derive(Debug, Clone)]
pub struct ForeignMetrics {
    pub(crate) links: IntGaugeVec,
    pub(crate) sessions: IntGauge,
    pub(crate) events: IntCounterVec,
    pub(crate) reconnects: IntCounter,
    pub(crate) refusals: IntCounterVec,
    pub(crate) dropped: IntCounterVec,
}

/// The `reason` label values of `bunkerd_foreign_relay_dropped_total`.
pub(crate) const DROP_REASONS: [&str; 6] = [
    "outbox_full",
    "malformed",
    "not_served",
    "created_at",
    "rate",
    "refused",
];

impl ForeignMetrics {
    /// Creates the metrics and registers them in `registry`.
    ///
    /// # Panics
    ///
    /// If `registry` already holds one of these names.
    pub fn register(registry: &prometheus::Registry) -> Self {
        use crate::metrics::{counter, counter_vec, gauge, gauge_vec};
        let links = gauge_vec(
            registry,
            "bunkerd_foreign_relays",
            "Websockets to foreign relays (named by clients' nostrconnect URIs), by state",
            &["state"],
        );
        for state in LINK_STATES {
            links.with_label_values(&[state]);
        }
        let events = counter_vec(
            registry,
            "bunkerd_foreign_relay_events_total",
            "Events over foreign-relay links, by direction: in (requests read), out (events written)",
            &["direction"],
        );
        for direction in ["in", "out"] {
            events.with_label_values(&[direction]);
        }
        let refusals = counter_vec(
            registry,
            "bunkerd_foreign_relay_refusals_total",
            "Sessions refused service on foreign relays, by the bound that refused them",
            &["reason"],
        );
        for code in Refused::CODES {
            refusals.with_label_values(&[code]);
        }
        let dropped = counter_vec(
            registry,
            "bunkerd_foreign_relay_dropped_total",
            "Messages from foreign relays dropped before the signer, by reason: malformed, not_served (kind or p tag), created_at (outside the window), rate (the link's event rate), refused (verification or a limit); outbox_full: responses dropped because the link's queue was full",
            &["reason"],
        );
        for reason in DROP_REASONS {
            dropped.with_label_values(&[reason]);
        }
        ForeignMetrics {
            links,
            sessions: gauge(
                registry,
                "bunkerd_foreign_relay_sessions",
                "Sessions served on foreign relays",
            ),
            events,
            reconnects: counter(
                registry,
                "bunkerd_foreign_relay_reconnects_total",
                "Websockets to foreign relays opened again after one closed or failed",
            ),
            refusals,
            dropped,
        }
    }
}

/// A session's key: (remote-signer pubkey, client pubkey), 32 bytes each.
type Pair = ([u8; 32], [u8; 32]);

/// How long a session attached by pairing is kept although the signer does not list it yet (its
/// record is being written), so a reconciliation in between does not drop its link.
const PIN: Duration = Duration::from_secs(60);

/// How long a link that serves no session stays open for events queued to it.
const LINGER: Duration = Duration::from_secs(30);

/// When a pairing's `connect` response is published again, after the first time
/// ([`ForeignRelays::publish_pairing`]).
pub const PAIRING_REPUBLISH: [Duration; 4] = [
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(20),
];

/// How often the signer's session generation is checked.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// One session served on foreign relays.
#[derive(Debug)]
struct Attached {
    tenant: Arc<str>,
    /// Relay keys of its foreign relays.
    keys: Vec<Arc<str>>,
    pinned_until: Option<Instant>,
}

/// What one tenant uses.
#[derive(Debug, Default)]
struct TenantUse {
    sessions: usize,
    /// Relay key → its sessions of this tenant.
    relays: HashMap<Arc<str>, usize>,
}

#[derive(Default)]
struct Registry {
    sessions: HashMap<Pair, Attached>,
    /// Relay key → link; a link without sessions lingers ([`LINGER`]).
    links: HashMap<Arc<str>, Arc<Link>>,
    tenants: HashMap<Arc<str>, TenantUse>,
}

impl Registry {
    fn active_links(&self) -> usize {
        self.links.values().filter(|l| l.sessions() > 0).count()
    }
}

/// What every link shares.
pub(crate) struct Shared {
    pub(crate) state: Arc<RelayState>,
    /// Where link tasks run (attachments may come from blocking threads).
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) settings: ForeignSettings,
    pub(crate) tls: tokio_rustls::TlsConnector,
    pub(crate) metrics: ForeignMetrics,
}

/// The foreign-relay links of one server.
pub struct ForeignRelays {
    shared: Arc<Shared>,
    /// Relay keys of bunkerd's own public relays: served by the local fan-out, never linked.
    own: HashSet<String>,
    registry: Mutex<Registry>,
    wake: tokio::sync::Notify,
    /// Re-read the sessions at the next reconciliation ([`ForeignRelays::resync`]).
    force: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ForeignRelays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForeignRelays").finish_non_exhaustive()
    }
}

impl ForeignRelays {
    /// The links of the relay `state`, which is reached at `own_relays` (the public relay URLs of
    /// bunker URIs). Starts nothing: [`ForeignRelays::run`] does.
    ///
    /// # Errors
    ///
    /// [`TlsSetupError`] when `settings.ca_file` cannot be used.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(
        state: Arc<RelayState>,
        settings: ForeignSettings,
        own_relays: &[String],
        metrics: ForeignMetrics,
    ) -> Result<Arc<Self>, TlsSetupError> {
        let tls = dial::tls(settings.ca_file.as_deref())?;
        Ok(Arc::new(ForeignRelays {
            shared: Arc::new(Shared {
                state,
                runtime: tokio::runtime::Handle::current(),
                settings,
                tls,
                metrics,
            }),
            own: own_relays.iter().filter_map(|u| relay_key(u)).collect(),
            registry: Mutex::new(Registry::default()),
            wake: tokio::sync::Notify::new(),
            force: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Whether `url` is one of bunkerd's own public relays (compared by [`relay_key`]).
    pub fn is_own(&self, url: &str) -> bool {
        relay_key(url).is_some_and(|k| self.own.contains(&k))
    }

    /// Serves the session (`remote_signer`, `client`, 32 bytes each) of `tenant` on the foreign
    /// ones among `relays` (bunkerd's own are skipped), dialling relays not linked yet; replaces
    /// the relays it had. Returns the relay keys of its foreign relays (empty: none).
    ///
    /// # Errors
    ///
    /// [`Refused`] by a bound, or a private address literal; nothing changed then, and the
    /// refusal is counted in `bunkerd_foreign_relay_refusals_total`.
    pub fn attach(
        &self,
        tenant: &str,
        remote_signer: [u8; 32],
        client: [u8; 32],
        relays: &[String],
    ) -> Result<Vec<Arc<str>>, Refused> {
        let attached = self.attach_inner(tenant, (remote_signer, client), relays, Some(PIN));
        if let Err(refused) = &attached {
            self.shared
                .metrics
                .refusals
                .with_label_values(&[refused.code()])
                .inc();
        }
        attached
    }

    fn attach_inner(
        &self,
        tenant: &str,
        pair: Pair,
        relays: &[String],
        pin: Option<Duration>,
    ) -> Result<Vec<Arc<str>>, Refused> {
        let settings = &self.shared.settings;
        let mut wanted: Vec<(Arc<str>, &str)> = Vec::new();
        for url in relays {
            let Some(key) = relay_key(url) else { continue };
            if self.own.contains(&key) || wanted.iter().any(|(k, _)| **k == *key) {
                continue;
            }
            if !settings.allow_private && literal_is_private(&key) {
                // The host only: a relay URL's query may carry credentials, and this is logged.
                let host = url::Url::parse(&key)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default();
                return Err(Refused::Private(host));
            }
            wanted.push((key.into(), url));
        }
        let mut registry = self.registry.lock().expect("foreign registry");
        let keys: Vec<Arc<str>> = wanted.iter().map(|(k, _)| k.clone()).collect();
        if let Some(existing) = registry.sessions.get_mut(&pair) {
            if existing.keys == keys {
                existing.pinned_until = pin.map(|p| Instant::now() + p);
                return Ok(keys);
            }
        }
        // Check against the use without this session's old relays.
        let old = self.detach_locked(&mut registry, &pair);
        if keys.is_empty() {
            return Ok(keys);
        }
        let refused = {
            let usage = registry.tenants.get(tenant);
            let tenant_sessions = usage.map_or(0, |u| u.sessions);
            let tenant_relays = usage.map_or(0, |u| u.relays.len());
            let new_for_tenant = keys
                .iter()
                .filter(|k| usage.is_none_or(|u| !u.relays.contains_key(*k)))
                .count();
            let new_links = keys
                .iter()
                .filter(|k| registry.links.get(*k).is_none_or(|l| l.sessions() == 0))
                .count();
            if tenant_sessions + 1 > settings.max_sessions_per_tenant {
                Some(Refused::SessionsPerTenant(settings.max_sessions_per_tenant))
            } else if tenant_relays + new_for_tenant > settings.max_relays_per_tenant {
                Some(Refused::RelaysPerTenant(settings.max_relays_per_tenant))
            } else if registry.active_links() + new_links > settings.max_relays {
                Some(Refused::Relays(settings.max_relays))
            } else {
                None
            }
        };
        if let Some(refused) = refused {
            // Put the old relays back: nothing changes on a refusal.
            if let Some((tenant, old)) = old {
                self.insert_locked(&mut registry, &tenant, pair, old, pin);
            }
            return Err(refused);
        }
        let tenant: Arc<str> = tenant.into();
        let mut links = Vec::new();
        for (key, url) in &wanted {
            if !registry.links.contains_key(key) {
                let link = Link::spawn(self.shared.clone(), key.clone(), url);
                registry.links.insert(key.clone(), link);
            }
            links.push(key.clone());
        }
        self.insert_locked(&mut registry, &tenant, pair, links, pin);
        Ok(keys)
    }

    fn insert_locked(
        &self,
        registry: &mut Registry,
        tenant: &Arc<str>,
        pair: Pair,
        keys: Vec<Arc<str>>,
        pin: Option<Duration>,
    ) {
        let usage = registry.tenants.entry(tenant.clone()).or_default();
        usage.sessions += 1;
        for key in &keys {
            *usage.relays.entry(key.clone()).or_insert(0) += 1;
            if let Some(link) = registry.links.get(key) {
                link.serve(pair.0);
            }
        }
        registry.sessions.insert(
            pair,
            Attached {
                tenant: tenant.clone(),
                keys,
                pinned_until: pin.map(|p| Instant::now() + p),
            },
        );
        self.shared
            .metrics
            .sessions
            .set(registry.sessions.len() as i64);
    }

    /// Stops serving a session on foreign relays (no-op if it was not served there).
    pub fn detach(&self, remote_signer: [u8; 32], client: [u8; 32]) {
        let mut registry = self.registry.lock().expect("foreign registry");
        self.detach_locked(&mut registry, &(remote_signer, client));
    }

    /// Removes a session; returns its tenant and relay keys if it was attached.
    fn detach_locked(
        &self,
        registry: &mut Registry,
        pair: &Pair,
    ) -> Option<(Arc<str>, Vec<Arc<str>>)> {
        let attached = registry.sessions.remove(pair)?;
        if let Some(usage) = registry.tenants.get_mut(&attached.tenant) {
            usage.sessions -= 1;
            for key in &attached.keys {
                if let Some(n) = usage.relays.get_mut(key) {
                    *n -= 1;
                    if *n == 0 {
                        usage.relays.remove(key);
                    }
                }
            }
            if usage.sessions == 0 {
                registry.tenants.remove(&attached.tenant);
            }
        }
        for key in &attached.keys {
            if let Some(link) = registry.links.get(key) {
                link.unserve(&pair.0);
            }
        }
        self.shared
            .metrics
            .sessions
            .set(registry.sessions.len() as i64);
        Some((attached.tenant, attached.keys))
    }

    /// Publishes `event` where the client of a session listens: into the local fan-out when
    /// `relays` name one of bunkerd's own (or name none), and on each foreign one linked. Events
    /// queued to a link that is reconnecting are written once it is up (bounded in bytes per link).
    pub fn publish(&self, relays: &[String], event: Event) {
        let keys: Vec<String> = relays.iter().filter_map(|u| relay_key(u)).collect();
        let registry = self.registry.lock().expect("foreign registry");
        let links: Vec<Arc<Link>> = keys
            .iter()
            .filter_map(|k| registry.links.get(k.as_str()).cloned())
            .collect();
        drop(registry);
        let json: Arc<str> = event.to_json().into();
        for link in links {
            link.enqueue(event.id, json.clone());
        }
        if keys.is_empty() || keys.iter().any(|k| self.own.contains(k)) {
            self.shared
                .state
                .hub
                .publish(event, crate::dispatch::unix_now());
        }
    }

    /// Publishes a pairing's `connect` response as [`ForeignRelays::publish`] does, then again at
    /// each of [`PAIRING_REPUBLISH`] after it: the response is an ephemeral event (kind 24133) that
    /// relays keep for nobody, and a client whose subscription was not live at that instant (an app
    /// reconnecting, a QR code scanned before its relay answered) would otherwise never pair. Clients
    /// ignore a response whose `id` they are not waiting for, so the copies are harmless.
    pub fn publish_pairing(self: &Arc<Self>, relays: &[String], event: Event) {
        self.publish(relays, event.clone());
        let (this, relays) = (self.clone(), relays.to_vec());
        let shutdown = self.shared.state.shutdown.clone();
        self.shared.runtime.spawn(async move {
            let start = tokio::time::Instant::now();
            for after in PAIRING_REPUBLISH {
                tokio::select! {
                    () = tokio::time::sleep_until(start + after) => {}
                    () = shutdown.cancelled() => return,
                }
                this.publish(&relays, event.clone());
            }
        });
    }

    /// Wakes the reconciliation now (after a change the caller made to the signer's sessions).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Makes the next reconciliation re-read the signer's sessions even if their generation has
    /// not moved (after an attachment was undone), and wakes it.
    pub fn resync(&self) {
        self.force.store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_one();
    }

    /// Keeps the links in step with the signer's sessions until the relay shuts down: at start
    /// (the sessions persisted before a restart), whenever [`ForeignRelays::nudge`] is called,
    /// and every second the signer's generation moved.
    pub async fn run(self: Arc<Self>) {
        let shutdown = self.shared.state.shutdown.clone();
        let mut seen = None;
        loop {
            let generation = self.shared.state.dispatch.foreign_generation();
            let forced = self.force.swap(false, std::sync::atomic::Ordering::AcqRel);
            if forced || seen != Some(generation) {
                let dispatch = self.shared.state.dispatch.clone();
                let read = tokio::task::spawn_blocking(move || dispatch.foreign_sessions()).await;
                if let Ok((generation, sessions)) = read {
                    self.reconcile(&sessions);
                    seen = Some(generation);
                }
            }
            self.sweep();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(RECONCILE_EVERY) => {}
            }
        }
        // The links stop reading now and close with the relay's sockets (their stop tokens are
        // children of it), after the signer has answered what they already read.
    }

    /// Attaches every listed session not attached with the same relays, and detaches every
    /// attached one no longer listed (unless pinned by a pairing in progress).
    fn reconcile(&self, sessions: &[ForeignSession]) {
        let listed: HashSet<Pair> = sessions
            .iter()
            .map(|s| (s.remote_signer, s.client))
            .collect();
        let now = Instant::now();
        let gone: Vec<Pair> = {
            let registry = self.registry.lock().expect("foreign registry");
            registry
                .sessions
                .iter()
                .filter(|(pair, a)| {
                    !listed.contains(pair) && a.pinned_until.is_none_or(|t| t <= now)
                })
                .map(|(pair, _)| *pair)
                .collect()
        };
        for (remote_signer, client) in gone {
            self.detach(remote_signer, client);
        }
        for s in sessions {
            let pair = (s.remote_signer, s.client);
            match self.attach_inner(&s.tenant, pair, &s.relays, None) {
                Ok(_) => {}
                Err(refused) => {
                    self.shared
                        .metrics
                        .refusals
                        .with_label_values(&[refused.code()])
                        .inc();
                    tracing::warn!(
                        tenant = %s.tenant,
                        reason = refused.code(),
                        "a session on foreign relays is not served: {refused}"
                    );
                }
            }
        }
    }

    /// Stops links that served no session for [`LINGER`] and have nothing left to write.
    fn sweep(&self) {
        let mut registry = self.registry.lock().expect("foreign registry");
        registry.links.retain(|_, link| {
            let keep = !link.idle_for(LINGER);
            if !keep {
                link.stop();
            }
            keep
        });
    }
}

/// Whether a relay key's host is an address literal in a private range (`dial::is_private`).
fn literal_is_private(key: &str) -> bool {
    url::Url::parse(key)
        .ok()
        .and_then(|u| match u.host()? {
            url::Host::Ipv4(v4) => Some(std::net::IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(std::net::IpAddr::V6(v6)),
            url::Host::Domain(d) => (d == "localhost" || d.ends_with(".localhost"))
                .then_some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        })
        .is_some_and(dial::is_private)
}
