//! The cluster bus: how nodes that share one PostgreSQL database (`store`) keep in step through
//! one NATS server (`cluster_bus`).
//!
//! Three subjects of core NATS (at most once, nothing kept: what must survive is in the database):
//! - [`CHANGES_SUBJECT`]: a [`Change`] (JSON) after each write of a record nodes hold in memory
//!   (`signer::cluster`). Each node mirrors the changes it hears from the store, one at a time, in
//!   the order heard.
//! - [`EVENTS_SUBJECT`]: every response event a node publishes (NIP-01 JSON), so that the node
//!   holding the client's subscription delivers it, and every node retains it for a client that
//!   reconnects elsewhere.
//! - [`NODES_SUBJECT`]: each node's id every [`HEARTBEAT`]; a node counts the others it heard
//!   within [`NODE_TIMEOUT`] and shares every tenant's rate limit among them all.
//!
//! A node hears none of its own messages (`no_echo`). A response is handed to the bus connection
//! (written to its socket) before the request is acknowledged with `OK true`, when the signer
//! thread that made it can wait ([`HAND_OVER_WAIT`] at most).
//!
//! A node that may have missed a change refuses requests (`signer::Bunker::set_in_step`) and
//! `/readyz` answers 503, so the load balancer sends new clients elsewhere, until it has reloaded
//! tenants, routes, sessions and tokens from the store. It knows it may have missed one:
//! - when it loses the bus: the client pings the server every [`PING_INTERVAL`], and a silent link
//!   is declared lost when a third ping finds two unanswered (about 3 s);
//! - when a change is missing: each node numbers its changes ([`SEQUENCE_HEADER`], from 1, with
//!   its id in [`NODE_HEADER`]) and every [`HEARTBEAT`] sends, on the changes subject, a beat (no
//!   payload) with the number of its last change; a number that skips one, or a beat ahead of the
//!   last change heard, reveals a change lost on the way (a full queue, a failed publish, a
//!   message the NATS client dropped because this node was a slow consumer), within a heartbeat
//!   of the loss.
//!
//! At shutdown, what is queued after the signer pool drained and the connections closed is
//! written, with a last beat, before the node stops ([`Bus::close`]).

use crate::config::BusAuth;
use async_nats::{Client, ConnectOptions, Event as BusEvent};
use futures_util::StreamExt as _;
use relay::fanout::{Hub, Peers};
use signer::admin::AdminTokens;
use signer::cluster::{Broadcast, Change};
use signer::Bunker;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Subject of [`Change`]s.
pub(crate) const CHANGES_SUBJECT: &str = "bunkerd.changes";
/// Subject of response events.
pub(crate) const EVENTS_SUBJECT: &str = "bunkerd.events";
/// Subject of heartbeats (a node id, 32 hex characters).
pub(crate) const NODES_SUBJECT: &str = "bunkerd.nodes";
/// Header of a change or beat: the sending node's id (32 hex characters, new at each start).
pub(crate) const NODE_HEADER: &str = "Bunkerd-Node";
/// Header of a change or beat: the number of the node's change (decimal; a beat repeats its last).
pub(crate) const SEQUENCE_HEADER: &str = "Bunkerd-Seq";
/// Longest [`Bus::close`] waits for the queued messages to be written.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Nodes whose change numbers are remembered, at most (each start of a node is a new id); past
/// it the one heard from longest ago is forgotten.
const NODES_REMEMBERED: usize = 4_096;
/// How often a node says it is alive.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a node counts another after its last heartbeat.
pub(crate) const NODE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the bus connection is pinged; two unanswered pings end it.
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(1);
/// Longest a signer thread waits for its response to be written to the bus.
pub(crate) const HAND_OVER_WAIT: Duration = Duration::from_millis(250);
/// Longest the first connection to the bus may take at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages waiting to be written to the bus, at most; past it they are dropped and counted.
const QUEUE: usize = 65_536;
/// Bytes of payload waiting to be written to the bus, at most; past it messages are dropped
/// and counted.
const QUEUE_BYTES: usize = 64 << 20;
/// How often claims of requests too old to be admitted again are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Pause before a failed reload is tried again.
const RELOAD_RETRY: Duration = Duration::from_secs(1);

