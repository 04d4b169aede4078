//! Connection and address limits: what one websocket connection and one client address
//! may hold and send, checked on the relay before any crypto.
//!
//! Role: [`Limits`] is the configuration (every default documented there and in the README's
//! "Operating" section); [`Addresses`] counts connections and subscriptions per client address and
//! in total and holds each address's event bucket (also charged by requests over HTTP,
//! `Addresses::admit_event`); a `ConnectionPermit` is one admitted
//! connection's share of that — its own event bucket, a handle on its address's counters — and gives
//! everything back when dropped, so no exit path of a connection can leak a slot.
//!
//! Client address: the TCP peer's IP, or — behind a reverse proxy, when `real-ip-header` is
//! configured — the last address in that header (the one the proxy appended). IPv4-mapped IPv6
//! addresses count as their IPv4 address; other IPv6 addresses are grouped by their /64 prefix,
//! since one host is routinely given a whole /64 and could otherwise rotate addresses freely.
//!
//! Rates are GCRA token buckets (the `governor` crate). An address's bucket outlives its last
//! connection until it has refilled (`burst / rate` seconds, removed by [`Addresses::sweep`]), so
//! reconnecting does not buy a fresh burst.
//!
//! Must not: block (one shard lock of a concurrent map at connect and disconnect, atomics
//! otherwise), or see event contents.

use dashmap::DashMap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Limits on connections, subscriptions, filters and event rates. A rate of 0 turns that bucket off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open subscriptions per connection. Default: 32.
    pub max_subscriptions: usize,
    /// Filters in one `REQ` (NIP-01); a client of NIP-46 sends one. Default: 10.
    pub max_filters: usize,
    /// How far `created_at` may be from now, seconds, either way. Default: 600 (NIP-42's "about ten
    /// minutes" for auth events; phones' clocks drift).
    pub created_at_window_secs: u64,
    /// `EVENT`s one connection may send per second, sustained; 0 = no per-connection bucket.
    /// Default: 100 (a person's client sends a few per minute; an application signing for many
    /// users from one connection should raise it).
    pub events_per_sec: u32,
    /// Burst of `EVENT`s one connection may send at once (at least `events_per_sec`). Default: 200.
    pub events_burst: u32,
    /// Open connections of the relay listener in total, websocket or HTTP (an idle keep-alive
    /// connection holds a slot too). Default: 16,384.
    pub max_connections: usize,
    /// Open connections per client address, websocket or HTTP. Default: 256.
    pub max_connections_per_ip: usize,
    /// Open subscriptions per client address, over all its connections. Default: 1,024.
    pub max_subscriptions_per_ip: usize,
    /// `EVENT`s one client address may send per second, over all its connections; 0 = no
    /// per-address bucket. Default: 1,000.
    pub ip_events_per_sec: u32,
    /// Burst of `EVENT`s one client address may send at once (at least `ip_events_per_sec`).
    /// Default: 2,000.
    pub ip_events_burst: u32,
    /// Requests per second for a tenant whose own `limits.requests_per_sec` is unset (the admin API
    /// sets a tenant's own; a tenant's 0 means unlimited); 0 = unlimited by default. Default: 1,000.
    pub tenant_requests_per_sec: u32,
    /// Burst for a tenant whose own `limits.burst` is unset (at least the rate). Default: 2,000.
    pub tenant_burst: u32,
    /// How long a connection stays demoted after its last `EVENT` refused by a limit that
    /// [`Limit::demotes`] (its own or its address's event rate, its tenant's request rate or queue
    /// lane), seconds; 0 = never demote. A demoted connection's socket is served by a thread under
    /// SCHED_IDLE, so a flood of refused events costs others little latency (`placement::Placement`).
    /// Default: 10.
    pub rate_limited_demotion_secs: u64,
    /// Requests per second a tenant takes from clients without a session with the remote signer
    /// they address (pairing `connect`s, and anything a stranger sends), in a bucket of their own,
    /// so that such traffic never spends the tenant's request budget ([`Limits::tenant_requests_per_sec`]);
    /// burst twice the rate; 0 = unlimited. Default: 100.
    pub unpaired_requests_per_sec: u32,
    /// Seconds a connection's writer may make no progress (the client does not read what it is
    /// sent) before the connection is closed and everything queued for it is freed; 0 = never.
    /// Default: 30.
    pub write_timeout_secs: u64,
    /// Bytes of `EVENT` messages queued to one connection plus request events it has in flight at
    /// the signer ([`crate::outbox`]); 0 = unbounded. Default: 1 MiB.
    pub outbound_bytes_per_connection: usize,
    /// The same, over every connection; 0 = unbounded. Default: 256 MiB.
    pub outbound_bytes_total: usize,
    /// Seconds without any frame from a websocket client before it is pinged; a client that sends
    /// nothing (not even the pong) for as long again is disconnected; 0 = never ping. Default: 30.
    pub ping_interval_secs: u64,
    /// Seconds a websocket may stay open without any subscription before it is closed (1008);
    /// 0 = never. Default: 60.
    pub idle_without_subscription_secs: u64,
    /// Seconds an HTTP connection of the relay listener may take to send a request head, and may
    /// stay idle between keep-alive requests. Default: 30.
    pub http_idle_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_subscriptions: 32,
            max_filters: 10,
            created_at_window_secs: 600,
            events_per_sec: 100,
            events_burst: 200,
            max_connections: 16_384,
            max_connections_per_ip: 256,
            max_subscriptions_per_ip: 1_024,
            ip_events_per_sec: 1_000,
            ip_events_burst: 2_000,
            tenant_requests_per_sec: 1_000,
            tenant_burst: 2_000,
            rate_limited_demotion_secs: 10,
            unpaired_requests_per_sec: 100,
            write_timeout_secs: 30,
            outbound_bytes_per_connection: 1 << 20,
            outbound_bytes_total: 256 << 20,
            ping_interval_secs: 30,
            idle_without_subscription_secs: 60,
            http_idle_timeout_secs: 30,
        }
    }
}

