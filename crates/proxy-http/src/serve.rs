//! The accept loop of one listener, and its shutdown: stop accepting, let what is in flight
//! finish until the drain deadline, then close what is left.
//!
//! hyper's own `Date` header is off: origins send theirs, which passes through, and
//! [`headers::ensure_date`](crate::headers::ensure_date) adds one where it is missing, sparing
//! every response two clock reads.
//!
//! Limits on client input live here: request headers larger than [`MAX_HEADER_BYTES`] get 431
//! (HTTP/1.1, from hyper) or are refused (HTTP/2). How long headers may take is the connection's
//! watchdog's business ([`conn`]), not hyper's header timeout, which sets and clears a timer for
//! every request.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::conn::{self, ConnInfo, ConnLimits};
use crate::error;
use crate::lifecycle;
use crate::plane::Shared;

/// Request headers (and the HTTP/1.1 read buffer) may not exceed this.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// HTTP/2 pings on idle connections, to drop clients that vanished.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Pauses after accept errors that may pass (out of file descriptors): the first, doubled while
/// they go on, up to the last.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send,
    drain_deadline: Duration,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let builder = Arc::new(builder());
    let acceptor = tls.map(TlsAcceptor::from);
    let (mut control, lifecycle) = lifecycle::new();
    let mut shutdown = std::pin::pin!(shutdown);
    // Read once: a reload does not resize a listener that is running.
    let max_connections = shared.current.load().proxy.max_connections;
    let slots = Arc::new(Semaphore::new(max_connections as usize));
    let mut backoff = Backoff::default();
    loop {
        // At the limit, the listener stops accepting: new clients wait in the kernel's
        // backlog until a connection ends.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_closed) => break,
            },
        };
        if slots.available_permits() == 0 {
            tracing::debug!(%local, max_connections, "listener at its connection limit");
        }
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff.recovered(local);
                    let proxy = shared.current.load().proxy;
                    let limits = ConnLimits {
                        idle_timeout: proxy.idle_timeout,
                        send_timeout: proxy.send_timeout,
                    };
                    let conn = ConnInfo::new(
                        Arc::clone(&shared),
                        local,
                        peer,
                        acceptor.is_some(),
                        lifecycle.clone(),
                        limits,
                    );
                    let run = conn::run(Arc::clone(&builder), acceptor.clone(), stream, conn);
                    tokio::spawn(async move {
                        run.await;
                        drop(slot);
                    });
                }
                Err(err) if is_transient(&err) => backoff.pause(local, &err).await,
                Err(err) => {
                    control.close();
                    return Err(err);
                }
            },
        }
    }
    drop(listener);
    control.drain();
    drop(lifecycle);
    if tokio::time::timeout(drain_deadline, control.finished())
        .await
        .is_err()
    {
        tracing::warn!(%local, "drain deadline passed; closing the connections left");
        control.close();
    }
    Ok(())
}

/// Backing off while accepting fails for a passing reason: one warning per spell, not one per
/// failed accept, and never a busy loop.
#[derive(Default)]
struct Backoff {
    pause: Option<Duration>,
    failures: u64,
}

// === impl Backoff ===

impl Backoff {
    async fn pause(&mut self, local: SocketAddr, err: &io::Error) {
        let pause = match self.pause {
            None => {
                tracing::warn!(%local, error = %err, "cannot accept connections now; backing off until it passes");
                ACCEPT_BACKOFF_FIRST
            }
            Some(pause) => (pause * 2).min(ACCEPT_BACKOFF_MAX),
        };
        self.pause = Some(pause);
        self.failures += 1;
        tokio::time::sleep(pause).await;
    }

    fn recovered(&mut self, local: SocketAddr) {
        if self.pause.take().is_some() {
            tracing::info!(%local, failed_accepts = self.failures, "accepting connections again");
            self.failures = 0;
        }
    }
}

fn builder() -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .header_read_timeout(None)
        .max_buf_size(MAX_HEADER_BYTES)
        .writev(false)
        .keep_alive(true)
        .auto_date_header(false);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT)
        .auto_date_header(false);
    builder
}

/// Accept errors that concern one connection or a passing shortage, not the listener.
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || error::is_exhaustion(err)
}
