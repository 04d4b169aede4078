//! One websocket connection's I/O: moves bytes between the socket and the connection's state
//! machine ([`crate::connection::Connection`]).
//!
//! The TCP socket is split: a **reader** task decodes client frames with
//! [`crate::ws::FrameReader`] (no buffer while idle; cancel-safe) and applies the state machine's actions,
//! and a **writer** task owns the write half and drains a bounded queue of [`Outbound`] messages fed by
//! the reader, the signer pool (`OK` verdicts) and the fan-out (`EVENT`s), framing everything queued
//! into one buffer and writing it with one syscall. Pings are answered with pongs and a peer's close is
//! echoed (through the writer). On shutdown the socket is no longer read for messages — only drained
//! (frames discarded) until the peer's close, so our 1001 is not lost to a TCP reset. Messages are
//! capped at [`MAX_MESSAGE_BYTES`] per frame and per reassembled message. This module never sees key
//! material.

use crate::answer::Cause;
use crate::connection::{Action, Admission};
use crate::dispatch::{unix_now, Verdict, WriteGuard};
use crate::fanout::{ConnId, Outbound, Queued};
use crate::intake::{NotSubmitted, Submission, Why};
use crate::limits::{ConnectionPermit, Limit};
use crate::liveness::{Liveness, Tick};
use crate::message;
use crate::outbox::{Budget, Outbox};
use crate::placement::Placement;
use crate::state::RelayState;
use crate::writer::{write_loop, Handover, Writer};
use crate::ws::{Frame, FrameReader, OpCode, ReadError};
use event::{Event, LiftCache};
use futures_util::FutureExt;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Largest websocket message accepted, bytes. A NIP-46 request carries at most a 65,535-byte NIP-44
/// plaintext (87,472 base64 characters) plus the event envelope, so 128 KiB admits every valid request
/// while keeping far below the library's 64 MiB default.
pub(crate) const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// Messages queued to one connection's writer before the fan-out starts dropping (a client that does
/// not read its socket must not hold memory or stall the signer threads).
pub(crate) const OUTBOUND_QUEUE: usize = 1024;

