//! The body of a plain-HTTP origin's response, read from its connection as the client takes it.
//!
//! A small body that came whole with the head is already in hand, and its connection already
//! back in the pool. A longer one holds the connection and reads it frame by frame (by length,
//! chunked, or until the origin closes); once the body ends, the connection goes back to its
//! pool, if the origin keeps it alive and sent nothing more. A body dropped before its end (the
//! client went away) closes the connection: the rest of the response is still on it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::chunked::{ChunkedDecoder, ChunkedError, Step};
use super::conn::OriginConn;
use crate::origin_pool::OriginPool;

pub(crate) struct PlainBody {
    state: State,
}

enum State {
    /// In hand (`None` once given out).
    Whole(Option<Bytes>),
    /// Still on the connection. Boxed: the body is moved through hyper's layers.
    Reading(Box<Reading>),
    /// The answer was 101 and the connection is the tunnel's, once taken.
    Switched(Option<OriginConn>),
}

struct Reading {
    conn: OriginConn,
    pool: Arc<OriginPool>,
    left: Left,
    /// Whether the connection may serve another request once the body is read.
    reusable: bool,
}

enum Left {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// Why an origin's response body broke off. The client's connection is closed: its answer
/// cannot be completed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("the origin closed the connection before the end of the body")]
    Truncated,
    #[error("invalid chunked body: {0}")]
    Chunked(#[from] ChunkedError),
    #[error("reading the body: {0}")]
    Io(#[from] io::Error),
}

// === impl PlainBody ===

impl PlainBody {
    pub(crate) fn whole(data: Bytes) -> Self {
        Self {
            state: State::Whole(Some(data)),
        }
    }

    pub(crate) fn empty() -> Self {
        Self {
            state: State::Whole(None),
        }
    }

    pub(crate) fn switched(conn: OriginConn) -> Self {
        Self {
            state: State::Switched(Some(conn)),
        }
    }

    pub(crate) fn by_length(
        conn: OriginConn,
        pool: Arc<OriginPool>,
        length: u64,
        reusable: bool,
    ) -> Self {
        Self::reading(conn, pool, Left::Length(length), reusable)
    }

    pub(crate) fn chunked(conn: OriginConn, pool: Arc<OriginPool>, reusable: bool) -> Self {
        Self::reading(conn, pool, Left::Chunked(ChunkedDecoder::new()), reusable)
    }

    pub(crate) fn until_close(conn: OriginConn, pool: Arc<OriginPool>) -> Self {
        Self::reading(conn, pool, Left::UntilClose, false)
    }

    fn reading(conn: OriginConn, pool: Arc<OriginPool>, left: Left, reusable: bool) -> Self {
        Self {
            state: State::Reading(Box::new(Reading {
                conn,
                pool,
                left,
                reusable,
            })),
        }
    }

    /// The origin's connection after a 101, for the tunnel.
    pub(crate) fn take_switched(&mut self) -> Option<OriginConn> {
        match &mut self.state {
            State::Switched(conn) => conn.take(),
            _ => None,
        }
    }

    /// The body has ended: its connection goes back to the pool, if it can serve again.
    fn finish(&mut self) {
        if let State::Reading(reading) = std::mem::replace(&mut self.state, State::Whole(None)) {
            let Reading {
                conn,
                pool,
                reusable,
                ..
            } = *reading;
            pool.release(conn, Instant::now(), reusable);
        }
    }
}

impl Body for PlainBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        loop {
            let reading = match &mut this.state {
                State::Whole(data) => {
                    return Poll::Ready(data.take().map(|data| Ok(Frame::data(data))));
                }
                State::Switched(_) => return Poll::Ready(None),
                State::Reading(reading) => reading,
            };
            let buf = &mut reading.conn.read_buf;
            match &mut reading.left {
                Left::Length(left) => {
                    if *left == 0 {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    if !buf.is_empty() {
                        let take =
                            usize::try_from(*left).map_or(buf.len(), |left| left.min(buf.len()));
                        *left -= take as u64;
                        let data = buf.split_to(take).freeze();
                        if *left == 0 {
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Left::Chunked(decoder) => match decoder.step(buf) {
                    Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Step::Trailers(trailers)) => {
                        this.finish();
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                    }
                    Ok(Step::End) => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Step::NeedMore) => {}
                    Err(err) => return Poll::Ready(Some(Err(err.into()))),
                },
                Left::UntilClose => {
                    if !buf.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(buf.split().freeze()))));
                    }
                }
            }
            match ready!(reading.conn.poll_read_more(cx)) {
                Ok(0) if matches!(reading.left, Left::UntilClose) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(0) => return Poll::Ready(Some(Err(BodyError::Truncated))),
                Ok(_) => {}
                Err(err) => return Poll::Ready(Some(Err(err.into()))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Whole(data) => data.is_none(),
            State::Reading(reading) => matches!(reading.left, Left::Length(0)),
            State::Switched(_) => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Whole(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64))
            }
            State::Reading(reading) => match reading.left {
                Left::Length(left) => SizeHint::with_exact(left),
                Left::Chunked(_) | Left::UntilClose => SizeHint::default(),
            },
            State::Switched(_) => SizeHint::with_exact(0),
        }
    }
}
