//! One websocket to one foreign relay, shared by every session served there, kept open for as
//! long as a session uses the relay: dial ([`super::dial`]) with a timeout, subscribe, read
//! requests into the relay's intake, write responses and queued events, answer NIP-42 `AUTH` with
//! each remote-signer key served there, ping, and on any failure dial again after a jittered
//! exponential backoff ([`BACKOFF_MIN`] doubling to [`BACKOFF_MAX`]).
//!
//! Bounds: an incoming message is at most [`MAX_MESSAGE_BYTES`]; requests are admitted at the
//! relay's per-connection event rate (`events_per_sec`, `events_burst`) and `created_at` window,
//! then take the same intake as the relay's own connections; events waiting to be written are at
//! most [`MAX_QUEUED_BYTES`] per link (the oldest dropped first, counted); every wait is timed.

use super::dial::{self, RelaySocket};
use super::message::{self, FromRelay};
use super::Shared;
use crate::dispatch::{unix_now, Verdict, WriteGuard};
use crate::intake::{self, Submission};
use event::Event;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketRead, WebSocketWrite};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

/// The longest a dial (resolution, TCP, TLS, websocket handshake) may take.
pub(crate) const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before dialling again.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// The longest wait before dialling again; with [`DIAL_TIMEOUT`], the bound on reconnecting to a
/// relay that is back.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(30);
/// A ping is written this often.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Without any frame from the relay for this long, the connection is dropped and dialled again.
const IDLE: Duration = Duration::from_secs(75);
/// The longest one write may wait for the socket.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest message read from a relay, bytes (a kind-24133 request is far smaller).
pub(crate) const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Events waiting to be written to one relay, bytes.
pub(crate) const MAX_QUEUED_BYTES: usize = 1 << 20;
/// Events written recently, kept to write again when the relay asks for NIP-42 first.
const RECENT_SENT: usize = 64;
/// How far back a subscription asks for requests, seconds (those sent while it was re-dialling).
const SINCE_SLACK_SECS: u64 = 60;
/// NIP-42 challenges one connection may send; later ones are ignored (each costs a signature per
/// remote signer served on the link).
const MAX_CHALLENGES: u32 = 4;
/// Control messages (pongs, `AUTH`) waiting for the writer.
const CONTROL_CAPACITY: usize = 64;

/// Which remote signers a link serves, by how many sessions.
#[derive(Debug, Default)]
struct Served {
    pubkeys: HashMap<[u8; 32], usize>,
    /// Since when it serves none.
    idle_since: Option<Instant>,
}

/// Events waiting to be written.
#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<([u8; 32], Arc<str>)>,
    bytes: usize,
}

/// A message for the writer from the reader.
enum Control {
    /// A text message.
    Text(String),
    /// A frame the protocol obliges (pong, close echo).
    Frame(OpCode, Vec<u8>),
}

/// One foreign relay's link.
pub(crate) struct Link {
    shared: Arc<Shared>,
    /// The relay key ([`event::relay_url::relay_key`]): the `relay` tag of NIP-42 `AUTH` events.
    key: Arc<str>,
    url: url::Url,
    /// The URL as logged: scheme, host, port and path, never the query (some relays carry
    /// credentials there).
    shown: String,
    served: Mutex<Served>,
    served_changed: Notify,
    queue: Mutex<Queue>,
    queued: Notify,
    recent: Mutex<VecDeque<([u8; 32], Arc<str>)>>,
    stop: CancellationToken,
    state: Mutex<Option<&'static str>>,
}

impl Link {
    /// Starts the link to `url` (whose relay key is `key`) on the shared runtime.
    pub(crate) fn spawn(shared: Arc<Shared>, key: Arc<str>, url: &str) -> Arc<Link> {
        let parsed = url::Url::parse(url.trim())
            .or_else(|_| url::Url::parse(&key))
            .expect("relay keys parse");
        let link = Arc::new(Link {
            stop: shared.state.close_sockets.child_token(),
            shared: shared.clone(),
            key,
            shown: format!(
                "{}://{}{}",
                parsed.scheme(),
                parsed.host_str().unwrap_or_default(),
                parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
            ) + parsed.path(),
            url: parsed,
            served: Mutex::new(Served {
                pubkeys: HashMap::new(),
                idle_since: Some(Instant::now()),
            }),
            served_changed: Notify::new(),
            queue: Mutex::new(Queue::default()),
            queued: Notify::new(),
            recent: Mutex::new(VecDeque::new()),
            state: Mutex::new(None),
        });
        shared.runtime.spawn(link.clone().run());
        link
    }