/// Which limit refused something: the `limit` label of `bunkerd_limit_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_connections`].
    Connections,
    /// [`Limits::max_connections_per_ip`].
    IpConnections,
    /// [`Limits::events_per_sec`].
    ConnectionEvents,
    /// [`Limits::ip_events_per_sec`].
    IpEvents,
    /// [`Limits::max_subscriptions`].
    ConnectionSubscriptions,
    /// [`Limits::max_subscriptions_per_ip`].
    IpSubscriptions,
    /// [`Limits::max_filters`].
    FiltersPerReq,
    /// A tenant's request rate.
    TenantRate,
    /// A tenant's bucket for requests from clients without a session
    /// ([`Limits::unpaired_requests_per_sec`]).
    UnpairedRate,
    /// A tenant's lane of the signer queue is full.
    TenantQueue,
    /// The signer queue is full.
    Queue,
}

impl Limit {
    /// Every limit.
    pub const ALL: [Limit; 11] = [
        Limit::Connections,
        Limit::IpConnections,
        Limit::ConnectionEvents,
        Limit::IpEvents,
        Limit::ConnectionSubscriptions,
        Limit::IpSubscriptions,
        Limit::FiltersPerReq,
        Limit::TenantRate,
        Limit::UnpairedRate,
        Limit::TenantQueue,
        Limit::Queue,
    ];

    /// The NIP-01 message of a refusal by this limit (`OK`/`CLOSED` text, or the HTTP body of a
    /// refused upgrade), with its machine-readable prefix.
    pub fn message(self) -> &'static str {
        match self {
            Limit::Connections => {
                "rate-limited: the relay has too many open connections; retry later"
            }
            Limit::IpConnections => "rate-limited: too many open connections from your address",
            Limit::ConnectionEvents => {
                "rate-limited: too many events on this connection; slow down"
            }
            Limit::IpEvents => "rate-limited: too many events from your address; slow down",
            Limit::ConnectionSubscriptions => {
                "blocked: too many open subscriptions on this connection"
            }
            Limit::IpSubscriptions => "blocked: too many open subscriptions from your address",
            Limit::FiltersPerReq => "invalid: too many filters in one REQ",
            Limit::TenantRate => {
                "rate-limited: this organization's request rate is exceeded; slow down"
            }
            Limit::UnpairedRate => {
                "rate-limited: too many requests from clients without a session with this organization; retry shortly"
            }
            Limit::TenantQueue => {
                "rate-limited: this organization has too many requests waiting; retry shortly"
            }
            Limit::Queue => "rate-limited: the signer is busy; retry shortly",
        }
    }

    /// Whether a refusal by this limit demotes the connection that was refused (relay
    /// `placement::Placement`): the limits exceeded by a sending rate that is the client's own, its
    /// address's or its organization's — [`Limit::ConnectionEvents`], [`Limit::IpEvents`],
    /// [`Limit::TenantRate`], [`Limit::TenantQueue`]. Not [`Limit::Queue`] (the whole signer queue is
    /// full: nobody's own doing), nor the limits on counts of connections, subscriptions or filters
    /// (they refuse an open, not a rate).
    pub fn demotes(self) -> bool {
        match self {
            Limit::ConnectionEvents
            | Limit::IpEvents
            | Limit::TenantRate
            | Limit::UnpairedRate
            | Limit::TenantQueue => true,
            Limit::Connections
            | Limit::IpConnections
            | Limit::ConnectionSubscriptions
            | Limit::IpSubscriptions
            | Limit::FiltersPerReq
            | Limit::Queue => false,
        }
    }

    /// The metric label (snake_case, stable).
    pub fn label(self) -> &'static str {
        match self {
            Limit::Connections => "connections",
            Limit::IpConnections => "ip_connections",
            Limit::ConnectionEvents => "connection_events",
            Limit::IpEvents => "ip_events",
            Limit::ConnectionSubscriptions => "connection_subscriptions",
            Limit::IpSubscriptions => "ip_subscriptions",
            Limit::FiltersPerReq => "filters_per_req",
            Limit::TenantRate => "tenant_rate",
            Limit::UnpairedRate => "unpaired_rate",
            Limit::TenantQueue => "tenant_queue",
            Limit::Queue => "queue",
        }
    }
}

