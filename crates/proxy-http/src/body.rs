//! Bodies on both sides of the proxy.
//!
//! [`RequestBody`] keeps a request body of up to [`REPLAY_LIMIT`] bytes so that a retry or a hedge
//! can send it again; a larger one streams once, as it arrives, and is handed to the first attempt
//! that actually reaches the origin (one that failed to connect never took it). [`OutBody`] is what
//! one attempt sends. [`ResponseBody`] is either an origin's answer ([`OriginBody`]), streamed as
//! it comes and carrying the attempt's bookkeeping until it ends, or one of the proxy's own
//! answers.

use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use prometheus_client::metrics::histogram::Histogram;

use crate::forward::AttemptGuard;
use crate::h1::{BodyError, PlainBody};
use crate::upload::{ClientBodyError, ClientFault, Pace, REPLAY_LIMIT, Stream, Unsent};

/// A request body as read before the first attempt.
pub(crate) enum RequestBody {
    /// The whole body (often empty): can be sent any number of times.
    Kept {
        data: Bytes,
        trailers: Option<Box<HeaderMap>>,
    },
    /// Larger than [`REPLAY_LIMIT`]: sent once.
    Streamed(Arc<Stream>),
}

/// The body one attempt sends. Kept small (the rare parts boxed): it travels inside the request
/// through every layer of the origin connection, moved at each.
pub(crate) enum OutBody {
    Kept {
        data: Bytes,
        trailers: Option<Box<HeaderMap>>,
    },
    Streamed {
        stream: Arc<Stream>,
        /// Taken from the slot on the first poll, when the origin is connected.
        taken: Option<Box<Unsent>>,
        started: bool,
    },
}

/// An origin's response body, by how the proxy talks to the origin.
pub(crate) enum OriginBody {
    Plain(PlainBody),
    Https(Incoming),
}

