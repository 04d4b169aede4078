//! Fuzz target: the relay's websocket frame reader (`relay/src/ws.rs`, RFC 6455 §5).
//!
//! The module is private to the relay crate, so its source file is compiled into this target as
//! it is (`#[path]`): the same code, with no test-only door in the relay. The reader runs over a
//! real loopback socket that never receives anything; the input is handed to it as the bytes read
//! past the HTTP upgrade, and `read_frame` is polled until it would wait for the socket.
//!
//! Input: one byte choosing the payload cap (the relay's 128 KiB and edge values), then the
//! bytes a client sent.
//!
//! Checked: every frame respects the cap and the control-frame rules; a refusal carries close code
//! 1002 or 1009; the reader never reports the (connected) peer gone; what it leaves unread is a
//! suffix of the input; the buffer it holds is bounded by the input plus one capped frame; and the
//! frames re-encoded as canonical masked client frames (with the relay's own encoder) read back
//! identically, with nothing left over.

#![no_main]

#[allow(dead_code, unreachable_pub)]
#[path = "../../relay/src/ws.rs"]
mod ws;

use libfuzzer_sys::fuzz_target;
use std::future::Future;
use std::pin::pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use ws::{encode, Frame, FrameReader, OpCode, ReadError};

/// The relay's cap (`MAX_MESSAGE_BYTES` in relay/src/socket.rs), weighted, and edge values.
const CAPS: [usize; 8] = [
    128 * 1024,
    128 * 1024,
    128 * 1024,
    0,
    125,
    126,
    65_535,
    65_536,
];

/// A runtime and a connected loopback pair; the client side stays open and silent.
struct Rig {
    rt: tokio::runtime::Runtime,
    read: Option<OwnedReadHalf>,
    _write: OwnedWriteHalf,
    _client: TcpStream,
}

fn rig() -> &'static Mutex<Rig> {
    static RIG: OnceLock<Mutex<Rig>> = OnceLock::new();
    RIG.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        let (read, write, client) = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let client = TcpStream::connect(addr).await.expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            let (read, write) = server.into_split();
            (read, write, client)
        });
        Mutex::new(Rig {
            rt,
            read: Some(read),
            _write: write,
            _client: client,
        })
    })
}

/// What one pass of the reader over `bytes` gave.
struct Pass {
    frames: Vec<Frame>,
    refused: Option<(u16, &'static str)>,
    leftover: Vec<u8>,
}

fn read_all(bytes: Vec<u8>, max_payload: usize) -> Pass {
    let mut rig = rig().lock().expect("rig");
    let stream = rig.read.take().expect("read half");
    let entered = rig.rt.enter();
    let mut reader = FrameReader::new(stream, bytes, max_payload);
    let mut frames = Vec::new();
    let mut refused = None;
    loop {
        let poll = {
            let mut next = pin!(reader.read_frame());
            next.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        };
        match poll {
            Poll::Ready(Ok(frame)) => frames.push(frame),
            Poll::Ready(Err(ReadError::Protocol(code, reason))) => {
                refused = Some((code, reason));
                break;
            }
            Poll::Ready(Err(ReadError::Gone)) => panic!("reader says the connected peer is gone"),
            Poll::Pending => break,
        }
    }
    let (stream, leftover) = reader.into_parts();
    drop(entered);
    rig.read = Some(stream);
    Pass {
        frames,
        refused,
        leftover,
    }
}

/// `frame` as a client would send it: the relay's encoder, then the fin bit as decoded, the mask
/// bit and `mask` (RFC 6455 §5.3).
fn encode_masked(out: &mut Vec<u8>, frame: &Frame, mask: [u8; 4]) {
    let mut plain = Vec::new();
    encode(&mut plain, frame.opcode, &frame.payload);
    if !frame.fin {
        plain[0] &= 0x7F;
    }
    let header = match plain[1] {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    plain[1] |= 0x80;
    out.extend_from_slice(&plain[..header]);
    out.extend_from_slice(&mask);
    out.extend(
        plain[header..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4]),
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, input)) = data.split_first() else {
        return;
    };
    let max_payload = CAPS[usize::from(choice) % CAPS.len()];
    let pass = read_all(input.to_vec(), max_payload);

    for frame in &pass.frames {
        assert!(frame.payload.len() <= max_payload, "payload over the cap");
        if matches!(frame.opcode, OpCode::Close | OpCode::Ping | OpCode::Pong) {
            assert!(frame.fin && frame.payload.len() <= 125, "bad control frame");
        }
    }
    if let Some((code, _)) = pass.refused {
        assert!(code == 1002 || code == 1009, "close code {code}");
    }
    assert!(
        input.ends_with(&pass.leftover),
        "leftover is not the unread suffix"
    );
    let consumed = input.len() - pass.leftover.len();
    let least: usize = pass.frames.iter().map(|f| 6 + f.payload.len()).sum();
    assert!(consumed >= least, "frames longer than the bytes consumed");
    assert!(
        pass.leftover.capacity() <= 2 * input.len() + max_payload + 14,
        "buffer of {} bytes for {} input bytes",
        pass.leftover.capacity(),
        input.len()
    );

    let mut canonical = Vec::new();
    for (i, frame) in pass.frames.iter().enumerate() {
        let m = u8::try_from(i % 251).expect("small");
        encode_masked(&mut canonical, frame, [choice, m, !choice, m ^ 0x5A]);
    }
    let again = read_all(canonical, max_payload);
    assert_eq!(
        again.frames, pass.frames,
        "canonical re-encoding reads back differently"
    );
    assert!(again.refused.is_none(), "canonical re-encoding refused");
    assert!(
        again.leftover.is_empty(),
        "canonical re-encoding left bytes unread"
    );
});