/// The key an address is counted under: IPv4, or an IPv6 /64 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey(IpAddr);

impl ClientKey {
    /// IPv4-mapped IPv6 → the IPv4 address; other IPv6 → its /64 prefix (low 64 bits zeroed).
    pub(crate) fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !u128::from(u64::MAX);
                    ClientKey(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The client address of a request: the last entry of `real_ip_header` when it is configured and
/// holds a valid IP (`X-Forwarded-For: client, proxy1` → `proxy1`: the entry the nearest proxy
/// appended, the only one that proxy vouches for), else the TCP peer's.
pub(crate) fn client_ip(
    peer: IpAddr,
    real_ip_header: Option<&hyper::header::HeaderName>,
    headers: &hyper::HeaderMap,
) -> IpAddr {
    real_ip_header
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

/// A token bucket of `rate` per second with `burst` (raised to `rate`); `None` when `rate` is 0.
fn bucket(rate: u32, burst: u32) -> Option<DefaultDirectRateLimiter> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst.max(rate.get())).unwrap_or(rate);
    Some(RateLimiter::direct(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

/// One address's counters, shared by its connections.
struct Address {
    subscriptions: AtomicUsize,
    events: Option<DefaultDirectRateLimiter>,
}

/// An address's entry in the map: its open connections (changed under the map's shard lock) and
/// since when it has had none.
struct Entry {
    connections: usize,
    idle_since: Instant,
    shared: Arc<Address>,
}

/// Connection and subscription counts per client address and in total; see the module docs.
pub struct Addresses {
    limits: Limits,
    total: AtomicUsize,
    by_key: DashMap<ClientKey, Entry>,
}

impl std::fmt::Debug for Addresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Addresses")
            .field("connections", &self.total.load(Ordering::Relaxed))
            .field("addresses", &self.by_key.len())
            .finish()
    }
}

impl Addresses {
    pub(crate) fn new(limits: Limits) -> Self {
        Addresses {
            limits,
            total: AtomicUsize::new(0),
            by_key: DashMap::new(),
        }
    }

    /// Admits one connection from `ip`.
    ///
    /// # Errors
    ///
    /// [`Limit::Connections`] when [`Limits::max_connections`] are open, [`Limit::IpConnections`]
    /// when the address has [`Limits::max_connections_per_ip`] open.
    pub(crate) fn open(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, Limit> {
        self.open_checked(ip, true)
    }

    /// Admits one connection from `ip` counting only against [`Limits::max_connections`]: a
    /// connection from a reverse proxy (`real-ip-header` configured), whose client address is
    /// known only from its request ([`ConnectionPermit::rekey`]).
    ///
    /// # Errors
    ///
    /// [`Limit::Connections`] when [`Limits::max_connections`] are open.
    pub(crate) fn open_proxied(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, Limit> {
        self.open_checked(ip, false)
    }

    /// [`Addresses::open`], checking the address's own limit when `per_address`.
    fn open_checked(
        self: &Arc<Self>,
        ip: IpAddr,
        per_address: bool,
    ) -> Result<ConnectionPermit, Limit> {
        let max = self.limits.max_connections;
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| Limit::Connections)?;
        let key = ClientKey::of(ip);
        let shared = {
            let mut entry = self.by_key.entry(key).or_insert_with(|| self.entry());
            if per_address && entry.connections >= self.limits.max_connections_per_ip {
                None
            } else {
                entry.connections += 1;
                Some(entry.shared.clone())
            }
        };
        let Some(address) = shared else {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Limit::IpConnections);
        };
        Ok(ConnectionPermit {
            addresses: self.clone(),
            key,
            address,
            events: bucket(self.limits.events_per_sec, self.limits.events_burst),
            subscriptions: AtomicUsize::new(0),
        })
    }

    /// A new address's entry: no connection, a full event bucket.
    fn entry(&self) -> Entry {
        Entry {
            connections: 0,
            idle_since: Instant::now(),
            shared: Arc::new(Address {
                subscriptions: AtomicUsize::new(0),
                events: bucket(self.limits.ip_events_per_sec, self.limits.ip_events_burst),
            }),
        }
    }

    /// Takes one token for an `EVENT` that came without a websocket connection (`POST
    /// /nip46/request`) from `ip`'s event bucket, the one its websocket connections share. An
    /// address without connections is kept until its bucket has refilled after this use.
    ///
    /// # Errors
    ///
    /// [`Limit::IpEvents`] when the bucket is empty (it then takes no token).
    pub(crate) fn admit_event(&self, ip: IpAddr) -> Result<(), Limit> {
        if self.limits.ip_events_per_sec == 0 {
            return Ok(());
        }
        let address = {
            let mut entry = self
                .by_key
                .entry(ClientKey::of(ip))
                .or_insert_with(|| self.entry());
            if entry.connections == 0 {
                entry.idle_since = Instant::now();
            }
            entry.shared.clone()
        };
        match &address.events {
            Some(bucket) if bucket.check().is_err() => Err(Limit::IpEvents),
            _ => Ok(()),
        }
    }

    /// Open connections in total.
    #[cfg(test)]
    pub(crate) fn connections(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Forgets addresses without connections whose event bucket has refilled (or that have none).
    pub fn sweep(&self) {
        let refill = match NonZeroU32::new(self.limits.ip_events_per_sec) {
            Some(rate) => Duration::from_secs_f64(
                f64::from(self.limits.ip_events_burst.max(rate.get())) / f64::from(rate.get()),
            ),
            None => Duration::ZERO,
        };
        self.by_key
            .retain(|_, entry| entry.connections > 0 || entry.idle_since.elapsed() < refill);
    }

    fn close(&self, key: ClientKey) {
        self.release(key);
        self.total.fetch_sub(1, Ordering::AcqRel);
    }

    /// Gives back one connection of `key`'s count (not of the total).
    fn release(&self, key: ClientKey) {
        if let Some(mut entry) = self.by_key.get_mut(&key) {
            entry.connections = entry.connections.saturating_sub(1);
            if entry.connections == 0 {
                entry.idle_since = Instant::now();
            }
        }
    }
}

/// One admitted connection: its event bucket and its share of its address's counters. Dropping it
/// gives back the connection slot and every subscription it still holds.
pub(crate) struct ConnectionPermit {
    addresses: Arc<Addresses>,
    key: ClientKey,
    address: Arc<Address>,
    events: Option<DefaultDirectRateLimiter>,
    /// Subscriptions this connection holds in its address's count.
    subscriptions: AtomicUsize,
}

impl std::fmt::Debug for ConnectionPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionPermit")
            .field("key", &self.key)
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}

impl ConnectionPermit {
    /// Takes one token for an `EVENT`: from this connection's bucket, then its address's.
    ///
    /// # Errors
    ///
    /// [`Limit::ConnectionEvents`] or [`Limit::IpEvents`] when that bucket is empty. The bucket that
    /// refuses takes no token (GCRA: a refusal does not move its schedule); when the address's
    /// bucket refuses, the connection's token is already spent.
    pub(crate) fn admit_event(&self) -> Result<(), Limit> {
        if self.events.as_ref().is_some_and(|b| b.check().is_err()) {
            return Err(Limit::ConnectionEvents);
        }
        if self
            .address
            .events
            .as_ref()
            .is_some_and(|b| b.check().is_err())
        {
            return Err(Limit::IpEvents);
        }
        Ok(())
    }

    /// Moves this connection to the client address `ip` (a proxied connection's, read from its
    /// request): counted against `ip`'s connection limit from now on, with `ip`'s event bucket
    /// and subscription count. No effect when `ip` is already its address.
    ///
    /// # Errors
    ///
    /// [`Limit::IpConnections`] when `ip` has [`Limits::max_connections_per_ip`] open; the permit
    /// is then unchanged.
    pub(crate) fn rekey(&mut self, ip: IpAddr) -> Result<(), Limit> {
        let key = ClientKey::of(ip);
        if key == self.key {
            return Ok(());
        }
        let addresses = self.addresses.clone();
        let address = {
            let mut entry = addresses
                .by_key
                .entry(key)
                .or_insert_with(|| addresses.entry());
            if entry.connections >= addresses.limits.max_connections_per_ip {
                return Err(Limit::IpConnections);
            }
            entry.connections += 1;
            entry.shared.clone()
        };
        let held = self.subscriptions.swap(0, Ordering::Relaxed);
        self.address.subscriptions.fetch_sub(held, Ordering::AcqRel);
        addresses.release(self.key);
        self.key = key;
        self.address = address;
        Ok(())
    }

    /// Counts one more subscription against the address.
    ///
    /// # Errors
    ///
    /// [`Limit::IpSubscriptions`] when the address holds [`Limits::max_subscriptions_per_ip`].
    pub(crate) fn open_subscription(&self) -> Result<(), Limit> {
        let max = self.addresses.limits.max_subscriptions_per_ip;
        self.address
            .subscriptions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| Limit::IpSubscriptions)?;
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Gives back one subscription counted by [`ConnectionPermit::open_subscription`].
    pub(crate) fn close_subscription(&self) {
        let held = self
            .subscriptions
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if held.is_ok() {
            self.address.subscriptions.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let held = self.subscriptions.swap(0, Ordering::Relaxed);
        self.address.subscriptions.fetch_sub(held, Ordering::AcqRel);
        self.addresses.close(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn tight() -> Limits {
        Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            max_subscriptions_per_ip: 3,
            events_per_sec: 1,
            events_burst: 2,
            ip_events_per_sec: 1,
            ip_events_burst: 3,
            ..Limits::default()
        }
    }

    #[test]
    fn only_limits_on_the_refused_clients_own_sending_rate_demote() {
        let demoting: Vec<Limit> = Limit::ALL.into_iter().filter(|l| l.demotes()).collect();
        assert_eq!(
            demoting,
            [
                Limit::ConnectionEvents,
                Limit::IpEvents,
                Limit::TenantRate,
                Limit::UnpairedRate,
                Limit::TenantQueue
            ]
        );
        // Each is refused `rate-limited:`, so the client that is demoted can tell why.
        for limit in demoting {
            assert!(limit.message().starts_with("rate-limited: "), "{limit:?}");
        }
    }

    #[test]
    fn addresses_are_keyed_by_ipv4_or_ipv6_slash_64() {
        assert_eq!(
            ClientKey::of(ip("::ffff:10.0.0.1")),
            ClientKey::of(ip("10.0.0.1"))
        );
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2:aaaa::1")),
            ClientKey::of(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2::9")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn the_real_ip_header_is_read_only_when_configured_and_valid() {
        let name = hyper::header::HeaderName::from_static("x-forwarded-for");
        let mut headers = hyper::HeaderMap::new();
        headers.insert(&name, "203.0.113.7, 198.51.100.2".parse().unwrap());
        let peer = ip("127.0.0.1");
        assert_eq!(client_ip(peer, None, &headers), peer, "not configured");
        assert_eq!(client_ip(peer, Some(&name), &headers), ip("198.51.100.2"));
        headers.insert(&name, "not an address".parse().unwrap());
        assert_eq!(client_ip(peer, Some(&name), &headers), peer, "garbage");
        assert_eq!(client_ip(peer, Some(&name), &hyper::HeaderMap::new()), peer);
    }

    #[test]
    fn connections_are_bounded_per_address_and_in_total_and_given_back_on_drop() {
        let addresses = Arc::new(Addresses::new(tight()));
        let a1 = addresses.open(ip("10.0.0.1")).unwrap();
        let a2 = addresses.open(ip("10.0.0.1")).unwrap();
        assert_eq!(
            addresses.open(ip("10.0.0.1")).unwrap_err(),
            Limit::IpConnections
        );
        let b1 = addresses.open(ip("10.0.0.2")).unwrap();
        assert_eq!(
            addresses.open(ip("10.0.0.3")).unwrap_err(),
            Limit::Connections
        );
        assert_eq!(addresses.connections(), 3);
        drop(a1);
        let a3 = addresses.open(ip("10.0.0.1")).unwrap();
        drop((a2, a3, b1));
        assert_eq!(addresses.connections(), 0);
    }

    #[test]
    fn subscriptions_are_bounded_per_address_and_released_by_a_closing_connection() {
        let addresses = Arc::new(Addresses::new(tight()));
        let a = addresses.open(ip("10.0.0.1")).unwrap();
        let b = addresses.open(ip("10.0.0.1")).unwrap();
        a.open_subscription().unwrap();
        a.open_subscription().unwrap();
        b.open_subscription().unwrap();
        assert_eq!(b.open_subscription(), Err(Limit::IpSubscriptions));
        b.close_subscription();
        b.close_subscription(); // holds none: no effect on the address's count
        b.open_subscription().unwrap();
        drop(a);
        b.open_subscription().unwrap();
        b.open_subscription().unwrap();
        assert_eq!(b.open_subscription(), Err(Limit::IpSubscriptions));
    }

    #[test]
    fn events_are_bounded_per_connection_then_per_address_and_zero_turns_a_bucket_off() {
        let addresses = Arc::new(Addresses::new(tight()));
        let a = addresses.open(ip("10.0.0.1")).unwrap();
        let b = addresses.open(ip("10.0.0.1")).unwrap();
        assert_eq!(a.admit_event(), Ok(()));
        assert_eq!(a.admit_event(), Ok(()));
        assert_eq!(a.admit_event(), Err(Limit::ConnectionEvents));
        assert_eq!(b.admit_event(), Ok(()), "the address's third token");
        assert_eq!(b.admit_event(), Err(Limit::IpEvents));
        drop((a, b));
        let again = addresses.open(ip("10.0.0.1")).unwrap();
        assert_eq!(
            again.admit_event(),
            Err(Limit::IpEvents),
            "reconnecting does not refill the address's bucket"
        );
        let open = Limits {
            events_per_sec: 0,
            ip_events_per_sec: 0,
            ..tight()
        };
        let unlimited = Arc::new(Addresses::new(open)).open(ip("10.0.0.1")).unwrap();
        assert!((0..1000).all(|_| unlimited.admit_event().is_ok()));
    }

    #[test]
    fn events_over_http_share_the_address_bucket_with_its_connections() {
        let addresses = Arc::new(Addresses::new(Limits {
            events_per_sec: 0,
            ..tight()
        }));
        let a = addresses.open(ip("10.0.0.1")).unwrap();
        assert_eq!(a.admit_event(), Ok(()));
        assert_eq!(addresses.admit_event(ip("10.0.0.1")), Ok(()));
        assert_eq!(addresses.admit_event(ip("10.0.0.1")), Ok(()));
        assert_eq!(
            addresses.admit_event(ip("10.0.0.1")),
            Err(Limit::IpEvents),
            "the address's burst of 3, shared"
        );
        assert_eq!(a.admit_event(), Err(Limit::IpEvents));
        assert_eq!(
            addresses.admit_event(ip("10.0.0.2")),
            Ok(()),
            "another address"
        );
        drop(a);
        // An address seen only over HTTP is kept until its bucket refills, then swept.
        addresses.sweep();
        assert_eq!(addresses.by_key.len(), 2);
        let off = Arc::new(Addresses::new(Limits {
            ip_events_per_sec: 0,
            ..tight()
        }));
        assert!((0..100).all(|_| off.admit_event(ip("10.0.0.1")).is_ok()));
        assert_eq!(off.by_key.len(), 0, "no bucket, nothing kept");
    }

    #[test]
    fn sweep_keeps_addresses_with_connections_or_an_unfilled_bucket() {
        let addresses = Arc::new(Addresses::new(tight()));
        let kept = addresses.open(ip("10.0.0.1")).unwrap();
        drop(addresses.open(ip("10.0.0.2")).unwrap());
        addresses.sweep();
        assert_eq!(
            addresses.by_key.len(),
            2,
            "10.0.0.2's bucket refills in 3 s"
        );
        let no_rate = Arc::new(Addresses::new(Limits {
            ip_events_per_sec: 0,
            ..tight()
        }));
        drop(no_rate.open(ip("10.0.0.2")).unwrap());
        no_rate.sweep();
        assert_eq!(no_rate.by_key.len(), 0);
        drop(kept);
    }

    #[test]
    fn every_limit_has_a_distinct_label() {
        let labels: std::collections::HashSet<_> = Limit::ALL.iter().map(|l| l.label()).collect();
        assert_eq!(labels.len(), Limit::ALL.len());
    }
}
