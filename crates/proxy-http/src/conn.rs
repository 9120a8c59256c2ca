//! One client connection: TLS handshake if the listener has TLS, HTTP/1.1 or HTTP/2 by what the
//! client speaks, and its part in shutdown.
//!
//! A watchdog closes connections that hold the proxy up, so that slow or silent clients cannot
//! pile up:
//! - one that waits `idle_timeout` for a request's headers: it never sent a complete request,
//!   an HTTP/1.1 keep-alive connection was left idle, or its headers trickle in too slowly;
//! - one whose client takes nothing of an HTTP/1.1 answer for `send_timeout` while the answer
//!   is ready to go (the time an origin takes to send more is the origin's, not the client's).
//!
//! (HTTP/2 connections that have served a request stay; pings watch those.) The watchdog looks
//! a few times per timeout at counters that each request and answer bumps, rather than a timer
//! being set and cleared for every request as hyper's own header timeout does, which is a cost
//! on every request. A request body's pace is [`upload`](crate::upload)'s business.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http::{Request, Version};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::body::{OriginBodyError, ResponseBody};
use crate::headers::{self, Forwarding};
use crate::lifecycle::{Lifecycle, Phase};
use crate::plane::Shared;
use crate::proxy;

/// A TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The watchdog's checks per timeout (the shorter of the two): a connection goes between 1 and
/// 1 + 1/CHECKS times its timeout after its last activity (a second late at most, with the
/// default `idle_timeout`).
const WATCHDOG_CHECKS: u32 = 10;

/// What every request on one connection shares.
pub(crate) struct ConnInfo {
    pub(crate) shared: Arc<Shared>,
    /// The listener's address, which picks the load balancer with `Host`.
    pub(crate) local: SocketAddr,
    /// The peer's address: the client for geo steering and the forwarding headers.
    pub(crate) client: IpAddr,
    pub(crate) forwarding: Forwarding,
    pub(crate) lifecycle: Lifecycle,
    limits: ConnLimits,
    activity: Activity,
}

/// How long the client of one connection may keep the proxy waiting.
#[derive(Clone, Copy)]
pub(crate) struct ConnLimits {
    pub(crate) idle_timeout: Duration,
    pub(crate) send_timeout: Duration,
}

/// What the watchdog reads: requests begun, answers handed to hyper, answers finished, frames
/// of answers handed to hyper, whether the answer being written waits for its origin, and
/// whether the client speaks HTTP/2.
#[derive(Default)]
struct Activity {
    begun: AtomicU64,
    answered: AtomicU64,
    finished: AtomicU64,
    frames: AtomicU64,
    awaiting_origin: AtomicBool,
    http2: AtomicBool,
}

/// What the connection is doing, as the watchdog sees it at one check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watched {
    /// Waiting for a request's headers, after this many requests and answers.
    Waiting(u64, u64),
    /// Writing an answer that is ready, after this many frames.
    Sending(u64),
    /// Anything else: reading a body, waiting for an origin, or HTTP/2.
    Busy,
}

/// A response body that counts as finished once hyper drops it: written out, or abandoned.
struct Counted {
    body: ResponseBody,
    conn: Arc<ConnInfo>,
}

// === impl ConnInfo ===

impl ConnInfo {
    pub(crate) fn new(
        shared: Arc<Shared>,
        local: SocketAddr,
        peer: SocketAddr,
        tls: bool,
        lifecycle: Lifecycle,
        limits: ConnLimits,
    ) -> Self {
        let client = peer.ip().to_canonical();
        Self {
            shared,
            local,
            client,
            forwarding: Forwarding::new(client, tls),
            lifecycle,
            limits,
            activity: Activity::default(),
        }
    }

    fn request_began(&self, version: Version) {
        bump(&self.activity.begun);
        if version == Version::HTTP_2 && !self.activity.http2.load(Ordering::Relaxed) {
            self.activity.http2.store(true, Ordering::Relaxed);
        }
    }

    fn watched(&self) -> Watched {
        let activity = &self.activity;
        let begun = activity.begun.load(Ordering::Relaxed);
        if begun > 0 && activity.http2.load(Ordering::Relaxed) {
            return Watched::Busy;
        }
        let answered = activity.answered.load(Ordering::Relaxed);
        let finished = activity.finished.load(Ordering::Relaxed);
        if begun == finished {
            Watched::Waiting(begun, finished)
        } else if answered > finished && !activity.awaiting_origin.load(Ordering::Relaxed) {
            Watched::Sending(activity.frames.load(Ordering::Relaxed))
        } else {
            Watched::Busy
        }
    }
}

// === impl ConnLimits ===

impl ConnLimits {
    /// How long the client may leave the connection as it is while it does `watched`.
    fn allowed(&self, watched: Watched) -> Option<Duration> {
        match watched {
            Watched::Waiting(..) => Some(self.idle_timeout),
            Watched::Sending(_) => Some(self.send_timeout),
            Watched::Busy => None,
        }
    }
}