/// What the writer task is given.
enum Outgoing {
    /// A message; `written` is told once it is written to the connection.
    Message {
        subject: &'static str,
        headers: Option<async_nats::HeaderMap>,
        payload: Vec<u8>,
        written: Option<std::sync::mpsc::SyncSender<()>>,
    },
    /// Flush everything queued before, say so, and stop.
    Close(tokio::sync::oneshot::Sender<()>),
}

/// This node's side of the bus: what the signer ([`Broadcast`]) and the fan-out ([`Peers`])
/// send through.
pub(crate) struct Bus {
    queue: mpsc::Sender<Outgoing>,
    /// Payload bytes in `queue` ([`QUEUE_BYTES`] at most).
    queued_bytes: Arc<AtomicUsize>,
    /// This node's id on the bus (32 hex characters).
    id: String,
    /// The number of the last change queued; held while a change or beat is queued, so numbers
    /// go out in order.
    sequence: std::sync::Mutex<u64>,
    /// Messages dropped because the queue was full.
    dropped: AtomicU64,
    /// Messages from the bus the NATS client dropped because this node did not take them fast
    /// enough (a slow consumer).
    missed: Arc<AtomicU64>,
    /// Reloads done after this node may have missed a change.
    reloads: AtomicU64,
    /// Nodes alive, this one included.
    nodes: tokio::sync::watch::Sender<u32>,
}

impl Bus {
    /// Messages dropped since start: for the bus because the queue to it was full, and from it
    /// because this node did not take them fast enough.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed) + self.missed.load(Ordering::Relaxed)
    }

    /// Reloads from the store after this node may have missed a change, since start (the one
    /// at join not counted).
    pub(crate) fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// The nodes alive (this one included), updated as heartbeats come and go.
    pub(crate) fn nodes(&self) -> tokio::sync::watch::Receiver<u32> {
        self.nodes.subscribe()
    }

    /// Writes what is queued and stops the writer: for the end of a graceful shutdown, after the
    /// signer pool drained. Waits at most [`CLOSE_WAIT`].
    pub(crate) async fn close(&self) {
        // The others see a change lost at the very end too.
        self.beat();
        let (done, written) = tokio::sync::oneshot::channel();
        let closed = async {
            if self.queue.send(Outgoing::Close(done)).await.is_ok() {
                let _ = written.await;
            }
        };
        if tokio::time::timeout(CLOSE_WAIT, closed).await.is_err() {
            tracing::warn!("messages to the cluster bus were not all written before the stop");
        }
    }

    /// Queues `payload` for `subject`. On a thread outside the tokio runtime (a signer thread),
    /// returns what to wait on until it is written ([`wait_written`]).
    fn enqueue(
        &self,
        subject: &'static str,
        headers: Option<async_nats::HeaderMap>,
        payload: Vec<u8>,
    ) -> Option<std::sync::mpsc::Receiver<()>> {
        let wait = tokio::runtime::Handle::try_current().is_err();
        let (written, done) = if wait {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let size = payload.len();
        let before = self.queued_bytes.fetch_add(size, Ordering::AcqRel);
        // `Some(true)`: the queue is full; `Some(false)`: the writer stopped with the server.
        let refused = if before + size > QUEUE_BYTES {
            Some(true)
        } else {
            let message = Outgoing::Message {
                subject,
                headers,
                payload,
                written,
            };
            match self.queue.try_send(message) {
                Ok(()) => None,
                Err(e) => Some(matches!(e, mpsc::error::TrySendError::Full(_))),
            }
        };
        let Some(full) = refused else {
            return done;
        };
        self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
        if full {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                subject,
                "the cluster bus queue is full; a message was dropped"
            );
        }
        None
    }

    /// Headers naming this node and change `sequence`.
    fn numbered(&self, sequence: u64) -> async_nats::HeaderMap {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(NODE_HEADER, self.id.as_str());
        headers.insert(SEQUENCE_HEADER, sequence.to_string());
        headers
    }

    /// Queues a beat: the number of the last change, so that the others see one lost.
    fn beat(&self) {
        let sequence = self.sequence.lock().unwrap_or_else(|e| e.into_inner());
        self.enqueue(CHANGES_SUBJECT, Some(self.numbered(*sequence)), Vec::new());
    }
}