    /// Remote signers served, distinct.
    pub(crate) fn sessions(&self) -> usize {
        self.served.lock().expect("served").pubkeys.len()
    }

    /// Counts one more session of `remote_signer` here.
    pub(crate) fn serve(&self, remote_signer: [u8; 32]) {
        let mut served = self.served.lock().expect("served");
        served.idle_since = None;
        let n = served.pubkeys.entry(remote_signer).or_insert(0);
        *n += 1;
        if *n == 1 {
            self.served_changed.notify_one();
        }
    }

    /// Counts one session of `remote_signer` fewer.
    pub(crate) fn unserve(&self, remote_signer: &[u8; 32]) {
        let mut served = self.served.lock().expect("served");
        if let Some(n) = served.pubkeys.get_mut(remote_signer) {
            *n -= 1;
            if *n == 0 {
                served.pubkeys.remove(remote_signer);
                self.served_changed.notify_one();
            }
        }
        if served.pubkeys.is_empty() && served.idle_since.is_none() {
            served.idle_since = Some(Instant::now());
        }
    }

    /// Counts a message dropped before the signer, by `reason` ([`super::DROP_REASONS`]).
    fn dropped(&self, reason: &str) {
        self.shared
            .metrics
            .dropped
            .with_label_values(&[reason])
            .inc();
    }

    fn serves(&self, remote_signer: &[u8; 32]) -> bool {
        self.served
            .lock()
            .expect("served")
            .pubkeys
            .contains_key(remote_signer)
    }

    /// Whether the link served no session for `linger`: what it still has queued was for sessions
    /// gone that long (a relay that never takes it must not keep the link alive).
    pub(crate) fn idle_for(&self, linger: Duration) -> bool {
        self.served
            .lock()
            .expect("served")
            .idle_since
            .is_some_and(|t| t.elapsed() >= linger)
    }

