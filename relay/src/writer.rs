//! A websocket connection's writer task: drains the connection's queue of [`Outbound`] messages
//! into its socket, and closes a connection whose client stops reading.
//!
//! Everything already queued when the writer wakes (up to [`WRITE_BATCH`] messages or
//! [`WRITE_BATCH_BYTES`]) is framed into one buffer and sent with as few `write`s as the socket
//! takes — typically an `OK` and the response `EVENT` for the same request, or a batch of responses
//! from one signer hand-over. The buffer is dropped after each batch, so an idle connection holds
//! none; the bytes of each `EVENT` stay charged to the connection's budget ([`crate::outbox`]) until
//! written.
//!
//! **Write timeout**: when the socket accepts no byte for [`crate::limits::Limits::write_timeout_secs`]
//! (its client does not read and both socket buffers are full), the connection is shut down both
//! ways: no close frame can reach a client that reads nothing (a partly written frame may even be
//! in the way), so the TCP connection ends, the reader sees it end, and the queue with everything
//! charged to it is dropped. Counted in `bunkerd_connections_closed_total{reason="write_timeout"}`.

use crate::fanout::{Outbound, Queued};
use crate::metrics::RelayMetrics;
use crate::outbox::Budget;
use crate::ws::{self, OpCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

/// Most messages framed into one batch.
const WRITE_BATCH: usize = 64;

/// Bytes past which a batch takes no more messages (one message may take it past: a batch holds at
/// least one).
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// What a writer hands back when its connection moves: the write half and the queue, with every
/// message queued after the hand-over still in it, in order.
pub(crate) type Handover = (OwnedWriteHalf, mpsc::Receiver<Queued>);

/// What a writer needs besides its socket and queue.
#[derive(Clone)]
pub(crate) struct Writer {
    /// The connection's budget, closed when the writer stops so a reader waiting for room stops
    /// waiting.
    pub(crate) budget: Arc<Budget>,
    /// `None`: no write timeout.
    pub(crate) stall: Option<Duration>,
    pub(crate) metrics: Arc<RelayMetrics>,
}

/// Writes queued messages until a close frame is written or the socket fails or stalls (`None`),
/// or until [`Outbound::Handover`], after writing everything queued before it: then it returns the
/// write half and the queue, for the connection's next I/O thread.
pub(crate) async fn write_loop(
    mut write: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Queued>,
    writer: Writer,
) -> Option<Handover> {
    while let Some(first) = rx.recv().await {
        let mut out = Vec::new();
        // Guards of tracked frames and charges of events, dropped once the write below is done
        // (or failed).
        let mut written = Vec::new();
        let mut charges = Vec::new();
        let mut next = Some(first);
        let mut framed = 0;
        let mut last = false;
        let mut handover = false;
        while let Some(msg) = next.take() {
            match *msg {
                Outbound::Text(text) => ws::encode(&mut out, OpCode::Text, text.as_bytes()),
                Outbound::Event(text, charge) => {
                    ws::encode(&mut out, OpCode::Text, text.as_bytes());
                    charges.push(charge);
                }
                Outbound::Tracked(text, guard) => {
                    ws::encode(&mut out, OpCode::Text, text.as_bytes());
                    written.push(guard);
                }
                Outbound::Pong(payload) => ws::encode(&mut out, OpCode::Pong, &payload),
                Outbound::Ping => ws::encode(&mut out, OpCode::Ping, b""),
                Outbound::Close(code, reason) => {
                    ws::encode(&mut out, OpCode::Close, &ws::close_payload(code, reason));
                    last = true;
                }
                Outbound::CloseEcho(payload) => {
                    // Echo the peer's status code (RFC 6455 §5.5.1); a close without one is answered
                    // with an empty close.
                    let echo = payload.get(..2).unwrap_or_default();
                    ws::encode(&mut out, OpCode::Close, echo);
                    last = true;
                }
                Outbound::Handover => handover = true,
            }
            framed += 1;
            if !last && !handover && framed < WRITE_BATCH && out.len() < WRITE_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        // The rest, if the socket is full, through a boxed future: the wait (readiness and a
        // timer) would otherwise sit in every idle connection's writer task.
        let result = match write_now(&mut write, &out) {
            Ok(n) if n == out.len() => Ok(()),
            Ok(n) => Box::pin(write_rest(&mut write, &out[n..], writer.stall)).await,
            Err(failed) => Err(failed),
        };
        match result {
            Ok(()) if !last => {}
            Ok(()) => {
                let _ = write.shutdown().await;
                break;
            }
            Err(Failed::Io) => break,
            Err(Failed::Stalled) => {
                writer
                    .metrics
                    .connections_closed
                    .with_label_values(&["write_timeout"])
                    .inc();
                // Both ways: the reader, waiting for a frame, sees the connection end.
                let _ = socket2::SockRef::from(write.as_ref()).shutdown(std::net::Shutdown::Both);
                break;
            }
        }
        drop((written, charges));
        if handover {
            return Some((write, rx));
        }
    }
    writer.budget.close();
    None
}

/// Why a write did not complete.
enum Failed {
    /// The socket failed (the peer is gone).
    Io,
    /// No byte was accepted for the stall timeout.
    Stalled,
}

/// Writes what the socket takes of `buf` now, without waiting: the number of bytes written.
fn write_now(write: &mut OwnedWriteHalf, buf: &[u8]) -> Result<usize, Failed> {
    let mut done = 0;
    while done < buf.len() {
        match write.try_write(&buf[done..]) {
            Ok(0) => return Err(Failed::Io),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(_) => return Err(Failed::Io),
        }
    }
    Ok(done)
}

/// Writes `buf` whole once the full socket has room; the timeout runs only while the socket
/// accepts nothing, so a slow reader that keeps reading is never cut off.
async fn write_rest(
    write: &mut OwnedWriteHalf,
    mut buf: &[u8],
    stall: Option<Duration>,
) -> Result<(), Failed> {
    while !buf.is_empty() {
        let ready = write.as_ref().writable();
        match stall {
            Some(stall) => match tokio::time::timeout(stall, ready).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Failed::Io),
                Err(_) => return Err(Failed::Stalled),
            },
            None => ready.await.map_err(|_| Failed::Io)?,
        }
        buf = &buf[write_now(write, buf)?..];
    }
    Ok(())
}
