//! How long one admin connection may wait: for a request head, and idle between requests.
//!
//! hyper's `header_read_timeout` starts when a connection begins to wait for a head, so on a
//! kept-alive connection it also bounds the idle time before the next request: one timer cannot
//! give a short header limit and a longer idle one. Instead the connection's reads, its requests
//! and their response bodies report to an [`Activity`], whose [`expired`](Activity::expired)
//! resolves once the connection has waited too long, as in nginx:
//!
//! - a new connection must send its first head within `header_timeout` of being accepted;
//! - after a response, it may stay silent for `idle_timeout`; from the first byte of the next
//!   head, that head must be complete within `header_timeout`;
//! - while a request is in flight (until its response body has been handed to hyper in full)
//!   nothing expires, so a long response, such as a stream being written, is never cut.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use hyper::body::{Frame, SizeHint};
use lifeline_model::AdminLimits;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Which limit cut a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    Header,
    Idle,
}

/// What one connection is doing, shared by its I/O, its requests and its watchdog.
pub(crate) struct Activity {
    limits: AdminLimits,
    waiting: Mutex<Waiting>,
    /// Wakes the watchdog when a deadline starts.
    changed: Notify,
}

struct Waiting {
    /// Requests whose response body has not ended.
    in_flight: usize,
    /// When the last response ended (or the connection was accepted).
    since: Instant,
    /// When the head being waited for began: its first byte, or the accept for the first head.
    head_started: Option<Instant>,
}

/// A request in flight; dropping it (with its response body) starts the idle time.
pub(crate) struct InFlight(Arc<Activity>);

/// A response body that keeps its request in flight until hyper drops it.
pub(crate) struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

/// The connection's socket, reporting every read that brings bytes.
pub(crate) struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

// === impl Activity ===

impl Activity {
    /// A connection accepted now: its first head is due within `header_timeout`.
    pub(crate) fn new(limits: AdminLimits) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            limits,
            waiting: Mutex::new(Waiting {
                in_flight: 0,
                since: now,
                head_started: Some(now),
            }),
            changed: Notify::new(),
        })
    }

    /// A complete request head arrived: nothing expires until its response has been written.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        let mut waiting = self.waiting();
        waiting.in_flight += 1;
        waiting.head_started = None;
        InFlight(Arc::clone(self))
    }

    /// Resolves when the connection has waited longer than it may, with the limit it broke.
    pub(crate) async fn expired(&self) -> Expiry {
        loop {
            let changed = self.changed.notified();
            match self.deadline() {
                None => changed.await,
                Some((at, expiry)) if at <= Instant::now() => return expiry,
                Some((at, _)) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = changed => {}
                },
            }
        }
    }

    fn deadline(&self) -> Option<(Instant, Expiry)> {
        let waiting = self.waiting();
        if waiting.in_flight > 0 {
            return None;
        }
        Some(match waiting.head_started {
            Some(started) => (started + self.limits.header_timeout, Expiry::Header),
            None => (waiting.since + self.limits.idle_timeout, Expiry::Idle),
        })
    }

    fn read_bytes(&self) {
        let mut waiting = self.waiting();
        if waiting.in_flight == 0 && waiting.head_started.is_none() {
            waiting.head_started = Some(Instant::now());
            drop(waiting);
            self.changed.notify_one();
        }
    }

    fn response_ended(&self) {
        let mut waiting = self.waiting();
        waiting.in_flight -= 1;
        if waiting.in_flight == 0 {
            waiting.since = Instant::now();
            drop(waiting);
            self.changed.notify_one();
        }
    }

    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// === impl InFlight ===

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.response_ended();
    }
}

// === impl TrackedBody ===

impl TrackedBody {
    pub(crate) fn new(body: Body, in_flight: InFlight) -> Self {
        Self {
            body,
            _in_flight: in_flight,
        }
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

// === impl Watched ===

impl Watched {
    pub(crate) fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Self { stream, activity }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read_bytes();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const LIMITS: AdminLimits = AdminLimits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 1,
    };

    /// How long `activity.expired()` takes from now, on the paused clock.
    async fn expires_after(activity: &Activity) -> (Duration, Expiry) {
        let start = Instant::now();
        let expiry = activity.expired().await;
        (start.elapsed(), expiry)
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_head_is_due_a_header_timeout_after_the_accept() {
        let activity = Activity::new(LIMITS);
        tokio::time::advance(Duration::from_secs(4)).await;
        activity.read_bytes();
        assert_eq!(
            expires_after(&activity).await,
            (Duration::from_secs(6), Expiry::Header)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_response_the_idle_time_runs_then_the_header_time_from_the_first_byte() {
        let activity = Activity::new(LIMITS);
        drop(activity.request());
        assert_eq!(
            expires_after(&activity).await,
            (Duration::from_secs(60), Expiry::Idle)
        );

        drop(activity.request());
        let watchdog = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { expires_after(&activity).await }
        });
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_secs(30)).await;
        activity.read_bytes();
        assert_eq!(
            watchdog.await.unwrap(),
            (Duration::from_secs(40), Expiry::Header)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_expires_while_a_response_is_being_written() {
        let activity = Activity::new(LIMITS);
        let in_flight = activity.request();
        let watchdog = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { expires_after(&activity).await }
        });
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_secs(3600)).await;
        tokio::task::yield_now().await;
        assert!(!watchdog.is_finished(), "cut while in flight");
        drop(in_flight);
        assert_eq!(
            watchdog.await.unwrap(),
            (Duration::from_secs(3660), Expiry::Idle)
        );
    }
}
