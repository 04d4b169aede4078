//! One websocket connection: moves bytes between the socket and the [`Session`] state machine.
//!
//! The socket is split (style.md §5): a **reader** task reads frames and applies the session's actions,
//! and a **writer** task owns the write half and drains a bounded queue of [`Outbound`] messages fed by
//! the reader, the signer pool (`OK` verdicts) and the fan-out (`EVENT`s). fastwebsockets'
//! `read_frame` is not cancel-safe, so it sits in a `select!` only against shutdown, after which the
//! socket is never read for messages again — only drained (frames discarded, errors ending the drain)
//! until the peer's close, so our 1001 is not lost to a TCP reset. Pings are answered with pongs (through the writer); messages are capped
//! at [`MAX_MESSAGE_BYTES`] per frame and per reassembled message. This module never sees key
//! material.

use crate::coalesce::Coalesce;
use crate::fanout::{ConnId, Outbound};
use crate::message;
use crate::session::{Action, Admission, Session};
use crate::state::RelayState;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketError};
use signer::nostr::Event;
use signer::pool::{unix_now, Job};
use signer::Processed;
use std::sync::Arc;
use tokio::sync::mpsc;

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

type Upgraded = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;

/// The connection's coalescing write half.
type WriteHalf = Coalesce<tokio::io::WriteHalf<Upgraded>>;

/// Most messages written before a flush.
const WRITE_BATCH: usize = 64;

/// Serves an upgraded websocket until the peer leaves or the relay shuts down.
pub(crate) async fn serve(ws: fastwebsockets::WebSocket<Upgraded>, state: Arc<RelayState>) {
    let conn_id = state.next_conn_id();
    let mut ws = ws;
    // Caps each frame; `Reassembly` caps the sum of a fragmented message's frames.
    ws.set_max_message_size(MAX_MESSAGE_BYTES);
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    // Unvectored writes into a coalescing write half: the writer frames every queued message into one
    // buffer and flushes once (see `write_loop`).
    ws.set_writev(false);
    let (mut read, write) = ws.split(|io| {
        let (r, w) = tokio::io::split(io);
        (r, Coalesce::new(w))
    });
    let (tx, rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(write_loop(write, rx));
    // Frames the protocol obliges us to send while reading (pong, close echo) go through the writer.
    let control_tx = tx.clone();
    let mut obligated = move |frame: Frame<'_>| {
        let msg = match frame.opcode {
            OpCode::Pong => Outbound::Pong(frame.payload.to_vec()),
            _ => Outbound::CloseEcho(frame.payload.to_vec()),
        };
        let tx = control_tx.clone();
        async move { tx.send(msg).await }
    };
    let mut session = Session::new(state.limits);
    read_loop(
        &mut read,
        &mut obligated,
        &mut session,
        &state,
        conn_id,
        &tx,
    )
    .await;
    if state.shutdown.is_cancelled() {
        // Shutting down: reading has stopped, but responses to requests already accepted are still
        // coming from the signer pool; the socket closes (1001) once the pool has drained. Never wait
        // on a full queue here: a stuck peer must not hold shutdown up. Then read (and discard) until
        // the peer's close, so unread frames do not turn our close into a reset that loses replies.
        state.close_sockets.cancelled().await;
        let _ = tx.try_send(Outbound::Close(1001, "relay shutting down"));
        drain(&mut read, &mut obligated).await;
    }
    for (sub_id, filters) in session.close_all() {
        state.hub.unsubscribe(conn_id, &sub_id, &filters);
    }
    // The writer ends when every sender is gone: ours, the control sender inside `obligated`, and
    // the reserved OK slots of pending verdicts.
    drop(obligated);
    drop(tx);
    // Pending OK verdicts hold reserved queue slots; the writer ends when they are sent or the
    // socket is gone.
    let _ = writer.await;
}

/// Joins fragmented messages, refusing any message whose frames add up to more than
/// [`MAX_MESSAGE_BYTES`]. (fastwebsockets caps single frames only; its fragment collector has no
/// total cap, so one client could grow a message without bound.)
#[derive(Default)]
struct Reassembly {
    opcode: Option<OpCode>,
    buffer: Vec<u8>,
}

