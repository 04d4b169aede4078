//! Fan-out: delivers the signer's response events to matching subscriptions, and keeps them for a
//! short window so a client that reconnects and re-subscribes still gets them.
//!
//! Subscriptions are indexed by the recipient pubkeys their filters name in `#p`, so delivering an
//! event touches only the subscriptions keyed by its `p` tags — never a scan of all connections.
//! Filters without `#p` receive nothing (so nobody can watch whom a signer talks to).
//! Retained events are indexed the same way, at most [`RETAINED_PER_KEY`] per key and
//! [`RETAINED_TOTAL`] in all, for [`RETENTION_SECS`].
//!
//! Called from signer threads (the signer pool's outbox) and from connection tasks; all operations
//! are short and non-blocking (DashMap shards, `try_send`).

use crate::filter::Filter;
use crate::message;
use crate::outbox::Outbox;
use dashmap::DashMap;
use event::Event;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// How long response events are kept for late subscribers, seconds.
pub const RETENTION_SECS: u64 = 60;

/// Most retained events per pubkey; older ones are dropped first.
pub const RETAINED_PER_KEY: usize = 64;

/// Most retained events in all (≈1 KiB each). Past it, new responses are delivered live but not
/// retained until the sweep frees room: memory stays bounded whatever clients do.
pub const RETAINED_TOTAL: usize = 100_000;

/// Most bytes of retained events (their JSON) in all: 64 MiB. A reply is at most ≈ 88 KiB of
/// event (its plaintext is capped at 65,535 bytes), so large replies cannot stretch
/// [`RETAINED_TOTAL`] to gigabytes; past it, as past the count, responses are delivered live but
/// not retained.
pub const RETAINED_BYTES: usize = 64 << 20;

/// What the writer task of a connection sends.
#[derive(Debug)]
pub enum Outbound {
    /// A text frame (a NIP-01 relay message) small by construction (`OK`, `EOSE`, `NOTICE`, …).
    Text(String),
    /// An `EVENT` message, its bytes charged to the connection's budget until it is written
    /// ([`crate::outbox`]).
    Event(String, crate::outbox::Charge),
    /// A text frame (a request's `OK`) whose guard the writer drops once the frame is written: the
    /// signer thread that handed it over may be waiting for that.
    Tracked(String, crate::dispatch::WriteGuard),
    /// A pong answering a ping, with its payload.
    Pong(Vec<u8>),
    /// A ping (empty payload) to a client that has sent nothing for a while.
    Ping,
    /// A close frame: code and reason; the writer stops after it.
    Close(u16, &'static str),
    /// Echo of a peer's close frame payload; the writer stops after it.
    CloseEcho(Vec<u8>),
    /// The connection moves to another I/O thread: the writer writes everything queued before this,
    /// then stops and hands its write half and its queue (with whatever follows this) back.
    Handover,
}

/// What a connection's writer queue holds: one [`Outbound`] each, boxed so that the queue's
/// storage (allocated in blocks of 32 slots, one block kept while the connection lives) costs an
/// idle connection 256 bytes rather than 32 × the enum's size.
pub type Queued = Box<Outbound>;

/// Connection identifier, unique per process.
pub type ConnId = u64;

struct SubEntry {
    conn: ConnId,
    sub_id: Arc<str>,
    filters: Arc<[Filter]>,
    outbox: Outbox,
}

struct Retained {
    at: u64,
    event: Arc<Event>,
    json: Arc<str>,
}

/// The subscription index and the retention window.
pub struct Hub {
    subs: DashMap<[u8; 32], Vec<SubEntry>>,
    retained: DashMap<[u8; 32], VecDeque<Retained>>,
    retained_count: AtomicUsize,
    retained_bytes: AtomicUsize,
    dropped: AtomicU64,
    /// Outbound bytes charged over every connection delivered to ([`crate::outbox`]).
    outbound: Arc<crate::outbox::Total>,
    /// The other nodes of a cluster, once joined ([`Hub::join`]).
    peers: std::sync::OnceLock<Arc<dyn Peers>>,
}

/// The other nodes of a cluster, as the hub sees them: every event [`Hub::publish`] delivers is
/// forwarded, so that the node holding the client's subscription (or the one it reconnects to)
/// delivers and retains it too ([`Hub::publish_from_peer`] on that side).
pub trait Peers: Send + Sync {
    /// Hands `json` (one event, NIP-01 JSON) to the other nodes. Called on the publishing
    /// thread, before [`Hub::publish`] returns; must not block a tokio reactor thread.
    fn forward(&self, json: &str);
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("keys", &self.subs.len())
            .field("retained_keys", &self.retained.len())
            .finish()
    }
}