/// How long a connection we are closing for a protocol error is still read, waiting for the peer's
/// close frame.
const CLOSE_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves an upgraded websocket (the raw TCP stream, plus any bytes the HTTP layer read past the
/// upgrade request) until the peer leaves or the relay shuts down. `permit` is the connection's
/// admission (its slot and buckets, [`crate::limits`]); it is given back when this returns.
///
/// The connection's I/O runs on the relay's I/O threads, or — while it is demoted ([`Placement`]) —
/// on the demoted-I/O thread, a tokio runtime whose one thread is under SCHED_IDLE: this task then
/// only waits for the segment spawned there, and moves the socket back and forth between the two
/// reactors between messages (never inside one).
///
/// Spawn the returned future as a task of its own: it is most of an idle connection's memory, so
/// the connection's state is built here, outside it, and lives in it once (an `async fn` would keep
/// its arguments beside the locals they move into).
pub(crate) fn serve(
    stream: TcpStream,
    leftover: Vec<u8>,
    state: Arc<RelayState>,
    permit: ConnectionPermit,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let conn_id = state.next_conn_id();
    state.metrics.connections.inc();
    state.metrics.connections_opened.inc();
    let (read, write) = stream.into_split();
    // Caps each frame; `Reassembly` caps the sum of a fragmented message's frames.
    let read = FrameReader::new(read, leftover, MAX_MESSAGE_BYTES);
    let (tx, rx) = mpsc::channel::<Queued>(OUTBOUND_QUEUE);
    let budget = Budget::new(
        state.limits.outbound_bytes_per_connection,
        state.outbound.clone(),
    );
    let writer = tokio::spawn(write_loop(write, rx, writer_for(&state, &budget)));
    let placement = Placement::new(
        state.demoted_io.is_some(),
        state.limits.rate_limited_demotion_secs,
    );
    let liveness = Liveness::new(
        state.limits.ping_interval_secs,
        state.limits.idle_without_subscription_secs,
        Instant::now(),
    );
    let mut conn = Portable {
        machine: crate::connection::Connection::new(&state.limits),
        reading: Some(state.readers.token()),
        state,
        permit,
        conn_id,
        reassembly: Reassembly::default(),
        outbox: Outbox { tx, budget },
        placement,
        liveness,
    };
    let io = Io { read, writer };
    async move {
        let mut end = guarded(&mut conn, io).await;
        // Whether the socket is on the demoted-I/O thread (and counted in the gauge); `placement`
        // changes first, when the move is decided.
        let mut demoted = false;
        let writer = loop {
            let parked = match end {
                End::Gone(writer) => break Some(writer),
                End::Lost => break None,
                End::Moved(parked) => parked,
            };
            demoted = conn.placement.demoted();
            if demoted {
                conn.state.metrics.connections_demoted.inc();
                conn.state.metrics.connection_demotions.inc();
            } else {
                conn.state.metrics.connections_demoted.dec();
            }
            let demoted_io = conn.state.demoted_io.clone().filter(|_| demoted);
            end = match demoted_io {
                Some(io) => {
                    let state = conn.state.clone();
                    let writer = writer_for(&conn.state, &conn.outbox.budget);
                    let run = io.spawn(async move {
                        let end = match parked.attach(writer) {
                            Some(io) => guarded(&mut conn, io).await,
                            None => End::Lost,
                        };
                        (conn, end)
                    });
                    match run.await {
                        Ok((back, end)) => {
                            conn = back;
                            end
                        }
                        // The demoted-I/O runtime was shut down under the segment (only past
                        // the server's grace period, after its last connection task was waited
                        // for): the connection and its socket are dropped with it.
                        Err(_) => {
                            state.metrics.connections_demoted.dec();
                            state.metrics.connections.dec();
                            return;
                        }
                    }
                }
                None => match parked.attach(writer_for(&conn.state, &conn.outbox.budget)) {
                    Some(io) => guarded(&mut conn, io).await,
                    None => End::Lost,
                },
            };
        };
        // Whichever way it ended, the connection reads no more frames.
        drop(conn.reading.take());
        if demoted {
            conn.state.metrics.connections_demoted.dec();
        }
        let Portable {
            state,
            mut machine,
            outbox: Outbox { tx, .. },
            permit,
            ..
        } = conn;
        for (sub_id, filters) in machine.close_all() {
            state.metrics.subscriptions.dec();
            state.hub.unsubscribe(conn_id, &sub_id, &filters);
        }
        state.metrics.connections.dec();
        // The writer ends when every sender is gone: ours and the reserved OK slots of pending
        // verdicts (which are sent, or dropped once the socket is gone).
        drop(tx);
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        drop(permit);
    }
}

/// What outlives a connection's move between I/O threads: everything but the socket.
struct Portable {
    state: Arc<RelayState>,
    /// Held until the connection has read its last frame (`RelayState::readers`).
    reading: Option<tokio_util::task::task_tracker::TaskTrackerToken>,
    permit: ConnectionPermit,
    conn_id: ConnId,
    machine: crate::connection::Connection,
    reassembly: Reassembly,
    outbox: Outbox,
    placement: Placement,
    liveness: Liveness,
}

/// The writer settings of a connection with this budget.
fn writer_for(state: &RelayState, budget: &Arc<Budget>) -> Writer {
    Writer {
        budget: budget.clone(),
        stall: (state.limits.write_timeout_secs > 0)
            .then(|| std::time::Duration::from_secs(state.limits.write_timeout_secs)),
        metrics: state.metrics.clone(),
    }
}

/// A connection's socket attached to the reactor of the thread serving it: the read half in its
/// frame reader, the write half in the writer task.
struct Io {
    read: FrameReader,
    writer: JoinHandle<Option<Handover>>,
}

/// A socket between two reactors: deregistered from the one it leaves, with the bytes read but not
/// yet decoded and the writer's queue.
struct Parked {
    stream: std::net::TcpStream,
    leftover: Vec<u8>,
    rx: mpsc::Receiver<Queued>,
}

impl Parked {
    /// Registers the socket with the current runtime's reactor and starts its writer there; `None`
    /// (logged) if the reactor refuses it.
    fn attach(self, writer: Writer) -> Option<Io> {
        let stream = match TcpStream::from_std(self.stream) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "could not move a connection between I/O threads");
                return None;
            }
        };
        let (read, write) = stream.into_split();
        Some(Io {
            read: FrameReader::new(read, self.leftover, MAX_MESSAGE_BYTES),
            writer: tokio::spawn(write_loop(write, self.rx, writer)),
        })
    }
}