/// Waits until a queued message is written, at most [`HAND_OVER_WAIT`].
fn wait_written(done: Option<std::sync::mpsc::Receiver<()>>) {
    if let Some(done) = done {
        let _ = done.recv_timeout(HAND_OVER_WAIT);
    }
}

impl Peers for Bus {
    fn forward(&self, json: &str) {
        wait_written(self.enqueue(EVENTS_SUBJECT, None, json.as_bytes().to_vec()));
    }
}

impl Broadcast for Bus {
    fn send(&self, change: &Change) {
        let payload = serde_json::to_vec(change).expect("changes serialize");
        let done = {
            let mut sequence = self.sequence.lock().unwrap_or_else(|e| e.into_inner());
            *sequence += 1;
            self.enqueue(CHANGES_SUBJECT, Some(self.numbered(*sequence)), payload)
        };
        wait_written(done);
    }
}

/// Connects to the bus at `url`, subscribes, joins `bunker`, `tokens` and `hub` to it, reloads
/// what changed before the subscriptions began, and starts the tasks that keep this node in
/// step (until `shutdown`).
///
/// # Errors
///
/// [`crate::Error::Bus`] when the server cannot be reached within 5 s or refuses the
/// subscriptions (the text names the server, never its credentials); [`crate::Error::Signer`]
/// when the reload fails.
pub(crate) async fn join(
    url: &crate::config::BusUrl,
    bunker: Arc<Bunker>,
    tokens: Arc<AdminTokens>,
    hub: Arc<Hub>,
    claims_kept_secs: u64,
    shutdown: CancellationToken,
) -> Result<Arc<Bus>, crate::Error> {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let missed = Arc::new(AtomicU64::new(0));
    let missed_in = missed.clone();
    let (address, auth) = url.parts().map_err(|e| crate::Error::Bus(e.to_string()))?;
    let options = match auth {
        BusAuth::None => ConnectOptions::new(),
        BusAuth::Token(token) => ConnectOptions::with_token(token.to_string()),
        BusAuth::UserPassword(user, password) => {
            ConnectOptions::with_user_and_password(user, password.to_string())
        }
    };
    let client = options
        .name("bunkerd")
        .no_echo()
        .ping_interval(PING_INTERVAL)
        .connection_timeout(CONNECT_TIMEOUT)
        .event_callback(move |event| {
            let (events_tx, missed) = (events_tx.clone(), missed_in.clone());
            async move {
                // One event per message dropped: counted, not queued. A change among them shows
                // as a gap in its sender's numbers ([`Heard`]), which reloads.
                if let BusEvent::SlowConsumer(_) = event {
                    missed.fetch_add(1, Ordering::Relaxed);
                } else {
                    let _ = events_tx.send(event);
                }
            }
        })
        .connect(address)
        .await
        .map_err(|e| crate::Error::Bus(format!("cannot reach {}: {e}", url.redacted())))?;
    let subscribe_error =
        |e: async_nats::SubscribeError| crate::Error::Bus(format!("cannot subscribe: {e}"));
    let changes = client
        .subscribe(CHANGES_SUBJECT)
        .await
        .map_err(subscribe_error)?;
    let events = client
        .subscribe(EVENTS_SUBJECT)
        .await
        .map_err(subscribe_error)?;
    let heartbeats = client
        .subscribe(NODES_SUBJECT)
        .await
        .map_err(subscribe_error)?;
    // Changes written between this node's load and its subscription were not heard.
    let (b, t) = (bunker.clone(), tokens.clone());
    tokio::task::spawn_blocking(move || reload(&b, &t))
        .await
        .expect("reloading does not panic")?;
    let (queue, outgoing) = mpsc::channel(QUEUE);
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("OS random source failed");
    let bus = Arc::new(Bus {
        queue,
        queued_bytes: queued_bytes.clone(),
        id: hex::encode(id),
        sequence: std::sync::Mutex::new(0),
        dropped: AtomicU64::new(0),
        missed,
        reloads: AtomicU64::new(0),
        nodes: tokio::sync::watch::Sender::new(1),
    });
    bunker.join_cluster(bus.clone());
    tokens.join_cluster(bus.clone());
    hub.join(bus.clone());
    // Not stopped by `shutdown`: what the draining pool sends is written until `Bus::close`.
    tokio::spawn(write(client.clone(), outgoing, queued_bytes));
    tokio::spawn(deliver(events, hub, shutdown.clone()));
    tokio::spawn(keep_in_step(
        changes,
        events_rx,
        bunker.clone(),
        tokens,
        bus.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(prune_claims(bunker, claims_kept_secs, shutdown.clone()));
    tokio::spawn(count_nodes(client, heartbeats, bus.clone(), shutdown));
    tracing::info!(bus = %url.redacted(), "joined the cluster");
    Ok(bus)
}

/// Says every [`HEARTBEAT`] that this node is alive (and beats the number of its last change,
/// [`Bus::beat`]), and counts the nodes heard within
/// [`NODE_TIMEOUT`] (this one included) into `bus.nodes`.
async fn count_nodes(
    client: Client,
    mut heartbeats: async_nats::Subscriber,
    bus: Arc<Bus>,
    shutdown: CancellationToken,
) {
    let id = bus.id.clone();
    let mut seen: std::collections::HashMap<String, tokio::time::Instant> = Default::default();
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = client.publish(NODES_SUBJECT, id.clone().into()).await {
                    tracing::warn!(error = %e, "cannot publish a heartbeat on the cluster bus");
                }
                bus.beat();
            }
            heartbeat = heartbeats.next() => {
                let Some(heartbeat) = heartbeat else { return };
                // Ids are 32 hex characters; anything else is not a node's.
                match std::str::from_utf8(&heartbeat.payload) {
                    Ok(other) if other.len() == 32 && other != id => {
                        seen.insert(other.to_owned(), tokio::time::Instant::now());
                    }
                    _ => continue,
                }
            }
        }
        seen.retain(|_, at| at.elapsed() < NODE_TIMEOUT);
        let nodes = u32::try_from(seen.len() + 1).unwrap_or(u32::MAX);
        bus.nodes
            .send_if_modified(|count| std::mem::replace(count, nodes) != nodes);
    }
}