/// What a frame means for the connection.
enum Incoming {
    /// A complete text or binary message.
    Message(OpCode, Vec<u8>),
    /// Nothing to do yet (a fragment, a ping, a pong).
    Pending,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

impl Reassembly {
    fn push(&mut self, frame: Frame<'_>) -> Incoming {
        match (frame.opcode, self.opcode) {
            (OpCode::Text | OpCode::Binary, None) if frame.fin => {
                Incoming::Message(frame.opcode, frame.payload.to_vec())
            }
            (OpCode::Text | OpCode::Binary, None) => {
                self.opcode = Some(frame.opcode);
                self.buffer = frame.payload.to_vec();
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
            (OpCode::Close, _) => Incoming::Close(1000, ""),
            _ => Incoming::Pending,
        }
    }
}

async fn read_loop<F, R, E>(
    read: &mut fastwebsockets::WebSocketRead<tokio::io::ReadHalf<Upgraded>>,
    obligated: &mut F,
    session: &mut Session,
    state: &Arc<RelayState>,
    conn_id: ConnId,
    tx: &mpsc::Sender<Outbound>,
) where
    F: FnMut(Frame<'_>) -> R,
    R: std::future::Future<Output = Result<(), E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    let mut reassembly = Reassembly::default();
    loop {
        let frame = tokio::select! {
            frame = read.read_frame(obligated) => frame,
            // Stop reading; `serve` closes the socket after the signer pool drains.
            () = state.shutdown.cancelled() => return,
        };
        let incoming = match frame {
            Ok(frame) => reassembly.push(frame),
            Err(WebSocketError::FrameTooLarge) => Incoming::Close(1009, "message too large"),
            Err(_) => return,
        };
        match incoming {
            Incoming::Pending => {}
            Incoming::Close(1000, _) => return,
            Incoming::Close(code, reason) => {
                let _ = tx.send(Outbound::Close(code, reason)).await;
                drain(read, obligated).await;
                return;
            }
            Incoming::Message(OpCode::Text, bytes) => {
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    let _ = tx.send(Outbound::Close(1007, "text is not UTF-8")).await;
                    return;
                };
                let actions = session.on_text(text, unix_now(), state.as_ref());
                for action in actions {
                    if apply(action, state, conn_id, tx).await.is_err() {
                        return;
                    }
                }
            }
            Incoming::Message(_, _) => {
                let note = message::notice("invalid: binary frames are not NIP-01 messages");
                if tx.send(Outbound::Text(note)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// After our close frame, reads (and discards) until the peer's close, for at most
/// [`CLOSE_DRAIN`]: closing the socket with unread data makes the kernel send a reset, and the peer
/// would lose our close frame and its reason (RFC 6455 §7.1.1: wait for the peer's close).
async fn drain<S, F, R, E>(read: &mut fastwebsockets::WebSocketRead<S>, obligated: &mut F)
where
    S: tokio::io::AsyncRead + Unpin,
    F: FnMut(Frame<'_>) -> R,
    R: std::future::Future<Output = Result<(), E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    let until_close = async {
        while let Ok(frame) = read.read_frame(obligated).await {
            if frame.opcode == OpCode::Close {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_DRAIN, until_close).await;
}

/// Applies one session action. `Err` means the writer is gone.
async fn apply(
    action: Action,
    state: &Arc<RelayState>,
    conn_id: ConnId,
    tx: &mpsc::Sender<Outbound>,
) -> Result<(), ()> {
    match action {
        Action::Send(text) => tx.send(Outbound::Text(text)).await.map_err(drop),
        Action::Submit(event) => submit(*event, state, tx).await,
        Action::Subscribe { sub_id, filters } => {
            let stored = state
                .hub
                .subscribe(conn_id, &sub_id, filters, tx.clone(), unix_now());
            for text in stored {
                tx.send(Outbound::Text(text)).await.map_err(drop)?;
            }
            tx.send(Outbound::Text(message::eose(&sub_id)))
                .await
                .map_err(drop)
        }
        Action::Unsubscribe { sub_id, filters } => {
            state.hub.unsubscribe(conn_id, &sub_id, &filters);
            Ok(())
        }
    }
}

/// Queues an admitted event on the signer pool; its verdict comes back as `OK` through `tx`.
///
/// A queue slot for the `OK` is reserved *before* the job is submitted, so the verdict can never be
/// dropped for lack of space (NIP-01: every EVENT gets an OK), the signer thread never blocks on a
/// slow client, and a client that does not read its socket stops being read (backpressure).
async fn submit(
    event: Event,
    state: &Arc<RelayState>,
    tx: &mpsc::Sender<Outbound>,
) -> Result<(), ()> {
    let permit = tx.clone().reserve_owned().await.map_err(drop)?;
    let id_hex = event.id_hex();
    let dedupe = state.dedupe.clone();
    let first_seen = Box::new(move |id: &[u8; 32]| dedupe.insert(*id, unix_now()));
    let done = Box::new(move |p: &Processed| {
        let text = match &p.accepted {
            Ok(()) if p.duplicate => {
                message::ok(&id_hex, true, "duplicate: already have this event")
            }
            Ok(()) => message::ok(&id_hex, true, ""),
            Err(refusal) => message::ok(&id_hex, false, &refusal.message()),
        };
        permit.send(Outbound::Text(text));
    });
    let job = Job {
        event,
        first_seen,
        done,
    };
    match state.submitter.try_submit(job) {
        Ok(()) => Ok(()),
        Err(job) => {
            let text = message::ok(
                &job.event.id_hex(),
                false,
                "rate-limited: the signer is busy; retry shortly",
            );
            // The job (and its reserved slot) is dropped first, so this send has room.
            drop(job);
            tx.send(Outbound::Text(text)).await.map_err(drop)
        }
    }
}

/// Writes queued messages. Everything already queued when the writer wakes (up to
/// [`WRITE_BATCH`] messages) is framed into the write buffer and sent with one flush — typically an
/// `OK` and the response `EVENT` for the same request, or a batch of responses from one signer hand-over
/// — so a busy connection costs one `write` syscall per wake-up rather than one per message.
async fn write_loop(
    mut write: fastwebsockets::WebSocketWrite<WriteHalf>,
    mut rx: mpsc::Receiver<Outbound>,
) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(msg) = next.take() {
            let (frame, last) = match msg {
                Outbound::Text(text) => (Frame::text(Payload::Owned(text.into_bytes())), false),
                Outbound::Pong(payload) => (Frame::pong(Payload::Owned(payload)), false),
                Outbound::Close(code, reason) => (Frame::close(code, reason.as_bytes()), true),
                Outbound::CloseEcho(payload) => (Frame::close_raw(Payload::Owned(payload)), true),
            };
            if write.write_frame(frame).await.is_err() {
                return;
            }
            if last {
                let _ = write.flush().await;
                return;
            }
            written += 1;
            if written < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if write.flush().await.is_err() {
            return;
        }
    }
}

impl Admission for RelayState {
    fn is_hosted(&self, pk: &[u8; 32]) -> bool {
        self.bunker.is_hosted(pk)
    }

    fn seen(&self, id: &[u8; 32]) -> bool {
        self.dedupe.contains(id)
    }
}