/// How a segment of a connection's life ended.
enum End {
    /// The connection is over; its writer ends once every sender of its queue is gone.
    Gone(JoinHandle<Option<Handover>>),
    /// The connection moves to the other I/O thread ([`Placement`]).
    Moved(Parked),
    /// The socket was lost while moving.
    Lost,
}

/// [`segment`], with a panic contained: it costs this connection (its socket is dropped, `End::Lost`)
/// but `serve` still removes its subscriptions, so no fan-out sender keeps a dead writer alive.
/// (A plain function: an `async fn` would hold `io` a second time.)
fn guarded(conn: &mut Portable, io: Io) -> impl std::future::Future<Output = End> + Send + '_ {
    std::panic::AssertUnwindSafe(segment(conn, io))
        .catch_unwind()
        .map(|ended| {
            ended.unwrap_or_else(|_| {
                tracing::error!("a connection's task panicked; the connection is closed");
                End::Lost
            })
        })
}

/// Serves the connection on the current runtime until it ends or must move.
/// (A plain function returning a block: an `async fn` would hold `io` a second time.)
#[allow(clippy::manual_async_fn)]
fn segment(conn: &mut Portable, mut io: Io) -> impl std::future::Future<Output = End> + Send + '_ {
    async move {
        match read_loop(&mut io.read, conn).await {
            Exit::Move => return park(conn, io).await,
            // No frame is handled after this (a close only drains): shutdown may stop waiting
            // for it.
            Exit::Gone => drop(conn.reading.take()),
        }
        if conn.state.shutdown.is_cancelled() {
            // Shutting down: reading has stopped, but responses to requests already accepted are
            // still coming from the signer pool; the socket closes (1001) once the pool has
            // drained. Never wait on a full queue here: a stuck peer must not hold shutdown up.
            // Then read (and discard) until the peer's close, so unread frames do not turn our
            // close into a reset that loses replies.
            conn.state.close_sockets.cancelled().await;
            let _ = conn
                .outbox
                .tx
                .try_send(Box::new(Outbound::Close(1001, "relay shutting down")));
            Box::pin(drain(&mut io.read, &conn.outbox.tx)).await;
        }
        End::Gone(io.writer)
    }
}

/// Takes the socket off the current reactor, after the writer has written everything queued before
/// the hand-over. `End::Gone` if the writer had already stopped (the socket failed or was closed)
/// before the hand-over could be queued, `End::Lost` if it stopped after.
async fn park(conn: &Portable, io: Io) -> End {
    if conn
        .outbox
        .tx
        .send(Box::new(Outbound::Handover))
        .await
        .is_err()
    {
        return End::Gone(io.writer);
    }
    let Ok(Some((write, rx))) = io.writer.await else {
        return End::Lost;
    };
    let (read, leftover) = io.read.into_parts();
    let stream = match read.reunite(write).map(TcpStream::into_std) {
        Ok(Ok(stream)) => stream,
        _ => return End::Lost,
    };
    End::Moved(Parked {
        stream,
        leftover,
        rx,
    })
}

/// The earlier of two optional instants.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Completes at `at`; never when `None`.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Why a read loop stopped.
enum Exit {
    /// The peer left, the connection was closed, or the relay is shutting down.
    Gone,
    /// The connection must move to the other I/O thread ([`Placement`]).
    Move,
}

/// Joins fragmented messages, refusing any message whose frames add up to more than
/// [`MAX_MESSAGE_BYTES`] (the frame reader caps single frames; without a total cap one client could
/// grow a message without bound).
#[derive(Default)]
struct Reassembly {
    opcode: Option<OpCode>,
    buffer: Vec<u8>,
}

