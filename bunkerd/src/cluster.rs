//! The cluster bus: how nodes that share one PostgreSQL database (`store`) keep in step through
//! one NATS server (`cluster_bus`).
//!
//! Two subjects of core NATS (at most once, nothing kept: what must survive is in the database):
//! - [`CHANGES_SUBJECT`]: a [`Change`] (JSON) after each write of a record nodes hold in memory
//!   (`signer::cluster`). Each node mirrors the changes it hears from the store, one at a time, in
//!   the order heard.
//! - [`EVENTS_SUBJECT`]: every response event a node publishes (NIP-01 JSON), so that the node
//!   holding the client's subscription delivers it, and every node retains it for a client that
//!   reconnects elsewhere.
//!
//! - [`NODES_SUBJECT`]: each node's id every [`HEARTBEAT`]; a node counts the others it heard
//!   within [`NODE_TIMEOUT`] and shares every tenant's rate limit among them all.
//!
//! A node hears none of its own messages (`no_echo`). A response is handed to the bus connection
//! (written to its socket) before the request is acknowledged with `OK true`, when the signer
//! thread that made it can wait ([`HAND_OVER_WAIT`] at most).
//!
//! A node that loses the bus may miss changes: from the disconnect until it is back and has
//! reloaded tenants, routes, sessions and tokens from the store, it refuses requests
//! (`signer::Bunker::set_in_step`) and `/readyz` answers 503, so the load balancer sends new
//! clients elsewhere. The client pings the server every [`PING_INTERVAL`]; a silent link is
//! declared lost when a third ping finds two unanswered (about 3 s).
//!
//! Known gaps: a change lost while both ends stay connected (a NATS slow-consumer drop, a full
//! queue, a publish error) is logged, not detected, and nothing reloads periodically; changes
//! queued while the server stops are not written.

use async_nats::{Client, ConnectOptions, Event as BusEvent};
use futures_util::StreamExt as _;
use relay::fanout::{Hub, Peers};
use signer::admin::AdminTokens;
use signer::cluster::{Broadcast, Change};
use signer::Bunker;
use std::sync::atomic::{AtomicU64, Ordering};
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
/// How often claims of requests too old to be admitted again are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Pause before a failed reload is tried again.
const RELOAD_RETRY: Duration = Duration::from_secs(1);

/// One message on its way to the bus; `written` is told once it is written to the connection.
struct Outgoing {
    subject: &'static str,
    payload: Vec<u8>,
    written: Option<std::sync::mpsc::SyncSender<()>>,
}

/// This node's side of the bus: what the signer ([`Broadcast`]) and the fan-out ([`Peers`])
/// send through.
pub(crate) struct Bus {
    queue: mpsc::Sender<Outgoing>,
    /// Messages dropped because the queue was full.
    dropped: AtomicU64,
    /// Nodes alive, this one included.
    nodes: tokio::sync::watch::Sender<u32>,
}

impl Bus {
    /// Messages dropped because the queue to the bus was full, since start.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The nodes alive (this one included), updated as heartbeats come and go.
    pub(crate) fn nodes(&self) -> tokio::sync::watch::Receiver<u32> {
        self.nodes.subscribe()
    }

    /// Queues `payload` for `subject`. On a thread outside the tokio runtime (a signer thread),
    /// waits until it is written, at most [`HAND_OVER_WAIT`]; elsewhere returns at once.
    fn hand_over(&self, subject: &'static str, payload: Vec<u8>) {
        let wait = tokio::runtime::Handle::try_current().is_err();
        let (written, done) = if wait {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let queued = self.queue.try_send(Outgoing {
            subject,
            payload,
            written,
        });
        match queued {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    subject,
                    "the cluster bus queue is full; a message was dropped"
                );
                return;
            }
            // The writer stopped with the server: nothing more goes out.
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
        if let Some(done) = done {
            let _ = done.recv_timeout(HAND_OVER_WAIT);
        }
    }
}

impl Peers for Bus {
    fn forward(&self, json: &str) {
        self.hand_over(EVENTS_SUBJECT, json.as_bytes().to_vec());
    }
}