    /// Ends the link.
    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }

    /// Queues an event (id, JSON) to be written, dropping the oldest beyond [`MAX_QUEUED_BYTES`].
    pub(crate) fn enqueue(&self, id: [u8; 32], json: Arc<str>) {
        let mut dropped = 0u64;
        {
            let mut queue = self.queue.lock().expect("queue");
            queue.bytes += json.len();
            queue.events.push_back((id, json));
            while queue.bytes > MAX_QUEUED_BYTES {
                let Some((_, old)) = queue.events.pop_front() else {
                    break;
                };
                queue.bytes -= old.len();
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.shared
                .metrics
                .dropped
                .with_label_values(&["outbox_full"])
                .inc_by(dropped);
        }
        self.queued.notify_one();
    }

    /// The oldest queued event, left in the queue.
    fn front(&self) -> Option<([u8; 32], Arc<str>)> {
        self.queue.lock().expect("queue").events.front().cloned()
    }

    /// Removes the oldest queued event once written, if it is still `id` (the queue may have
    /// dropped it for room meanwhile).
    fn pop_written(&self, id: &[u8; 32]) {
        let mut queue = self.queue.lock().expect("queue");
        if queue.events.front().is_some_and(|(front, _)| front == id) {
            if let Some((_, json)) = queue.events.pop_front() {
                queue.bytes -= json.len();
            }
        }
    }

    fn unpop(&self, item: ([u8; 32], Arc<str>)) {
        let mut queue = self.queue.lock().expect("queue");
        queue.bytes += item.1.len();
        queue.events.push_front(item);
    }

    fn set_state(&self, state: Option<&'static str>) {
        let mut current = self.state.lock().expect("state");
        if let Some(old) = *current {
            self.shared.metrics.links.with_label_values(&[old]).dec();
        }
        if let Some(new) = state {
            self.shared.metrics.links.with_label_values(&[new]).inc();
        }
        *current = state;
    }

    /// Dials, serves, and dials again until stopped.
    async fn run(self: Arc<Self>) {
        let mut backoff = Backoff::default();
        let mut dialled_before = false;
        loop {
            if self.stop.is_cancelled() || self.shared.state.shutdown.is_cancelled() {
                break;
            }
            if dialled_before {
                self.shared.metrics.reconnects.inc();
            }
            dialled_before = true;
            self.set_state(Some("connecting"));
            let settings = &self.shared.settings;
            let dialled = tokio::select! {
                r = tokio::time::timeout(
                    DIAL_TIMEOUT,
                    dial::dial(&self.url, &self.shared.tls, settings.allow_private),
                ) => r,
                () = self.stop.cancelled() => break,
            };
            match dialled {
                Ok(Ok(socket)) => {
                    tracing::debug!(relay = %self.shown, "foreign relay connected");
                    let started = Instant::now();
                    let ended = self.serve_socket(socket).await;
                    tracing::info!(relay = %self.shown, "foreign relay connection ended: {ended}");
                    if started.elapsed() >= STABLE {
                        backoff = Backoff::default();
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(relay = %self.shown, "cannot reach foreign relay: {e}")
                }
                Err(_) => tracing::warn!(relay = %self.shown, "foreign relay dial timed out"),
            }
            self.set_state(Some("backoff"));
            tokio::select! {
                () = tokio::time::sleep(backoff.next()) => {}
                () = self.stop.cancelled() => break,
            }
        }
        self.set_state(None);
    }

    /// Serves one websocket until it ends; says why.
    async fn serve_socket(self: &Arc<Self>, mut socket: RelaySocket) -> &'static str {
        socket.set_max_message_size(MAX_MESSAGE_BYTES);
        socket.set_auto_pong(true);
        socket.set_auto_close(true);
        let (read, write) = socket.split(tokio::io::split);
        let mut read = read;
        let (control, control_rx) = mpsc::channel(CONTROL_CAPACITY);
        tokio::select! {
            why = self.read_loop(&mut read, control) => why,
            why = self.write_loop(write, control_rx) => why,
            () = self.stop.cancelled() => "stopped",
        }
    }

    async fn read_loop(
        self: &Arc<Self>,
        read: &mut WebSocketRead<ReadHalf<TokioIo<Upgraded>>>,
        control: mpsc::Sender<Control>,
    ) -> &'static str {
        let obliged = control.clone();
        let mut send_obliged = move |frame: Frame<'_>| {
            let obliged = obliged.clone();
            let message = Control::Frame(frame.opcode, frame.payload.to_vec());
            async move {
                obliged
                    .send(message)
                    .await
                    .map_err(|_| std::io::Error::other("the writer has ended"))
            }
        };
        let limits = &self.shared.state.limits;
        let limiter = rate_limiter(limits.events_per_sec, limits.events_burst);
        let mut auth = Auth::default();
        let mut message: Vec<u8> = Vec::new();
        let mut text_message = false;
        // Shutdown stops reading (and releases the reader's token, which shutdown waits for);
        // the writer goes on until the sockets close.
        let reading = self.shared.state.readers.token();
        loop {
            let frame = tokio::select! {
                r = tokio::time::timeout(IDLE, read.read_frame(&mut send_obliged)) => r,
                () = self.shared.state.shutdown.cancelled() => {
                    drop(reading);
                    return std::future::pending().await;
                }
            };
            let frame = match frame {
                Err(_) => return "silent for too long",
                Ok(Err(_)) => return "read failed",
                Ok(Ok(frame)) => frame,
            };
            // Fragments are reassembled here, bounded in bytes over the whole message (the
            // frame limit alone would let continuation frames grow one message without end).
            match (frame.opcode, frame.fin) {
                (OpCode::Text, true) if message.is_empty() => {
                    let Ok(text) = std::str::from_utf8(&frame.payload) else {
                        return "text frame is not UTF-8";
                    };
                    self.on_message(text, limiter.as_ref(), &mut auth, &control)
                        .await;
                }
                (OpCode::Text | OpCode::Binary, false) if message.is_empty() => {
                    message.extend_from_slice(&frame.payload);
                    text_message = frame.opcode == OpCode::Text;
                }
                (OpCode::Continuation, fin) if !message.is_empty() => {
                    if message.len() + frame.payload.len() > MAX_MESSAGE_BYTES {
                        return "message over the size limit";
                    }
                    message.extend_from_slice(&frame.payload);
                    if fin {
                        let whole = std::mem::take(&mut message);
                        if text_message {
                            let Ok(text) = std::str::from_utf8(&whole) else {
                                return "text message is not UTF-8";
                            };
                            self.on_message(text, limiter.as_ref(), &mut auth, &control)
                                .await;
                        }
                    }
                }
                (OpCode::Close, _) => return "closed by the relay",
                (OpCode::Ping | OpCode::Pong, _) | (OpCode::Binary, true) => {}
                _ => return "fragments out of order",
            }
        }
    }

    async fn on_message(
        self: &Arc<Self>,
        text: &str,
        limiter: Option<&DefaultDirectRateLimiter>,
        auth: &mut Auth,
        control: &mpsc::Sender<Control>,
    ) {
        match message::parse(text) {
            Err(_) => self.dropped("malformed"),
            Ok(FromRelay::Event(event)) => self.on_event(*event, limiter),
            Ok(FromRelay::Auth { challenge }) => {
                // Each challenge costs a signature per remote signer served here: a connection
                // gets at most MAX_CHALLENGES, within the link's event rate.
                auth.challenges += 1;
                if auth.challenges > MAX_CHALLENGES || limiter.is_some_and(|l| l.check().is_err()) {
                    return self.dropped("rate");
                }
                auth.challenge = Some(challenge);
                auth.authed.clear();
                auth.pending.clear();
                self.authenticate(auth, control).await;
            }
            // Connected means subscribed (the relay took the subscription): what a request needs
            // to be read.
            Ok(FromRelay::Eose) => self.set_state(Some("connected")),
            Ok(FromRelay::Closed { message }) if message::auth_required(&message) => {
                self.set_state(Some("connecting"));
                self.authenticate(auth, control).await;
            }
            Ok(FromRelay::Ok {
                id,
                accepted,
                message,
            }) => {
                if auth.pending.remove(&id) {
                    if accepted {
                        // Subscriptions and events the relay refused before AUTH, again.
                        self.served_changed.notify_one();
                        self.queued.notify_one();
                    }
                } else if !accepted && message::auth_required(&message) {
                    let again = {
                        let mut recent = self.recent.lock().expect("recent");
                        let at = recent.iter().position(|(i, _)| *i == id);
                        at.and_then(|at| recent.remove(at))
                    };
                    if let Some(item) = again {
                        self.unpop(item);
                    }
                    self.authenticate(auth, control).await;
                }
            }
            Ok(FromRelay::Closed { .. } | FromRelay::Other) => {}
        }
    }

    /// Answers the relay's challenge for every remote signer served here not yet authenticated.
    async fn authenticate(&self, auth: &mut Auth, control: &mpsc::Sender<Control>) {
        let Some(challenge) = auth.challenge.clone() else {
            return;
        };
        let pubkeys: Vec<[u8; 32]> = {
            let served = self.served.lock().expect("served");
            served
                .pubkeys
                .keys()
                .filter(|pk| !auth.authed.contains(*pk))
                .copied()
                .collect()
        };
        for pubkey in pubkeys {
            let dispatch = self.shared.state.dispatch.clone();
            let (relay, challenge) = (self.key.clone(), challenge.clone());
            let signed = tokio::task::spawn_blocking(move || {
                dispatch.authenticate(&pubkey, &relay, &challenge)
            })
            .await;
            auth.authed.insert(pubkey);
            if let Ok(Some(event)) = signed {
                auth.pending.insert(event.id);
                if control
                    .send(Control::Text(message::auth(&event.to_json())))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }

    /// Admits one event from the relay as a request: kind 24133 `p`-tagged to a remote signer
    /// served here, inside the `created_at` window and the link's event rate; then the relay's
    /// intake, answered on this link.
    fn on_event(self: &Arc<Self>, event: Event, limiter: Option<&DefaultDirectRateLimiter>) {
        let remote_signer = event.first_tag_value("p").and_then(event::hex32);
        if event.kind != 24133 || !remote_signer.is_some_and(|pk| self.serves(&pk)) {
            return self.dropped("not_served");
        }
        let window = self.shared.state.limits.created_at_window_secs;
        if unix_now().abs_diff(event.created_at) > window {
            return self.dropped("created_at");
        }
        if limiter.is_some_and(|l| l.check().is_err()) {
            return self.dropped("rate");
        }
        tracing::debug!(relay = %self.shown, "request read from a foreign relay");
        self.shared.metrics.events.with_label_values(&["in"]).inc();
        let link = self.clone();
        let reply = Box::new(move |verdict: Verdict, _: Option<WriteGuard>| {
            if let Some(response) = verdict.response {
                link.enqueue(response.id, response.to_json().into());
            }
        });
        let how = Submission {
            demoted: false,
            want_response: true,
            origin: Some(self.key.clone()),
        };
        if intake::submit(&self.shared.state, event, how, reply).is_err() {
            self.dropped("refused");
        }
    }

    async fn write_loop(
        &self,
        mut write: WebSocketWrite<WriteHalf<TokioIo<Upgraded>>>,
        mut control: mpsc::Receiver<Control>,
    ) -> &'static str {
        let mut open = match self.subscribe(&mut write, 0).await {
            Ok(open) => open,
            Err(why) => return why,
        };
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            // Removed from the queue only once written: a connection that ends mid-write
            // leaves it for the next one.
            while let Some(item) = self.front() {
                if send(
                    &mut write,
                    Frame::text(Payload::Borrowed(message::event(&item.1).as_bytes())),
                )
                .await
                .is_err()
                {
                    return "write failed";
                }
                self.pop_written(&item.0);
                self.shared.metrics.events.with_label_values(&["out"]).inc();
                let mut recent = self.recent.lock().expect("recent");
                if recent.len() == RECENT_SENT {
                    recent.pop_front();
                }
                recent.push_back(item);
            }
            let written = tokio::select! {
                biased;
                message = control.recv() => match message {
                    Some(Control::Text(text)) => {
                        send(&mut write, Frame::text(Payload::Owned(text.into_bytes()))).await
                    }
                    Some(Control::Frame(opcode, payload)) => {
                        let frame = Frame::new(true, opcode, None, Payload::Owned(payload));
                        send(&mut write, frame).await
                    }
                    None => return "the reader ended",
                },
                () = self.served_changed.notified() => {
                    match self.subscribe(&mut write, open).await {
                        Ok(now_open) => {
                            open = now_open;
                            Ok(())
                        }
                        Err(why) => return why,
                    }
                }
                () = self.queued.notified() => Ok(()),
                _ = ping.tick() => send(&mut write, Frame::new(true, OpCode::Ping, None, Payload::Owned(Vec::new()))).await,
            };
            if written.is_err() {
                return "write failed";
            }
        }
    }

    /// Writes the subscriptions for the remote signers served now, closing those no longer needed
    /// (`open` were open); returns how many are open.
    async fn subscribe(
        &self,
        write: &mut WebSocketWrite<WriteHalf<TokioIo<Upgraded>>>,
        open: usize,
    ) -> Result<usize, &'static str> {
        let mut pubkeys: Vec<String> = {
            let served = self.served.lock().expect("served");
            served.pubkeys.keys().map(hex::encode).collect()
        };
        pubkeys.sort_unstable();
        let since = unix_now().saturating_sub(SINCE_SLACK_SECS);
        let requests = message::subscriptions(&pubkeys, since);
        let now_open = requests.len();
        tracing::debug!(relay = %self.shown, pubkeys = pubkeys.len(), "subscribing on a foreign relay");
        let closes = (now_open..open).map(message::close);
        for text in requests.into_iter().chain(closes) {
            send(write, Frame::text(Payload::Owned(text.into_bytes())))
                .await
                .map_err(|()| "write failed")?;
        }
        Ok(now_open)
    }
}