/// What a frame means for the connection.
enum Incoming {
    /// A complete text or binary message.
    Message(OpCode, Vec<u8>),
    /// Nothing to do yet (a fragment, a pong).
    Pending,
    /// A ping to answer with this payload.
    Ping(Vec<u8>),
    /// The peer's close frame (payload to echo, RFC 6455 §5.5.1).
    PeerClosed(Vec<u8>),
    /// Close with this code and reason.
    Close(u16, &'static str),
}

impl Reassembly {
    fn push(&mut self, frame: Frame) -> Incoming {
        match (frame.opcode, self.opcode) {
            (OpCode::Text | OpCode::Binary, None) if frame.fin => {
                Incoming::Message(frame.opcode, frame.payload)
            }
            (OpCode::Text | OpCode::Binary, None) => {
                self.opcode = Some(frame.opcode);
                self.buffer = frame.payload;
                Incoming::Pending
            }
            (OpCode::Continuation, Some(opcode)) => {
                if self.buffer.len() + frame.payload.len() > MAX_MESSAGE_BYTES {
                    return Incoming::Close(1009, "message too large");
                }
                self.buffer.extend_from_slice(&frame.payload);
                if !frame.fin {
                    return Incoming::Pending;
                }
                self.opcode = None;
                Incoming::Message(opcode, std::mem::take(&mut self.buffer))
            }
            (OpCode::Text | OpCode::Binary | OpCode::Continuation, _) => {
                Incoming::Close(1002, "unexpected continuation or interleaved message")
            }
            (OpCode::Close, _) => Incoming::PeerClosed(frame.payload),
            (OpCode::Ping, _) => Incoming::Ping(frame.payload),
            (OpCode::Pong, _) => Incoming::Pending,
        }
    }
}

async fn read_loop(read: &mut FrameReader, conn: &mut Portable) -> Exit {
    let Portable {
        state,
        permit,
        conn_id,
        machine,
        reassembly,
        outbox,
        placement,
        liveness,
        reading: _,
    } = conn;
    let tx = &outbox.tx;
    let (state, conn_id) = (&**state, *conn_id);
    let gate = Gate { state, permit };
    // Made once per segment: a fresh `cancelled()` per frame would lock the token's waiter list
    // twice per frame, a lock every connection shares.
    let shutdown = state.shutdown.cancelled();
    tokio::pin!(shutdown);
    // A segment that starts after the shutdown began (a connection upgraded late, or moved back from
    // the demoted-I/O thread) reads nothing: the select below would pick a ready frame half the time.
    if state.shutdown.is_cancelled() {
        return if placement.recall() {
            Exit::Move
        } else {
            Exit::Gone
        };
    }
    // One timer for the end of a demotion and for liveness, re-armed only when it fires: per
    // frame, the reader only notes the time.
    let timer = until(earliest(liveness.deadline(), placement.promotion_at()));
    tokio::pin!(timer);
    loop {
        // `read_frame` is cancel-safe, so losing this race to shutdown, to the end of a demotion or
        // to the liveness timer loses no bytes.
        let frame = tokio::select! {
            frame = read.read_frame() => frame,
            () = &mut timer => {
                let now = Instant::now();
                // A demoted connection moves back when its hold ends, even if it sends nothing
                // more.
                if placement.promotion_at().is_some_and(|at| at <= now)
                    && placement.after_message(false, now)
                {
                    return Exit::Move;
                }
                match liveness.tick(now) {
                    Tick::Wait => {}
                    Tick::Ping => {
                        // Never waits: a client whose queue is full is not reading, and the write
                        // timeout deals with it.
                        let _ = tx.try_send(Box::new(Outbound::Ping));
                    }
                    Tick::Close(reason) => {
                        state.metrics.connections_closed.with_label_values(&[reason]).inc();
                        let _ = tx.try_send(Box::new(Outbound::Close(1008, close_text(reason))));
                        Box::pin(drain(read, tx)).await;
                        return Exit::Gone;
                    }
                }
                timer.set(until(earliest(liveness.deadline(), placement.promotion_at())));
                continue;
            }
            // Stop reading; `serve` closes the socket after the signer pool drains — on the relay's
            // own I/O threads: a demoted connection is moved back first, so its last `OK`s and its
            // 1001 do not wait for a thread that a busy host may starve.
            () = &mut shutdown => {
                return if placement.recall() { Exit::Move } else { Exit::Gone };
            }
        };
        let incoming = match frame {
            Ok(frame) => {
                liveness.heard(Instant::now());
                reassembly.push(frame)
            }
            Err(ReadError::Protocol(code, reason)) => Incoming::Close(code, reason),
            Err(ReadError::Gone) => return Exit::Gone,
        };
        match incoming {
            Incoming::Pending => {}
            Incoming::Ping(payload) => {
                if tx.send(Box::new(Outbound::Pong(payload))).await.is_err() {
                    return Exit::Gone;
                }
            }
            Incoming::PeerClosed(payload) => {
                let _ = tx.send(Box::new(Outbound::CloseEcho(payload))).await;
                return Exit::Gone;
            }
            Incoming::Close(code, reason) => {
                let _ = tx.send(Box::new(Outbound::Close(code, reason))).await;
                Box::pin(drain(read, tx)).await;
                return Exit::Gone;
            }
            Incoming::Message(OpCode::Text, bytes) => {
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    let _ = tx
                        .send(Box::new(Outbound::Close(1007, "text is not UTF-8")))
                        .await;
                    Box::pin(drain(read, tx)).await;
                    return Exit::Gone;
                };
                let actions =
                    LIFTED.with_borrow_mut(|keys| machine.on_text(text, unix_now(), &gate, keys));
                let mut limited = false;
                for action in actions {
                    // Boxed: the action futures (submit, subscribe) are large and short-lived; kept
                    // inline they would sit in every idle connection's task (target 4).
                    match Box::pin(apply(action, state, conn_id, outbox, placement.demoted())).await
                    {
                        Ok(demotes) => limited |= demotes,
                        Err(()) => return Exit::Gone,
                    }
                }
                liveness.subscriptions(machine.subscriptions(), Instant::now());
                if placement.after_message(limited, Instant::now()) {
                    return Exit::Move;
                }
            }
            Incoming::Message(_, _) => {
                let note = message::notice("invalid: binary frames are not NIP-01 messages");
                if tx.send(Box::new(Outbound::Text(note))).await.is_err() {
                    return Exit::Gone;
                }
            }
        }
    }
}