impl Broadcast for Bus {
    fn send(&self, change: &Change) {
        let payload = serde_json::to_vec(change).expect("changes serialize");
        self.hand_over(CHANGES_SUBJECT, payload);
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
    let client = ConnectOptions::new()
        .name("bunkerd")
        .no_echo()
        .ping_interval(PING_INTERVAL)
        .connection_timeout(CONNECT_TIMEOUT)
        .event_callback(move |event| {
            let events_tx = events_tx.clone();
            async move {
                let _ = events_tx.send(event);
            }
        })
        .connect(url.expose())
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
    let bus = Arc::new(Bus {
        queue,
        dropped: AtomicU64::new(0),
        nodes: tokio::sync::watch::Sender::new(1),
    });
    bunker.join_cluster(bus.clone());
    tokens.join_cluster(bus.clone());
    hub.join(bus.clone());
    tokio::spawn(write(client.clone(), outgoing, shutdown.clone()));
    tokio::spawn(deliver(events, hub, shutdown.clone()));
    tokio::spawn(keep_in_step(
        changes,
        events_rx,
        bunker.clone(),
        tokens,
        shutdown.clone(),
    ));
    tokio::spawn(prune_claims(bunker, claims_kept_secs, shutdown.clone()));
    tokio::spawn(count_nodes(client, heartbeats, bus.clone(), shutdown));
    tracing::info!(bus = %url.redacted(), "joined the cluster");
    Ok(bus)
}

/// Says every [`HEARTBEAT`] that this node is alive, and counts the nodes heard within
/// [`NODE_TIMEOUT`] (this one included) into `bus.nodes`.
async fn count_nodes(
    client: Client,
    mut heartbeats: async_nats::Subscriber,
    bus: Arc<Bus>,
    shutdown: CancellationToken,
) {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("OS random source failed");
    let id = hex::encode(id);
    let mut seen: std::collections::HashMap<String, tokio::time::Instant> = Default::default();
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = client.publish(NODES_SUBJECT, id.clone().into()).await {
                    tracing::warn!(error = %e, "cannot publish a heartbeat on the cluster bus");
                }
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
/// for, then tells them.
async fn write(
    client: Client,
    mut outgoing: mpsc::Receiver<Outgoing>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(256);
    let mut waiting = Vec::new();
    loop {
        let received = tokio::select! {
            () = shutdown.cancelled() => return,
            n = outgoing.recv_many(&mut batch, 256) => n,
        };
        if received == 0 {
            return;
        }
        for message in batch.drain(..) {
            if let Err(e) = client
                .publish(message.subject, message.payload.into())
                .await
            {
                tracing::warn!(error = %e, "cannot publish on the cluster bus");
            }
            waiting.extend(message.written);
        }
        if !waiting.is_empty() {
            if let Err(e) = client.flush().await {
                tracing::warn!(error = %e, "cannot flush the cluster bus");
            }
            for written in waiting.drain(..) {
                let _ = written.try_send(());
            }
        }
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

/// Mirrors every change heard, one at a time; marks the node out of step when the bus drops
/// (or a mirror fails) and back in step after a reload once it is connected again.
async fn keep_in_step(
    mut changes: async_nats::Subscriber,
    mut bus_events: mpsc::UnboundedReceiver<BusEvent>,
    bunker: Arc<Bunker>,
    tokens: Arc<AdminTokens>,
    shutdown: CancellationToken,
) {
    let mut needs_reload = false;
    let mut connected = true;
    loop {
        let retry = async {
            if needs_reload && connected {
                tokio::time::sleep(RELOAD_RETRY).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            event = bus_events.recv() => match event {
                Some(BusEvent::Disconnected) => {
                    tracing::warn!("lost the cluster bus; refusing requests until back in step");
                    bunker.set_in_step(false);
                    (connected, needs_reload) = (false, true);
                }
                Some(BusEvent::Connected) => {
                    connected = true;
                    if needs_reload {
                        needs_reload = !run_reload(&bunker, &tokens).await;
                    }
                }
                Some(other) => tracing::info!(event = %other, "cluster bus"),
                None => return,
            },
            () = retry => needs_reload = !run_reload(&bunker, &tokens).await,
            message = changes.next() => {
                let Some(message) = message else { return };
                let Ok(change) = serde_json::from_slice::<Change>(&message.payload) else {
                    tracing::warn!("an undecodable change on the cluster bus was ignored");
                    continue;
                };
                let (b, t) = (bunker.clone(), tokens.clone());
                let mirrored = tokio::task::spawn_blocking(move || {
                    b.mirror(&change)?;
                    t.mirror(&change)
                })
                .await
                .expect("mirroring does not panic");
                if let Err(e) = mirrored {
                    tracing::error!(code = e.code(), "cannot mirror a change; reloading");
                    bunker.set_in_step(false);
                    needs_reload = !run_reload(&bunker, &tokens).await;
                }
            }
        }
    }
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