/// Reloads what a node keeps in memory from the store (blocking).
fn reload(bunker: &Bunker, tokens: &AdminTokens) -> Result<(), signer::Error> {
    bunker.reload()?;
    tokens.reload()
}

/// Writes queued messages to the bus, a batch at a time; flushes a batch that someone waits
/// for, then tells them. Ends at [`Outgoing::Close`] (after flushing) or when every sender is gone.
async fn write(
    client: Client,
    mut outgoing: mpsc::Receiver<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
) {
    let mut batch = Vec::with_capacity(256);
    let mut waiting = Vec::new();
    let mut closing = None;
    while closing.is_none() {
        if outgoing.recv_many(&mut batch, 256).await == 0 {
            return;
        }
        for message in batch.drain(..) {
            let (subject, headers, payload, written) = match message {
                Outgoing::Message {
                    subject,
                    headers,
                    payload,
                    written,
                } => (subject, headers, payload, written),
                Outgoing::Close(done) => {
                    closing = Some(done);
                    continue;
                }
            };
            queued_bytes.fetch_sub(payload.len(), Ordering::AcqRel);
            let published = match headers {
                Some(headers) => {
                    client
                        .publish_with_headers(subject, headers, payload.into())
                        .await
                }
                None => client.publish(subject, payload.into()).await,
            };
            if let Err(e) = published {
                // A lost change shows as a gap in this node's numbers to the others.
                tracing::warn!(error = %e, subject, "cannot publish on the cluster bus");
            }
            waiting.extend(written);
        }
        if !waiting.is_empty() || closing.is_some() {
            if let Err(e) = client.flush().await {
                tracing::warn!(error = %e, "cannot flush the cluster bus");
            }
            for written in waiting.drain(..) {
                let _ = written.try_send(());
            }
        }
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Delivers the response events other nodes publish to this node's subscriptions, and retains
/// them.
async fn deliver(mut events: async_nats::Subscriber, hub: Arc<Hub>, shutdown: CancellationToken) {
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            message = events.next() => message,
        };
        let Some(message) = message else { return };
        let event = std::str::from_utf8(&message.payload)
            .ok()
            .and_then(|json| event::Event::from_json(json).ok());
        match event {
            Some(event) => hub.publish_from_peer(event, relay::dispatch::unix_now()),
            None => tracing::warn!("an undecodable event on the cluster bus was ignored"),
        }
    }
}