/// Why an origin's response body broke off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OriginBodyError {
    #[error(transparent)]
    Plain(#[from] BodyError),
    #[error(transparent)]
    Https(#[from] hyper::Error),
}

/// What the proxy answers a client with.
pub(crate) enum ResponseBody {
    Origin {
        body: OriginBody,
        /// Dropped with the body.
        _finish: Finish,
    },
    Local(Option<Bytes>),
}

/// Ends an answered attempt when its response body ends (or the client goes away): the origin's
/// request stops counting as in flight and the request's duration is observed.
pub(crate) struct Finish {
    /// Held until the body ends, for its drop.
    _attempt: AttemptGuard,
    duration: Histogram,
    started: Instant,
}

// === impl RequestBody ===

impl RequestBody {
    /// Reads up to [`REPLAY_LIMIT`] bytes of `body`, at the pace `client_body_timeout` sets. An
    /// error is the client's.
    pub(crate) async fn read(
        mut body: Incoming,
        client_body_timeout: Duration,
    ) -> Result<Self, ClientBodyError> {
        let empty = || RequestBody::Kept {
            data: Bytes::new(),
            trailers: None,
        };
        if body.is_end_stream() {
            return Ok(empty());
        }
        let mut pace = Pace::new(client_body_timeout);
        if body.size_hint().lower() > REPLAY_LIMIT as u64 {
            return Ok(Self::streamed(Bytes::new(), body, pace));
        }
        let mut kept = Collected::default();
        while let Some(frame) = pace.frame(&mut body).await {
            match frame?.into_data() {
                Ok(data) => {
                    kept.push(data);
                    if kept.len > REPLAY_LIMIT {
                        return Ok(Self::streamed(kept.into_bytes(), body, pace));
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        kept.trailers = Some(trailers);
                    }
                }
            }
        }
        let trailers = kept.trailers.take().map(Box::new);
        Ok(RequestBody::Kept {
            data: kept.into_bytes(),
            trailers,
        })
    }

    fn streamed(prefix: Bytes, rest: Incoming, pace: Pace) -> Self {
        let rest_hint = rest.size_hint();
        let mut hint = SizeHint::new();
        let prefix_len = prefix.len() as u64;
        hint.set_lower(rest_hint.lower().saturating_add(prefix_len));
        if let Some(upper) = rest_hint.upper() {
            hint.set_upper(upper.saturating_add(prefix_len));
        }
        let unsent = Unsent { prefix, rest, pace };
        RequestBody::Streamed(Arc::new(Stream::new(unsent, hint)))
    }

    /// The body while it streams in from the client, for an attempt's timing.
    pub(crate) fn upload(&self) -> Option<&Stream> {
        match self {
            RequestBody::Kept { .. } => None,
            RequestBody::Streamed(stream) => Some(stream),
        }
    }

    /// Whether the body can go out whole on another attempt (so hedging is possible).
    pub(crate) fn is_kept(&self) -> bool {
        matches!(self, RequestBody::Kept { .. })
    }

    /// Whether an attempt could still send the whole body.
    pub(crate) fn can_send(&self) -> bool {
        match self {
            RequestBody::Kept { .. } => true,
            RequestBody::Streamed(stream) => stream.slot().is_some(),
        }
    }

    /// What went wrong with the client's side of the body while it was being sent, if
    /// anything: then the attempt's failure is not the origin's.
    pub(crate) fn client_fault(&self) -> Option<ClientFault> {
        self.upload().and_then(Stream::fault)
    }

    pub(crate) fn for_attempt(&self) -> OutBody {
        match self {
            RequestBody::Kept { data, trailers } => OutBody::Kept {
                data: data.clone(),
                trailers: trailers.clone(),
            },
            RequestBody::Streamed(stream) => OutBody::Streamed {
                stream: Arc::clone(stream),
                taken: None,
                started: false,
            },
        }
    }
}

/// Chunks read so far, copied into one buffer only when there is more than one.
#[derive(Default)]
struct Collected {
    first: Bytes,
    more: Option<BytesMut>,
    len: usize,
    trailers: Option<HeaderMap>,
}

impl Collected {
    fn push(&mut self, data: Bytes) {
        self.len += data.len();
        if let Some(more) = &mut self.more {
            more.extend_from_slice(&data);
        } else if self.first.is_empty() {
            self.first = data;
        } else {
            let mut more = BytesMut::with_capacity(self.len);
            more.extend_from_slice(&self.first);
            more.extend_from_slice(&data);
            self.more = Some(more);
        }
    }

    fn into_bytes(self) -> Bytes {
        match self.more {
            Some(more) => more.freeze(),
            None => self.first,
        }
    }
}

// === impl OutBody ===

impl Body for OutBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        match self.get_mut() {
            OutBody::Kept { data, trailers } => {
                if !data.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(mem::take(data)))));
                }
                Poll::Ready(
                    trailers
                        .take()
                        .map(|trailers| Ok(Frame::trailers(*trailers))),
                )
            }
            OutBody::Streamed {
                stream,
                taken,
                started,
            } => {
                if !*started {
                    *started = true;
                    *taken = stream.slot().take();
                }
                let Some(unsent) = taken else {
                    return Poll::Ready(None);
                };
                if !unsent.prefix.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(mem::take(&mut unsent.prefix)))));
                }
                stream.poll_rest(unsent, cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Kept { data, trailers } => data.is_empty() && trailers.is_none(),
            OutBody::Streamed { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Kept { data, .. } => SizeHint::with_exact(data.len() as u64),
            OutBody::Streamed { stream, .. } => stream.hint,
        }
    }
}

// === impl OriginBody ===

impl Body for OriginBody {
    type Data = Bytes;
    type Error = OriginBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, OriginBodyError>>> {
        match self.get_mut() {
            OriginBody::Plain(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            OriginBody::Https(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OriginBody::Plain(body) => body.is_end_stream(),
            OriginBody::Https(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OriginBody::Plain(body) => body.size_hint(),
            OriginBody::Https(body) => body.size_hint(),
        }
    }
}

// === impl ResponseBody ===

impl ResponseBody {
    pub(crate) fn local(data: Bytes) -> Self {
        ResponseBody::Local(Some(data))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = OriginBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, OriginBodyError>>> {
        match self.get_mut() {
            ResponseBody::Origin { body, .. } => Pin::new(body).poll_frame(cx),
            ResponseBody::Local(data) => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Origin { body, .. } => body.is_end_stream(),
            ResponseBody::Local(data) => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Origin { body, .. } => body.size_hint(),
            ResponseBody::Local(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64))
            }
        }
    }
}

// === impl Finish ===

impl Finish {
    pub(crate) fn new(attempt: AttemptGuard, duration: Histogram, started: Instant) -> Self {
        Self {
            _attempt: attempt,
            duration,
            started,
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.duration.observe(self.started.elapsed().as_secs_f64());
    }
}