/// The recipient pubkeys a subscription is indexed under (its filters' `#p` values).
pub(crate) fn keys_of(filters: &[Filter]) -> Vec<[u8; 32]> {
    let mut keys: Vec<[u8; 32]> = filters
        .iter()
        .flat_map(|f| f.p_tags.iter().flatten().copied())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The recipient pubkeys an event is delivered under: its `p` tags.
fn keys_of_event(event: &Event) -> Vec<[u8; 32]> {
    let mut keys = Vec::with_capacity(1);
    for tag in &event.tags {
        if tag.first().is_some_and(|n| n == "p") {
            if let Some(pk) = tag.get(1).and_then(|v| crate::filter::hex32(v)) {
                keys.push(pk);
            }
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(0)
    }
}

impl Hub {
    /// An empty hub whose connections may hold `outbound_bytes_total` bytes of outbound messages
    /// and requests in flight, together (0: unbounded; [`crate::outbox`]).
    pub fn new(outbound_bytes_total: usize) -> Self {
        Hub {
            subs: DashMap::new(),
            retained: DashMap::new(),
            retained_count: AtomicUsize::new(0),
            retained_bytes: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            outbound: crate::outbox::Total::new(outbound_bytes_total),
            peers: std::sync::OnceLock::new(),
        }
    }

    /// Forwards every event published from now on to `peers`. Only the first call counts.
    pub fn join(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// The connections' outbound total.
    pub(crate) fn outbound(&self) -> &Arc<crate::outbox::Total> {
        &self.outbound
    }

    /// Bytes charged to connections' outbound budgets now, over all connections.
    pub fn outbound_bytes(&self) -> usize {
        self.outbound.queued()
    }

    /// Registers a subscription and returns the retained events it matches, newest first, cut to
    /// the largest `limit` among its filters (all `limit: 0` → none), as ready-to-send `EVENT` messages.
    pub fn subscribe(
        &self,
        conn: ConnId,
        sub_id: &str,
        filters: Arc<[Filter]>,
        outbox: &Outbox,
        now: u64,
    ) -> Vec<String> {
        let sub_id: Arc<str> = sub_id.into();
        for key in keys_of(&filters) {
            // A key's first subscriber gets a list of exactly one: most keys (a client's own
            // key) have one subscriber, and every idle connection holds such a list.
            let mut entry = self
                .subs
                .entry(key)
                .or_insert_with(|| Vec::with_capacity(1));
            entry.push(SubEntry {
                conn,
                sub_id: sub_id.clone(),
                filters: filters.clone(),
                outbox: outbox.clone(),
            });
        }
        self.stored(&filters, now)
            .into_iter()
            .map(|json| message::event(&sub_id, &json))
            .collect()
    }

    fn stored(&self, filters: &[Filter], now: u64) -> Vec<Arc<str>> {
        let limit = filters
            .iter()
            .map(|f| f.limit.unwrap_or(u64::MAX))
            .max()
            .unwrap_or(0);
        if limit == 0 {
            return Vec::new();
        }
        let mut found: Vec<(u64, [u8; 32], Arc<str>)> = Vec::new();
        for key in keys_of(filters) {
            let Some(list) = self.retained.get(&key) else {
                continue;
            };
            for r in list
                .iter()
                .filter(|r| now.saturating_sub(r.at) <= RETENTION_SECS)
            {
                if filters.iter().any(|f| f.matches(&r.event)) {
                    found.push((r.event.created_at, r.event.id, r.json.clone()));
                }
            }
        }
        // Newest first, ties by lowest id (NIP-01); the same event may sit under two keys.
        found.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        found.dedup_by(|a, b| a.1 == b.1);
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        found.into_iter().map(|(_, _, json)| json).collect()
    }

    /// Removes a subscription of `conn` (its `filters` say where it is indexed).
    pub fn unsubscribe(&self, conn: ConnId, sub_id: &str, filters: &[Filter]) {
        for key in keys_of(filters) {
            if let dashmap::Entry::Occupied(mut e) = self.subs.entry(key) {
                e.get_mut()
                    .retain(|s| !(s.conn == conn && &*s.sub_id == sub_id));
                if e.get().is_empty() {
                    e.remove();
                }
            }
        }
    }

    /// Retains `event` and sends it to every matching subscription. `now` is unix seconds.
    ///
    /// Messages are built under the index guard but sent after it is released, and each
    /// (connection, subscription) gets the event once even when it is indexed under several keys.
    ///
    /// In a cluster ([`Hub::join`]) the event is then forwarded to the other nodes, before this
    /// returns (and so before the request is acknowledged); a subscriber here does not wait for
    /// the bus.
    pub fn publish(&self, event: Event, now: u64) {
        let json: Arc<str> = event.to_json().into();
        self.deliver(event, json.clone(), now);
        if let Some(peers) = self.peers.get() {
            peers.forward(&json);
        }
    }

    /// [`Hub::publish`] for an event another node published (and forwarded): delivered and
    /// retained here, not forwarded again.
    pub fn publish_from_peer(&self, event: Event, now: u64) {
        let json: Arc<str> = event.to_json().into();
        self.deliver(event, json, now);
    }

    fn deliver(&self, event: Event, json: Arc<str>, now: u64) {
        let event = Arc::new(event);
        let mut seen: HashSet<(ConnId, Arc<str>)> = HashSet::new();
        let mut outgoing: Vec<(Outbox, String)> = Vec::new();
        for key in keys_of_event(&event) {
            self.retain(key, &event, &json, now);
            let Some(entries) = self.subs.get(&key) else {
                continue;
            };
            for s in entries.iter() {
                if s.filters.iter().any(|f| f.matches(&event))
                    && seen.insert((s.conn, s.sub_id.clone()))
                {
                    outgoing.push((s.outbox.clone(), message::event(&s.sub_id, &json)));
                }
            }
        }
        for (outbox, text) in outgoing {
            if !outbox.try_deliver(text) {
                // The connection is not reading (or gone), or holds its share of memory already;
                // waiting would stall the signer threads.
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn retain(&self, key: [u8; 32], event: &Arc<Event>, json: &Arc<str>, now: u64) {
        let mut list = self.retained.entry(key).or_default();
        while list
            .front()
            .is_some_and(|r| now.saturating_sub(r.at) > RETENTION_SECS)
            || list.len() >= RETAINED_PER_KEY
        {
            if let Some(old) = list.pop_front() {
                self.retained_count.fetch_sub(1, Ordering::Relaxed);
                self.retained_bytes
                    .fetch_sub(old.json.len(), Ordering::Relaxed);
            }
        }
        if self.retained_count.load(Ordering::Relaxed) >= RETAINED_TOTAL
            || self.retained_bytes.load(Ordering::Relaxed) + json.len() > RETAINED_BYTES
        {
            return;
        }
        self.retained_count.fetch_add(1, Ordering::Relaxed);
        self.retained_bytes.fetch_add(json.len(), Ordering::Relaxed);
        list.push_back(Retained {
            at: now,
            event: event.clone(),
            json: json.clone(),
        });
    }

    /// Drops retained events older than the window (run periodically, off the reactor: see
    /// `server::sweep`). Returns how many were dropped.
    ///
    /// Expired events are only unlinked while a shard is locked; they are freed after every lock is
    /// released, so publishing never waits on the deallocation of a large batch.
    pub fn sweep(&self, now: u64) -> usize {
        let mut expired: Vec<Retained> = Vec::new();
        self.retained.retain(|_, list| {
            // Events are appended in time order, so the expired ones are at the front.
            while list
                .front()
                .is_some_and(|r| now.saturating_sub(r.at) > RETENTION_SECS)
            {
                expired.extend(list.pop_front());
            }
            !list.is_empty()
        });
        self.retained_count
            .fetch_sub(expired.len(), Ordering::Relaxed);
        let bytes = expired.iter().map(|r| r.json.len()).sum();
        self.retained_bytes.fetch_sub(bytes, Ordering::Relaxed);
        expired.len()
    }

    /// Bytes of retained events now (their JSON).
    pub fn retained_bytes(&self) -> usize {
        self.retained_bytes.load(Ordering::Relaxed)
    }

    /// Messages that could not be queued to a subscriber because its connection was not reading.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::hex32;
    use tokio::sync::mpsc;

    /// A valid x-only pubkey (secp256k1's generator): `Event::from_json` checks shapes, not ids
    /// or signatures, and neither does the hub.
    const AUTHOR: &str = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

    fn event_to(recipient: &str, n: u64) -> Event {
        let json = serde_json::json!({
            "id": format!("{n:064x}"), "pubkey": AUTHOR, "created_at": 1_700_000_000 + n,
            "kind": 24133, "tags": [["p", recipient]], "content": "x", "sig": "0".repeat(128),
        });
        Event::from_json(&json.to_string()).unwrap()
    }

    #[test]
    fn a_subscriber_not_reading_misses_live_events_which_are_counted_and_still_retained() {
        let hub = Hub::default();
        let now = 1_700_000_010;
        let recipient = "ab".repeat(32);
        let filter = |limit| Filter {
            p_tags: Some(vec![hex32(&recipient).unwrap()]),
            limit,
            ..Filter::default()
        };
        // A connection queue with room for one message, never read.
        let (tx, mut rx) = mpsc::channel(1);
        let total = crate::outbox::Total::new(0);
        let outbox = Outbox {
            tx,
            budget: crate::outbox::Budget::new(0, total.clone()),
        };
        let stored = hub.subscribe(1, "live", Arc::from([filter(Some(0))]), &outbox, now);
        assert!(stored.is_empty());
        hub.publish(event_to(&recipient, 1), now);
        hub.publish(event_to(&recipient, 2), now);
        assert_eq!(hub.dropped(), 1);
        let Ok(Outbound::Event(first, _)) = rx.try_recv().map(|m| *m) else {
            panic!("the first event is queued")
        };
        assert!(first.contains(&format!("{:064x}", 1)), "{first}");
        assert!(rx.try_recv().is_err(), "the second was not queued");

        // Both are retained: a later REQ gets them, newest first.
        let (tx, _rx) = mpsc::channel(8);
        let outbox = Outbox {
            tx,
            budget: crate::outbox::Budget::new(0, total),
        };
        let stored = hub.subscribe(2, "again", Arc::from([filter(None)]), &outbox, now);
        assert_eq!(stored.len(), 2);
        assert!(stored[0].contains(&format!("{:064x}", 2)), "{stored:?}");
    }

    #[test]
    fn deliveries_are_bounded_by_the_connections_bytes_and_retention_by_total_bytes() {
        let hub = Hub::default();
        let now = 1_700_000_010;
        let recipient = "cd".repeat(32);
        let filter = Filter {
            p_tags: Some(vec![hex32(&recipient).unwrap()]),
            limit: Some(0),
            ..Filter::default()
        };
        let one = message::event("b", &event_to(&recipient, 1).to_json()).len();
        // Room for one message's bytes and a half, in a queue with room for many.
        let (tx, mut rx) = mpsc::channel(64);
        let total = crate::outbox::Total::new(0);
        let budget = crate::outbox::Budget::new(one * 3 / 2, total.clone());
        let outbox = Outbox { tx, budget };
        hub.subscribe(1, "b", Arc::from([filter]), &outbox, now);
        hub.publish(event_to(&recipient, 1), now);
        hub.publish(event_to(&recipient, 2), now);
        assert_eq!(
            hub.dropped(),
            1,
            "the second does not fit the connection's bytes"
        );
        assert_eq!(total.queued(), one);
        // Written (the writer drops the message and its charge): room again.
        drop(rx.try_recv().unwrap());
        assert_eq!(total.queued(), 0);
        hub.publish(event_to(&recipient, 3), now);
        assert_eq!(hub.dropped(), 1);
        assert!(matches!(rx.try_recv().map(|m| *m), Ok(Outbound::Event(..))));
        let json = event_to(&recipient, 1).to_json().len();
        assert_eq!(hub.retained_bytes(), 3 * json);
        assert_eq!(hub.sweep(now + RETENTION_SECS + 1), 3);
        assert_eq!(hub.retained_bytes(), 0);
    }
}