/// The number of the last change heard from each other node ([`SEQUENCE_HEADER`]), to see one
/// lost.
#[derive(Default)]
struct Heard(std::collections::HashMap<String, (u64, tokio::time::Instant)>);

impl Heard {
    /// Records change `sequence` of `node` (a `beat` repeats its last number) heard at `now`;
    /// `false` when a change of `node` before this one was never heard. The first number heard
    /// from a node is taken as it comes: what it changed before, the join's reload read.
    fn hear(&mut self, node: &str, sequence: u64, beat: bool, now: tokio::time::Instant) -> bool {
        let Some((last, at)) = self.0.get_mut(node) else {
            if self.0.len() >= NODES_REMEMBERED {
                let oldest = self.0.iter().min_by_key(|(_, (_, at))| *at);
                if let Some(oldest) = oldest.map(|(id, _)| id.clone()) {
                    self.0.remove(&oldest);
                }
            }
            self.0.insert(node.to_owned(), (sequence, now));
            return true;
        };
        let expected = if beat { *last } else { *last + 1 };
        *last = (*last).max(sequence);
        *at = now;
        sequence <= expected
    }
}

/// The sending node and change number of a message on the changes subject, if it has them.
fn numbered(message: &async_nats::Message) -> Option<(&str, u64)> {
    let headers = message.headers.as_ref()?;
    let node = headers.get(NODE_HEADER)?.as_str();
    let sequence = headers.get(SEQUENCE_HEADER)?.as_str().parse().ok()?;
    Some((node, sequence))
}

