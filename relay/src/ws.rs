//! Server-side websocket framing (RFC 6455 §5) for the relay's connections, after the HTTP upgrade.
//!
//! Why our own: an idle subscriber must cost almost nothing (benches/README.md, idle subscribers), and fastwebsockets
//! allocates an 8 KiB read buffer per connection up front and keeps it. [`FrameReader`] holds **no
//! buffer while idle**: it waits for the socket to be readable first, reads what is there into a
//! buffer sized for it, and frees the buffer as soon as every byte is consumed. It is also
//! cancel-safe (all state lives in `self`; the only await is readiness), which fastwebsockets'
//! `read_frame` is not. [`encode`] frames outgoing messages (server frames are never masked).
//!
//! Checked on every client frame (each failure is a [`ReadError`] naming the close code to send):
//! the mask bit is set (§5.1: client frames MUST be masked), the RSV bits are 0 (no extension is
//! negotiated), the opcode is defined, control frames are final and at most 125 bytes (§5.5), the
//! 64-bit length has its top bit clear, and the payload is at most the caller's cap (1009). UTF-8 of
//! text messages is checked by the caller once a fragmented message is whole.
//!
//! Main items: [`FrameReader`], [`Frame`], [`OpCode`], [`encode`].

use std::io;
use tokio::net::tcp::OwnedReadHalf;

/// Bytes reserved for the first read after an idle period: a typical NIP-46 request frame (≈ 1 KiB)
/// and a few pipelined ones fit.
const FIRST_READ: usize = 4 * 1024;

/// Frame opcodes (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// One decoded (unmasked) frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) fin: bool,
    pub(crate) opcode: OpCode,
    pub(crate) payload: Vec<u8>,
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the TCP connection (or it failed); nothing to send.
    Gone,
    /// The peer broke the protocol: close with this code and reason.
    Protocol(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Gone
    }
}

/// Reads client frames from the socket's read half. See the module docs for the memory policy.
#[derive(Debug)]
pub(crate) struct FrameReader {
    stream: OwnedReadHalf,
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    start: usize,
    max_payload: usize,
}

impl FrameReader {
    /// A reader over `stream`, starting with `leftover` (bytes the HTTP layer read past the upgrade
    /// request), refusing frames whose payload exceeds `max_payload` bytes.
    pub(crate) fn new(stream: OwnedReadHalf, leftover: Vec<u8>, max_payload: usize) -> Self {
        FrameReader {
            stream,
            buf: leftover,
            start: 0,
            max_payload,
        }
    }

    /// The socket's read half and the bytes read from it but not yet decoded (a partial frame, or
    /// whole frames not yet asked for): what a reader for the same stream must start from
    /// ([`FrameReader::new`]'s `leftover`).
    pub(crate) fn into_parts(mut self) -> (OwnedReadHalf, Vec<u8>) {
        self.buf.drain(..self.start);
        (self.stream, self.buf)
    }

    /// Bytes currently held (0 while idle).
    #[cfg(test)]
    pub(crate) fn buffered_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The next frame.
    ///
    /// # Errors
    ///
    /// [`ReadError::Gone`] at end of stream or on a socket error; [`ReadError::Protocol`] with the
    /// close code (1002 protocol error, 1009 too big) for a bad frame.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: bytes are only moved from the socket into `self` synchronously, after
    /// readiness; a cancelled call loses nothing.
    pub(crate) async fn read_frame(&mut self) -> Result<Frame, ReadError> {
        loop {
            if let Some(frame) = self.parse()? {
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    /// Reads once from the socket into the buffer, allocating it if idle.
    async fn fill(&mut self) -> Result<(), ReadError> {
        loop {
            self.stream.readable().await?;
            if self.start > 0 && self.start == self.buf.len() {
                self.buf.clear();
                self.start = 0;
            } else if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            if self.buf.capacity() - self.buf.len() < FIRST_READ / 2 {
                self.buf.reserve(FIRST_READ);
            }
            match self.stream.try_read_buf(&mut self.buf) {
                Ok(0) => return Err(ReadError::Gone),
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.release_if_empty(),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn release_if_empty(&mut self) {
        if self.start == self.buf.len() {
            self.buf = Vec::new();
            self.start = 0;
        }
    }

    /// Decodes one frame from the buffer if it is complete.
    fn parse(&mut self) -> Result<Option<Frame>, ReadError> {
        let bytes = &self.buf[self.start..];
        if bytes.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (bytes[0], bytes[1]);
        if b0 & 0x70 != 0 {
            return Err(ReadError::Protocol(1002, "reserved bits set"));
        }
        let opcode =
            OpCode::from_bits(b0 & 0x0F).ok_or(ReadError::Protocol(1002, "unknown opcode"))?;
        let fin = b0 & 0x80 != 0;
        if b1 & 0x80 == 0 {
            return Err(ReadError::Protocol(1002, "client frames must be masked"));
        }
        let (len, mut at) = match b1 & 0x7F {
            126 => {
                let Some(ext) = bytes.get(2..4) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([ext[0], ext[1]])), 4)
            }
            127 => {
                let Some(ext) = bytes.get(2..10) else {
                    return Ok(None);
                };
                let len = u64::from_be_bytes(ext.try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err(ReadError::Protocol(1002, "invalid frame length"));
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        if opcode.is_control() && (!fin || len > 125) {
            return Err(ReadError::Protocol(
                1002,
                "control frames must be final and at most 125 bytes",
            ));
        }
        if len > self.max_payload as u64 {
            return Err(ReadError::Protocol(1009, "message too large"));
        }
        let len = usize::try_from(len).expect("bounded by max_payload");
        let Some(mask) = bytes.get(at..at + 4) else {
            return Ok(None);
        };
        let mask: [u8; 4] = mask.try_into().expect("4 bytes");
        at += 4;
        let Some(masked) = bytes.get(at..at + len) else {
            // Make room for the rest of this frame in one allocation.
            let need = at + len;
            if self.buf.capacity() < self.start + need {
                self.buf.reserve(self.start + need - self.buf.len());
            }
            return Ok(None);
        };
        let payload: Vec<u8> = masked
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        self.start += at + len;
        self.release_if_empty();
        Ok(Some(Frame {
            fin,
            opcode,
            payload,
        }))
    }
}

/// Appends one unmasked server frame (`fin` set) carrying `payload` to `out` (RFC 6455 §5.2).
pub(crate) fn encode(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    out.push(0x80 | opcode.bits());
    match payload.len() {
        n @ 0..=125 => out.push(u8::try_from(n).expect("≤ 125")),
        n @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&u16::try_from(n).expect("≤ 65535").to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// A close frame's payload: the status code (big-endian) and a UTF-8 reason (RFC 6455 §5.5.1).
pub(crate) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    payload
}

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;