/// The close frame's reason for a [`Tick::Close`] label.
fn close_text(reason: &'static str) -> &'static str {
    match reason {
        "no_subscription" => "closed: no subscription",
        _ => "closed: no answer to ping",
    }
}

/// After our close frame, reads (and discards) until the peer's close, for at most
/// [`CLOSE_DRAIN`]: closing the socket with unread data makes the kernel send a reset, and the peer
/// would lose our close frame and its reason (RFC 6455 §7.1.1: wait for the peer's close). Pings
/// are still answered meanwhile (best effort).
async fn drain(read: &mut FrameReader, tx: &mpsc::Sender<Queued>) {
    let until_close = async {
        while let Ok(frame) = read.read_frame().await {
            match frame.opcode {
                OpCode::Close => return,
                OpCode::Ping => {
                    let _ = tx.try_send(Box::new(Outbound::Pong(frame.payload)));
                }
                _ => {}
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_DRAIN, until_close).await;
}

/// Applies one state-machine action: `Ok(true)` when it refused an event for a rate limit that demotes
/// the connection ([`Placement`]); `Err` means the writer is gone. `demoted`: the connection is
/// demoted now (its jobs say so, [`submit`]).
async fn apply(
    action: Action,
    state: &RelayState,
    conn_id: ConnId,
    outbox: &Outbox,
    demoted: bool,
) -> Result<bool, ()> {
    let tx = &outbox.tx;
    match action {
        Action::Send(text) => tx
            .send(Box::new(Outbound::Text(text)))
            .await
            .map_err(drop)
            .map(|()| false),
        Action::Refuse {
            text,
            reason,
            limit,
            answer,
        } => {
            state.metrics.rejected(reason);
            tx.send(Box::new(Outbound::Text(text)))
                .await
                .map_err(drop)?;
            if let Some(answer) = answer {
                crate::answer::offer(state, *answer.event, answer.cause);
            }
            Ok(limit.is_some_and(Limit::demotes))
        }
        Action::Submit(event) => submit(*event, state, outbox, demoted).await,
        Action::Subscribe { sub_id, filters } => {
            state.metrics.subscriptions.inc();
            let stored = state
                .hub
                .subscribe(conn_id, &sub_id, filters, outbox, unix_now());
            for text in stored {
                // Waits for room in the connection's budget: a client that asks for many large
                // retained events gets them as fast as it reads them.
                outbox.deliver(text).await.map_err(drop)?;
            }
            tx.send(Box::new(Outbound::Text(message::eose(&sub_id))))
                .await
                .map_err(drop)?;
            Ok(false)
        }
        Action::Unsubscribe { sub_id, filters } => {
            state.metrics.subscriptions.dec();
            state.hub.unsubscribe(conn_id, &sub_id, &filters);
            Ok(false)
        }
    }
}

/// Queues an admitted event on the signer pool ([`crate::intake`], which verifies it first); its
/// verdict comes back as `OK` through the connection's queue. `Ok(true)` when the event was refused
/// for a rate of its sender's or its tenant's, or its tenant's full queue lane (which demotes the
/// connection, [`Placement`]); `Err` means the writer is gone. A refusal by a limit is also offered
/// a NIP-46 error reply ([`crate::answer`]).
///
/// A queue slot for the `OK` is reserved *before* the request is submitted, so the verdict can never be
/// dropped for lack of space (NIP-01: every EVENT gets an OK), the signer thread never blocks on a
/// slow client, and a client that does not read its socket stops being read (backpressure). The
/// event's bytes are charged to the connection's budget ([`crate::outbox`]) until its verdict, so
/// one connection cannot have more than its share of request bytes waiting at the signer; over the
/// relay's total, the request is refused as the signer being busy.
///
/// `demoted`: the request is marked as a demoted connection's ([`crate::dispatch::Request::demoted`]),
/// which a signer thread starts only once the `OK`s it last handed to other connections are written
/// (or a short bound passed); an `OK` that comes with a [`WriteGuard`] is sent tracked for that.
async fn submit(
    event: Event,
    state: &RelayState,
    outbox: &Outbox,
    demoted: bool,
) -> Result<bool, ()> {
    let tx = &outbox.tx;
    let permit = tx.clone().reserve_owned().await.map_err(drop)?;
    let bytes = request_bytes(&event);
    if !outbox.budget.total_has_room(bytes) {
        drop(permit);
        state.metrics.rejected("rate-limited");
        state.metrics.limit_refused(Limit::Queue);
        let text = message::ok(&event.id_hex(), false, Limit::Queue.message());
        tx.send(Box::new(Outbound::Text(text)))
            .await
            .map_err(drop)?;
        return Ok(false);
    }
    let charge = outbox.budget.charge(bytes).await.map_err(drop)?;
    let id_hex = event.id_hex();
    let reply = Box::new(move |v: Verdict, handover: Option<WriteGuard>| {
        drop(charge);
        let text = match &v.accepted {
            Ok(()) if v.duplicate => {
                message::ok(&id_hex, true, "duplicate: already have this event")
            }
            Ok(()) => message::ok(&id_hex, true, ""),
            Err(refusal) => message::ok(&id_hex, false, &refusal.message()),
        };
        permit.send(Box::new(match handover {
            Some(guard) => Outbound::Tracked(text, guard),
            None => Outbound::Text(text),
        }));
    });
    let how = Submission {
        demoted,
        want_response: false,
        origin: None,
    };
    let Err(NotSubmitted {
        event,
        why,
        stopping,
    }) = crate::intake::submit(state, event, how, reply)
    else {
        return Ok(false);
    };
    // The request's reply, with its reserved slot, is already dropped: this send has room.
    let text = message::ok(&event.id_hex(), false, why.message());
    tx.send(Box::new(Outbound::Text(text)))
        .await
        .map_err(drop)?;
    match why {
        Why::Unverified => {
            state.metrics.rejected("invalid");
            Ok(false)
        }
        Why::Limit(limit) => {
            if !stopping {
                crate::answer::offer(state, event, Cause::Limit(limit));
            }
            Ok(limit.demotes())
        }
    }
}

/// What a request event is charged while it waits at the signer: its content and tags plus its
/// fixed fields and the request's bookkeeping (≈ 512 bytes).
fn request_bytes(event: &Event) -> usize {
    let tags: usize = event
        .tags
        .iter()
        .flat_map(|tag| tag.iter().map(|v| v.len() + 24))
        .sum();
    event.content.len() + tags + 512
}

thread_local! {
    /// The client keys this I/O thread has lifted (public data, bounded by [`LiftCache::CAPACITY`]):
    /// a client sends many requests under one key, and a lift is ≈ 4 % of a request's CPU.
    static LIFTED: std::cell::RefCell<LiftCache> = std::cell::RefCell::new(LiftCache::default());
}

/// The state machine's view of the relay for one connection: shared state plus the connection's permit.
struct Gate<'a> {
    state: &'a RelayState,
    permit: &'a ConnectionPermit,
}

impl Admission for Gate<'_> {
    fn is_hosted(&self, pk: &[u8; 32]) -> bool {
        self.state.dispatch.is_hosted(pk)
    }

    fn seen(&self, id: &[u8; 32]) -> bool {
        self.state.dedupe.contains(id)
    }

    fn admit_event(&self) -> Result<(), Limit> {
        self.permit.admit_event()
    }

    fn open_subscription(&self) -> Result<(), Limit> {
        self.permit.open_subscription()
    }

    fn close_subscription(&self) {
        self.permit.close_subscription();
    }

    fn refused(&self, limit: Limit) {
        self.state.metrics.limit_refused(limit);
    }
}