/// Mirrors every change heard, one at a time; marks the node out of step when it may have missed
/// one (the bus dropped, the NATS client dropped messages, a change number skipped, a mirror
/// failed) and back in step after a reload once it is connected.
async fn keep_in_step(
    mut changes: async_nats::Subscriber,
    mut bus_events: mpsc::UnboundedReceiver<BusEvent>,
    bunker: Arc<Bunker>,
    tokens: Arc<AdminTokens>,
    bus: Arc<Bus>,
    shutdown: CancellationToken,
) {
    let mut needs_reload = false;
    let mut connected = true;
    let mut heard = Heard::default();
    loop {
        let retry = async {
            if needs_reload && connected {
                tokio::time::sleep(RELOAD_RETRY).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let lost = tokio::select! {
            () = shutdown.cancelled() => return,
            event = bus_events.recv() => match event {
                Some(BusEvent::Disconnected) => {
                    tracing::warn!("lost the cluster bus; refusing requests until back in step");
                    bunker.set_in_step(false);
                    (connected, needs_reload) = (false, true);
                    // The reload once connected covers whatever was missed meanwhile.
                    heard = Heard::default();
                    false
                }
                Some(BusEvent::Connected) => {
                    connected = true;
                    needs_reload
                }
                Some(other) => {
                    tracing::info!(event = %other, "cluster bus");
                    false
                }
                None => return,
            },
            () = retry => true,
            message = changes.next() => {
                let Some(message) = message else { return };
                let beat = message.payload.is_empty();
                let in_order = numbered(&message).is_none_or(|(node, sequence)| {
                    heard.hear(node, sequence, beat, tokio::time::Instant::now())
                });
                if !in_order {
                    tracing::error!("a change from another node was lost on the bus; reloading");
                }
                let mirrored = if beat {
                    Ok(())
                } else {
                    mirror(&bunker, &tokens, &message.payload).await
                };
                if let Err(e) = &mirrored {
                    tracing::error!(code = e.code(), "cannot mirror a change; reloading");
                }
                !in_order || mirrored.is_err()
            }
        };
        if lost {
            bunker.set_in_step(false);
            needs_reload = !connected || !run_reload(&bunker, &tokens).await;
            if !needs_reload {
                bus.reloads.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Mirrors the change in `payload`; an undecodable one is logged and ignored.
async fn mirror(
    bunker: &Arc<Bunker>,
    tokens: &Arc<AdminTokens>,
    payload: &[u8],
) -> Result<(), signer::Error> {
    let Ok(change) = serde_json::from_slice::<Change>(payload) else {
        tracing::warn!("an undecodable change on the cluster bus was ignored");
        return Ok(());
    };
    let (b, t) = (bunker.clone(), tokens.clone());
    tokio::task::spawn_blocking(move || {
        b.mirror(&change)?;
        t.mirror(&change)
    })
    .await
    .expect("mirroring does not panic")
}

/// Reloads, then marks the node in step; `false` (and still out of step) when the reload fails.
async fn run_reload(bunker: &Arc<Bunker>, tokens: &Arc<AdminTokens>) -> bool {
    let (b, t) = (bunker.clone(), tokens.clone());
    match tokio::task::spawn_blocking(move || reload(&b, &t))
        .await
        .expect("reloading does not panic")
    {
        Ok(()) => {
            bunker.set_in_step(true);
            tracing::info!("back in step with the cluster");
            true
        }
        Err(e) => {
            tracing::error!(code = e.code(), "cannot reload from the store; retrying");
            false
        }
    }
}

/// Deletes, every [`PRUNE_EVERY`], the claims of requests created more than `kept_secs` ago
/// (twice the `created_at` window admission accepts).
async fn prune_claims(bunker: Arc<Bunker>, kept_secs: u64, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let before = relay::dispatch::unix_now().saturating_sub(kept_secs);
        let b = bunker.clone();
        match tokio::task::spawn_blocking(move || b.prune_claims(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(claims = n, "pruned old request claims"),
            Ok(Err(e)) => tracing::warn!(code = e.code(), "cannot prune request claims"),
            Err(_) => tracing::error!("pruning request claims panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_change_number_or_a_beat_ahead_is_a_lost_change() {
        let now = tokio::time::Instant::now();
        let mut heard = Heard::default();
        // First heard: taken as it comes. Then in order, and beats repeating the last.
        assert!(heard.hear("a", 7, false, now));
        assert!(heard.hear("a", 8, false, now));
        assert!(heard.hear("a", 8, true, now));
        // A change skipped: 9 never came.
        assert!(!heard.hear("a", 10, false, now));
        assert!(heard.hear("a", 11, false, now), "in step again from 10");
        // A beat ahead of the last change heard: 12 was the last change, and never came.
        assert!(!heard.hear("a", 12, true, now));
        assert!(heard.hear("a", 12, true, now));
        // Nodes are numbered apart.
        assert!(heard.hear("b", 1, true, now));
        assert!(heard.hear("a", 13, false, now));
    }

    #[test]
    fn a_node_silent_for_long_is_remembered_and_the_heard_ids_are_bounded() {
        let now = tokio::time::Instant::now();
        let mut heard = Heard::default();
        assert!(heard.hear("a", 1, false, now));
        // Cut off for an hour, a's changes 2 to 4 were lost: its next beat says so.
        let later = now + Duration::from_secs(3_600);
        assert!(!heard.hear("a", 4, true, later));
        for i in 0..NODES_REMEMBERED {
            let at = later + Duration::from_millis(1 + i as u64);
            assert!(heard.hear(&format!("n{i}"), 1, true, at));
        }
        assert_eq!(heard.0.len(), NODES_REMEMBERED);
        assert!(
            !heard.0.contains_key("a"),
            "the one heard from longest ago went"
        );
    }
}
