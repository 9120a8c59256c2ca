//! One client connection: TLS handshake if the listener has TLS, HTTP/1.1 or HTTP/2 by what the
//! client speaks, and its part in shutdown.
//!
//! A connection that has not sent a complete first request within [`FIRST_REQUEST_TIMEOUT`] is
//! closed (hyper's HTTP/1 header timeout covers the requests after it), so slow or silent
//! clients cannot pile up.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::headers::{self, Forwarding};
use crate::lifecycle::{Lifecycle, Phase};
use crate::plane::Shared;
use crate::proxy;

/// A TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first request's headers must arrive within this after the connection opens.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request on one connection shares.
pub(crate) struct ConnInfo {
    pub(crate) shared: Arc<Shared>,
    /// The listener's address, which picks the load balancer with `Host`.
    pub(crate) local: SocketAddr,
    /// The peer's address: the client for geo steering and the forwarding headers.
    pub(crate) client: IpAddr,
    pub(crate) forwarding: Forwarding,
    pub(crate) lifecycle: Lifecycle,
    served: AtomicBool,
}

// === impl ConnInfo ===

impl ConnInfo {
    pub(crate) fn new(
        shared: Arc<Shared>,
        local: SocketAddr,
        peer: SocketAddr,
        tls: bool,
        lifecycle: Lifecycle,
    ) -> Self {
        let client = peer.ip().to_canonical();
        Self {
            shared,
            local,
            client,
            forwarding: Forwarding::new(client, tls),
            lifecycle,
            served: AtomicBool::new(false),
        }
    }

    /// Notes that a request arrived.
    pub(crate) fn mark_served(&self) {
        if !self.served.load(Ordering::Relaxed) {
            self.served.store(true, Ordering::Relaxed);
        }
    }

    fn has_served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
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
    let service = service_fn(move |request| {
        let conn = Arc::clone(&for_service);
        async move {
            let mut response = proxy::handle(conn, request).await;
            headers::ensure_date(response.headers_mut());
            Ok::<_, Infallible>(response)
        }
    });
    let mut connection = pin!(builder.serve_connection_with_upgrades(io, service));
    // Dropped once the first request is in, so that later wake-ups of this task no longer poll
    // (or keep) a timer.
    let mut first_request = Some(Box::pin(tokio::time::sleep(FIRST_REQUEST_TIMEOUT)));
    let mut first_request_due = pin!(poll_fn(|cx| match &mut first_request {
        Some(timer) if !conn.has_served() => timer.as_mut().poll(cx),
        _ => {
            first_request = None;
            Poll::Pending
        }
    }));
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
            () = &mut first_request_due, if !stopping => {
                tracing::debug!(client = %conn.client, "no request in time; closing the connection");
                stopping = true;
                connection.as_mut().graceful_shutdown();
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

/// Polls its future only once that future woke the task, rather than on every wake-up of the
/// task: a connection's task wakes several times per request, its lifecycle almost never, and
/// polling a watch receiver takes a lock.
struct OnWake<F> {
    future: Pin<Box<F>>,
    flag: Arc<WakeFlag>,
    waker: Waker,
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
        }
    }
}

impl<F: Future> Future for OnWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
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
