//! One websocket connection: moves bytes between the socket and the [`Session`] state machine.
//!
//! The socket is split (style.md §5): a **reader** task reads frames and applies the session's actions,
//! and a **writer** task owns the write half and drains a bounded queue of [`Outbound`] messages fed by
//! the reader, the signer pool (`OK` verdicts) and the fan-out (`EVENT`s). fastwebsockets'
//! `read_frame` is not cancel-safe, so it sits in a `select!` only against shutdown, after which the
//! socket is never read again. Pings are answered with pongs (through the writer); messages are capped
//! at [`MAX_MESSAGE_BYTES`]. This module never sees key material.

use crate::fanout::{ConnId, Outbound};
use crate::message;
use crate::session::{Action, Admission, Session};
use crate::state::RelayState;
use fastwebsockets::{FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError};
use signer::nostr::{Event, PublicKey};
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

type Upgraded = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;

/// Serves an upgraded websocket until the peer leaves or the relay shuts down.
pub(crate) async fn serve(ws: fastwebsockets::WebSocket<Upgraded>, state: Arc<RelayState>) {
    let conn_id = state.next_conn_id();
    let mut ws = ws;
    ws.set_max_message_size(MAX_MESSAGE_BYTES);
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    let (read, write) = ws.split(tokio::io::split);
    let (tx, rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(write_loop(write, rx));
    let mut session = Session::new(state.limits);
    read_loop(
        FragmentCollectorRead::new(read),
        &mut session,
        &state,
        conn_id,
        &tx,
    )
    .await;
    for (sub_id, filters) in session.close_all() {
        state.hub.unsubscribe(conn_id, &sub_id, &filters);
    }
    drop(tx);
    // Pending OK verdicts hold sender clones; the writer ends when they are done or the socket is.
    let _ = writer.await;
}

async fn read_loop(
    mut read: FragmentCollectorRead<tokio::io::ReadHalf<Upgraded>>,
    session: &mut Session,
    state: &Arc<RelayState>,
    conn_id: ConnId,
    tx: &mpsc::Sender<Outbound>,
) {
    let control_tx = tx.clone();
    let mut obligated = move |frame: Frame<'_>| {
        let msg = match frame.opcode {
            OpCode::Pong => Outbound::Pong(frame.payload.to_vec()),
            _ => Outbound::CloseEcho(frame.payload.to_vec()),
        };
        let tx = control_tx.clone();
        async move { tx.send(msg).await }
    };
    loop {
        let frame = tokio::select! {
            frame = read.read_frame(&mut obligated) => frame,
            () = state.shutdown.cancelled() => {
                let _ = tx.send(Outbound::Close(1001, "relay shutting down")).await;
                return;
            }
        };
        match frame {
            Ok(frame) if frame.opcode == OpCode::Text => {
                let Ok(text) = std::str::from_utf8(&frame.payload) else {
                    return;
                };
                let actions = session.on_text(text, unix_now(), state.as_ref());
                for action in actions {
                    if apply(action, state, conn_id, tx).await.is_err() {
                        return;
                    }
                }
            }
            Ok(frame) if frame.opcode == OpCode::Binary => {
                let note = message::notice("invalid: binary frames are not NIP-01 messages");
                if tx.send(Outbound::Text(note)).await.is_err() {
                    return;
                }
            }
            Ok(frame) if frame.opcode == OpCode::Close => return,
            Ok(_) => {}
            Err(WebSocketError::FrameTooLarge) => {
                let _ = tx.send(Outbound::Close(1009, "message too large")).await;
                return;
            }
            Err(_) => return,
        }
    }
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
async fn submit(
    event: Event,
    state: &Arc<RelayState>,
    tx: &mpsc::Sender<Outbound>,
) -> Result<(), ()> {
    let id_hex = event.id_hex();
    let id = event.id;
    let verdict_tx = tx.clone();
    let verdict_state = state.clone();
    let done = Box::new(move |p: &Processed| {
        let text = match &p.accepted {
            Ok(()) => {
                verdict_state.dedupe.insert(id, unix_now());
                message::ok(&id_hex, true, "")
            }
            Err(refusal) => message::ok(&id_hex, false, &refusal.message()),
        };
        // Never block a signer thread on a slow client.
        let _ = verdict_tx.try_send(Outbound::Text(text));
    });
    match state.submitter.try_submit(Job { event, done }) {
        Ok(()) => Ok(()),
        Err(job) => {
            let text = message::ok(
                &job.event.id_hex(),
                false,
                "rate-limited: the signer is busy; retry shortly",
            );
            tx.send(Outbound::Text(text)).await.map_err(drop)
        }
    }
}

async fn write_loop(
    mut write: fastwebsockets::WebSocketWrite<tokio::io::WriteHalf<Upgraded>>,
    mut rx: mpsc::Receiver<Outbound>,
) {
    while let Some(msg) = rx.recv().await {
        let (frame, last) = match msg {
            Outbound::Text(text) => (Frame::text(Payload::Owned(text.into_bytes())), false),
            Outbound::Pong(payload) => (Frame::pong(Payload::Owned(payload)), false),
            Outbound::Close(code, reason) => (Frame::close(code, reason.as_bytes()), true),
            Outbound::CloseEcho(payload) => (Frame::close_raw(Payload::Owned(payload)), true),
        };
        if write.write_frame(frame).await.is_err() || last {
            break;
        }
    }
}

impl Admission for RelayState {
    fn is_hosted(&self, pk: &PublicKey) -> bool {
        self.bunker.is_hosted(pk)
    }

    fn seen(&self, id: &[u8; 32]) -> bool {
        self.dedupe.contains(id)
    }
}