/// `counter += 1` without a locked instruction. HTTP/1.1 answers one request at a time, on the
/// connection's task; HTTP/2 streams run as tasks of their own and may race here, but the
/// watchdog stops reading the counts once a request came over HTTP/2.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Resolves once the client has left the connection waiting, or its answer unread, too long.
async fn stalled(conn: &ConnInfo) -> Watched {
    let limits = conn.limits;
    let check = limits.idle_timeout.min(limits.send_timeout) / WATCHDOG_CHECKS;
    // A new connection starts its wait now.
    let mut last = conn.watched();
    let mut quiet = Duration::ZERO;
    loop {
        tokio::time::sleep(check).await;
        let now = conn.watched();
        if now != last {
            last = now;
            quiet = Duration::ZERO;
            continue;
        }
        quiet += check;
        if limits.allowed(now).is_some_and(|allowed| quiet >= allowed) {
            return now;
        }
    }
}

/// Serves one accepted connection until it ends or the listener closes it.
pub(crate) async fn run(
    builder: Arc<Builder<TokioExecutor>>,
    tls: Option<TlsAcceptor>,
    stream: TcpStream,
    conn: ConnInfo,
) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY on a client connection");
    }
    let conn = Arc::new(conn);
    match tls {
        None => drive(&builder, TokioIo::new(stream), conn).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => drive(&builder, TokioIo::new(stream), conn).await,
                Ok(Err(err)) => {
                    tracing::debug!(client = %conn.client, error = %err, "TLS handshake failed");
                }
                Err(_elapsed) => {
                    tracing::debug!(client = %conn.client, "TLS handshake timed out");
                }
            }
        }
    }
}

async fn drive<I>(builder: &Builder<TokioExecutor>, io: TokioIo<I>, conn: Arc<ConnInfo>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut lifecycle = conn.lifecycle.clone();
    let for_service = Arc::clone(&conn);
    let service = service_fn(move |request: Request<Incoming>| {
        let conn = Arc::clone(&for_service);
        async move {
            conn.request_began(request.version());
            let mut response = proxy::handle(&conn, request).await;
            headers::ensure_date(response.headers_mut());
            bump(&conn.activity.answered);
            Ok::<_, Infallible>(response.map(|body| Counted { body, conn }))
        }
    });
    let mut connection = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut watchdog = OnWake::new(stalled(&conn));
    let mut stopping = false;
    loop {
        tokio::select! {
            biased;
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(client = %conn.client, error = %err, "client connection ended with an error");
                }
                return;
            }
            watched = &mut watchdog => {
                // Closed outright: a graceful shutdown would still wait for a head that is
                // trickling in, or for an answer nobody reads.
                match watched {
                    Watched::Sending(_) => tracing::debug!(client = %conn.client, "the client takes none of its answer; closing the connection"),
                    _ => tracing::debug!(client = %conn.client, "no request in time; closing the connection"),
                }
                return;
            }
            phase = OnWake::new(lifecycle.changed()) => match phase {
                Phase::Serving => {}
                Phase::Draining => {
                    if !stopping {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
                Phase::Closing => return,
            },
        }
    }
}

// === impl Counted ===

impl Body for Counted {
    type Data = Bytes;
    type Error = OriginBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, OriginBodyError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        let activity = &this.conn.activity;
        let awaiting_origin = polled.is_pending();
        if activity.awaiting_origin.load(Ordering::Relaxed) != awaiting_origin {
            activity
                .awaiting_origin
                .store(awaiting_origin, Ordering::Relaxed);
        }
        if let Poll::Ready(Some(Ok(_))) = &polled {
            bump(&activity.frames);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        bump(&self.conn.activity.finished);
    }
}

/// Polls its future only once that future woke the task, rather than on every wake-up of the
/// task: a connection's task wakes several times per request, its lifecycle and idle watchdog
/// almost never, and polling a watch receiver takes a lock. A poll that finds nothing to do
/// costs a load and a waker comparison, no atomic read-modify-write.
struct OnWake<F> {
    future: Pin<Box<F>>,
    flag: Arc<WakeFlag>,
    waker: Waker,
    /// The task's waker as last handed to `flag`: the same task need not register again until
    /// a wake-up has taken it.
    registered: Option<Waker>,
}

struct WakeFlag {
    woken: AtomicBool,
    task: AtomicWaker,
}

// === impl OnWake ===

impl<F: Future> OnWake<F> {
    fn new(future: F) -> Self {
        let flag = Arc::new(WakeFlag {
            // The first poll polls the future.
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Self {
            future: Box::pin(future),
            waker: Waker::from(Arc::clone(&flag)),
            flag,
            registered: None,
        }
    }
}

impl<F: Future> Future for OnWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let woken = this.flag.woken.load(Ordering::Acquire);
        // A wake-up takes the registered waker; until then it stays registered.
        if woken
            || !this
                .registered
                .as_ref()
                .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            this.flag.task.register(cx.waker());
            this.registered = Some(cx.waker().clone());
        }
        if !woken {
            return Poll::Pending;
        }
        // Cleared before the poll: a wake-up during it sets it again.
        this.flag.woken.store(false, Ordering::Release);
        this.future
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker))
    }
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}