/// NIP-42 state of one connection.
#[derive(Debug, Default)]
struct Auth {
    challenge: Option<String>,
    /// Remote signers an `AUTH` was sent for, under the current challenge.
    authed: HashSet<[u8; 32]>,
    /// Ids of `AUTH` events awaiting the relay's `OK` (under the current challenge).
    pending: HashSet<[u8; 32]>,
    /// Challenges received on this connection.
    challenges: u32,
}

/// Writes one frame within [`WRITE_TIMEOUT`].
async fn send(
    write: &mut WebSocketWrite<WriteHalf<TokioIo<Upgraded>>>,
    frame: Frame<'_>,
) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, write.write_frame(frame)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// A GCRA limiter at `per_sec` with `burst`; `None` when `per_sec` is 0 (unlimited).
fn rate_limiter(per_sec: u32, burst: u32) -> Option<DefaultDirectRateLimiter> {
    let rate = NonZeroU32::new(per_sec)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::direct(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

/// Waits between dials: from [`BACKOFF_MIN`], doubling to [`BACKOFF_MAX`], each wait drawn
/// uniformly from its upper half so that links cut at once do not dial again at once.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: BACKOFF_MIN }
    }
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        let half = ceiling / 2;
        let jitter = getrandom::u64().unwrap_or(0) % (half.as_millis() as u64 + 1);
        half + Duration::from_millis(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_ceiling_with_jitter_in_the_upper_half() {
        let mut backoff = Backoff::default();
        let mut ceiling = BACKOFF_MIN;
        for _ in 0..12 {
            let wait = backoff.next();
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} vs {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(BACKOFF_MAX);
        }
        assert_eq!(backoff.next, BACKOFF_MAX);
    }
}
