//! [`Coalesce`]: a write buffer that exists only while there is something to write.
//!
//! A connection's writer frames every message it has queued into one buffer and sends it with one
//! `write` syscall at the flush (see `conn::write_loop`). `tokio::io::BufWriter` would do that, but
//! it allocates its buffer up front and keeps it for the connection's life: with 10,000 idle
//! subscribers that is 10,000 idle buffers. `Coalesce` allocates on the first write after a flush and
//! frees the buffer once it is written out, so an idle connection holds none.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWrite;

/// Bytes buffered before a write goes out without waiting for the flush.
const HIGH_WATER: usize = 64 * 1024;

/// Capacity reserved by the first write after a flush: an `OK` and a typical `EVENT` response fit.
const FIRST_CAPACITY: usize = 4 * 1024;

/// An [`AsyncWrite`] that buffers writes until flushed (or until [`HIGH_WATER`] bytes are pending),
/// then writes them to `inner` and releases the buffer.
#[derive(Debug)]
pub(crate) struct Coalesce<W> {
    inner: W,
    buf: Vec<u8>,
    /// Bytes of `buf` already written to `inner`.
    sent: usize,
}

impl<W: AsyncWrite + Unpin> Coalesce<W> {
    pub(crate) fn new(inner: W) -> Self {
        Coalesce {
            inner,
            buf: Vec::new(),
            sent: 0,
        }
    }

    /// Writes out the whole buffer, then frees it.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.buf = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Coalesce<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.len() >= HIGH_WATER {
            ready!(this.poll_drain(cx))?;
        }
        if this.buf.capacity() == 0 {
            this.buf.reserve(data.len().max(FIRST_CAPACITY));
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn holds_writes_until_flush_then_frees_the_buffer() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut w = Coalesce::new(a);
        w.write_all(b"hello ").await.unwrap();
        w.write_all(b"world").await.unwrap();
        assert_eq!(w.buf, b"hello world");
        w.flush().await.unwrap();
        assert_eq!(w.buf.capacity(), 0, "buffer released after the flush");
        let mut got = [0u8; 11];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello world");
    }

    #[tokio::test]
    async fn writes_out_past_the_high_water_mark_without_a_flush() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut w = Coalesce::new(a);
        let chunk = vec![7u8; HIGH_WATER];
        w.write_all(&chunk).await.unwrap();
        w.write_all(b"x").await.unwrap();
        assert_eq!(
            w.buf, b"x",
            "the full buffer went out before the next write"
        );
        let mut got = vec![0u8; HIGH_WATER];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got, chunk);
    }
}
