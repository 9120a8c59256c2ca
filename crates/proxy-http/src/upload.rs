//! A client's request body on its way in: how fast the client must send it, and whose time a
//! slow upload is.
//!
//! Every [`REPLAY_LIMIT`] bytes of a body (and a shorter body whole) must arrive within the
//! proxy's `client_body_timeout` ([`Pace`]): a minimum rate, like Apache's `mod_reqtimeout`,
//! rather than nginx's timeout between two reads, which a byte a second never trips. A client
//! that falls behind gets 408.
//!
//! A body too large to keep streams to the origin as the client sends it ([`Stream`]), so an
//! attempt's `try_timeout` would otherwise run while the proxy waits for the client: a slow
//! upload would end in 504 and count against a healthy origin, and sixty slow clients could take
//! a whole pool out. So the origin's time starts again whenever the upload makes progress, and
//! does not run while the proxy waits for the client ([`Stream::answer_within`]). An origin that
//! stops reading the body stalls the upload without the proxy waiting for the client, and is
//! timed out as before.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::ErrorKind;

/// Request bodies up to this size are kept for retries and hedges; it is also the unit of the
/// client's pace.
pub(crate) const REPLAY_LIMIT: usize = 64 * 1024;

/// Why the client's request body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientBodyError {
    #[error("reading the request body: {0}")]
    Read(#[from] hyper::Error),
    #[error("the request body arrives too slowly")]
    TooSlow,
}

// === impl ClientBodyError ===

impl ClientBodyError {
    pub(crate) fn fault(&self) -> ClientFault {
        match self {
            ClientBodyError::Read(_) => ClientFault::Broken,
            ClientBodyError::TooSlow => ClientFault::TooSlow,
        }
    }
}

/// What went wrong on the client's side of a streamed body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientFault {
    /// The upload broke off (the client went away, or sent a malformed body).
    Broken,
    /// The client fell behind its pace.
    TooSlow,
}

/// The client's pace: each window of [`REPLAY_LIMIT`] bytes must arrive within `limit` of the
/// window's start. The timer is made only when the client first keeps the proxy waiting.
pub(crate) struct Pace {
    limit: Duration,
    window_start: Instant,
    left: usize,
    timer: Option<Pin<Box<Sleep>>>,
}

/// A streamed body, waiting in its slot until an attempt starts sending it, and what the
/// attempt's timing needs to know about the upload.
pub(crate) struct Stream {
    unsent: Mutex<Option<Box<Unsent>>>,
    pub(crate) hint: SizeHint,
    fault: AtomicU8,
    /// The body's reader is waiting for the client right now.
    waiting_on_client: AtomicBool,
    /// When the upload last made progress (a frame from the client, or its end), in
    /// microseconds since `created`.
    progress: AtomicU64,
    created: Instant,
}

pub(crate) struct Unsent {
    /// What was read while deciding whether to keep the body.
    pub(crate) prefix: Bytes,
    pub(crate) rest: Incoming,
    pub(crate) pace: Pace,
}

const NO_FAULT: u8 = 0;
const BROKEN: u8 = 1;
const TOO_SLOW: u8 = 2;

// === impl Pace ===

impl Pace {
    pub(crate) fn new(limit: Duration) -> Self {
        Self {
            limit,
            window_start: Instant::now(),
            left: REPLAY_LIMIT,
            timer: None,
        }
    }

    /// Polls `body` for its next frame, or fails once the client is behind its pace.
    pub(crate) fn poll_frame(
        &mut self,
        body: Pin<&mut Incoming>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        match body.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.took(data.len());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(ClientBodyError::Read(err)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = self.window_start + self.limit;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(ClientBodyError::TooSlow))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// The next frame of `body`, within the pace.
    pub(crate) async fn frame(
        &mut self,
        body: &mut Incoming,
    ) -> Option<Result<Frame<Bytes>, ClientBodyError>> {
        std::future::poll_fn(|cx| self.poll_frame(Pin::new(body), cx)).await
    }

    fn took(&mut self, bytes: usize) {
        if bytes < self.left {
            self.left -= bytes;
            return;
        }
        self.left = REPLAY_LIMIT;
        self.window_start = Instant::now();
        if let Some(timer) = &mut self.timer {
            timer.as_mut().reset(self.window_start + self.limit);
        }
    }
}

// === impl Stream ===

impl Stream {
    pub(crate) fn new(unsent: Unsent, hint: SizeHint) -> Self {
        Self {
            unsent: Mutex::new(Some(Box::new(unsent))),
            hint,
            fault: AtomicU8::new(NO_FAULT),
            waiting_on_client: AtomicBool::new(false),
            progress: AtomicU64::new(0),
            created: Instant::now(),
        }
    }

    pub(crate) fn slot(&self) -> MutexGuard<'_, Option<Box<Unsent>>> {
        self.unsent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn fault(&self) -> Option<ClientFault> {
        match self.fault.load(Ordering::Relaxed) {
            BROKEN => Some(ClientFault::Broken),
            TOO_SLOW => Some(ClientFault::TooSlow),
            _ => None,
        }
    }

    /// Polls the rest of the body for the attempt sending it, keeping the upload's bookkeeping.
    pub(crate) fn poll_rest(
        &self,
        unsent: &mut Unsent,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        let polled = unsent.pace.poll_frame(Pin::new(&mut unsent.rest), cx);
        let waiting = polled.is_pending();
        if self.waiting_on_client.load(Ordering::Relaxed) != waiting {
            self.waiting_on_client.store(waiting, Ordering::Relaxed);
        }
        match &polled {
            Poll::Pending => {}
            Poll::Ready(Some(Err(err))) => {
                let fault = match err.fault() {
                    ClientFault::Broken => BROKEN,
                    ClientFault::TooSlow => TOO_SLOW,
                };
                self.fault.store(fault, Ordering::Relaxed);
            }
            Poll::Ready(_) => self.progressed(),
        }
        polled
    }

    fn progressed(&self) {
        let since = Instant::now().saturating_duration_since(self.created);
        let micros = u64::try_from(since.as_micros()).unwrap_or(u64::MAX);
        self.progress.store(micros, Ordering::Relaxed);
    }

    /// When the origin's time is up: `try_timeout` after the upload last made progress, and
    /// never while the proxy is waiting for the client (whose pace then decides).
    fn origin_deadline(&self, try_timeout: Duration) -> Instant {
        if self.waiting_on_client.load(Ordering::Relaxed) {
            return Instant::now() + try_timeout;
        }
        let progress = Duration::from_micros(self.progress.load(Ordering::Relaxed));
        self.created + progress + try_timeout
    }

    /// Runs `send` (an attempt sending this body) until it ends or the origin's time is up:
    /// `deadline` at first, later as the upload moves it (see [`Stream::origin_deadline`]).
    pub(crate) async fn answer_within<T>(
        &self,
        try_timeout: Duration,
        mut deadline: Instant,
        send: impl Future<Output = Result<T, ErrorKind>>,
    ) -> Result<T, ErrorKind> {
        let mut send = pin!(send);
        loop {
            match tokio::time::timeout_at(deadline, send.as_mut()).await {
                Ok(result) => return result,
                Err(_elapsed) => {
                    let later = self.origin_deadline(try_timeout);
                    if later <= deadline {
                        return Err(ErrorKind::Timeout);
                    }
                    deadline = later;
                }
            }
        }
    }
}
