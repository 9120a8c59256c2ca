//! One connection to a plain-HTTP origin, with the buffers it keeps from request to request.
//!
//! Reads go through Tokio's `AsyncRead`, which marks the socket drained when a read returns less
//! than it asked for: the next read then waits for the reactor instead of trying the socket, and
//! an idle connection's readiness means something arrived (the origin closed it, or sent bytes it
//! should not have). That is what [`OriginConn::is_quiet`] reads, for free.

use std::future::{Future, poll_fn};
use std::io;
use std::mem::MaybeUninit;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Room made in the read buffer before each read.
const READ_SIZE: usize = 8 * 1024;

/// A request head (with a small body) usually fits this.
const WRITE_CAPACITY: usize = 1024;

/// A write buffer grown past this (by a large body) is not kept for the next request.
const MAX_KEPT_WRITE_CAPACITY: usize = 16 * 1024;

pub(crate) struct OriginConn {
    stream: TcpStream,
    /// Bytes read and not yet used: part of the response being read. Between responses it is
    /// empty; anything there would be an origin sending what nobody asked for.
    pub(crate) read_buf: BytesMut,
    /// What is being sent: a request head, with a small body.
    pub(crate) write_buf: Vec<u8>,
}

/// A write that failed, and whether any of it had gone out.
#[derive(Debug)]
pub(crate) struct WriteError {
    pub(crate) sent_any: bool,
    pub(crate) error: io::Error,
}

// === impl OriginConn ===

impl OriginConn {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            read_buf: BytesMut::with_capacity(READ_SIZE),
            write_buf: Vec::with_capacity(WRITE_CAPACITY),
        }
    }

    /// Reads what the socket has into `read_buf`: 0 at the end of the stream.
    pub(crate) fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read_buf.capacity() - self.read_buf.len() < READ_SIZE / 2 {
            self.read_buf.reserve(READ_SIZE);
        }
        pin!(self.stream.read_buf(&mut self.read_buf)).poll(cx)
    }

    pub(crate) async fn read_more(&mut self) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read_more(cx)).await
    }

    /// Reads what the socket has right now, if anything, without waiting.
    pub(crate) fn try_read_more(&mut self) -> io::Result<Option<usize>> {
        self.read_buf.reserve(READ_SIZE / 2);
        match self.stream.try_read_buf(&mut self.read_buf) {
            Ok(read) => Ok(Some(read)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Resolves once the origin has sent something (or closed).
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.stream.readable().await
    }

    /// Sends `write_buf` whole.
    pub(crate) async fn send_buffered(&mut self) -> Result<(), WriteError> {
        let mut sent = 0;
        while sent < self.write_buf.len() {
            match self.stream.write(&self.write_buf[sent..]).await {
                Ok(0) => {
                    return Err(WriteError {
                        sent_any: sent > 0,
                        error: io::ErrorKind::WriteZero.into(),
                    });
                }
                Ok(written) => sent += written,
                Err(error) => {
                    return Err(WriteError {
                        sent_any: sent > 0,
                        error,
                    });
                }
            }
        }
        Ok(())
    }

    /// Gives back the memory a large body took in the write buffer.
    pub(crate) fn shrink_write_buf(&mut self) {
        if self.write_buf.capacity() > MAX_KEPT_WRITE_CAPACITY {
            self.write_buf = Vec::with_capacity(WRITE_CAPACITY);
        }
    }

    /// Sends `data` whole, after what was sent before.
    pub(crate) async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data).await
    }

    /// Whether nothing has arrived on this idle connection, as far as the reactor knows: no
    /// system call unless it saw something, and then one `peek` to tell a spurious wake-up from
    /// a close or stray bytes.
    pub(crate) fn is_quiet(&self) -> bool {
        let mut byte = [MaybeUninit::uninit()];
        let mut buf = ReadBuf::uninit(&mut byte);
        let mut cx = Context::from_waker(Waker::noop());
        self.stream.poll_peek(&mut cx, &mut buf).is_pending()
    }

    /// The socket, and what was read past the response head: the origin's side of a tunnel.
    pub(crate) fn into_parts(self) -> (TcpStream, BytesMut) {
        (self.stream, self.read_buf)
    }
}
