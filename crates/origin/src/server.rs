//! The accept loop: one task per connection, HTTP/1.1 with keep-alive, and a shutdown that
//! closes everything at once.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::behaviour::Behaviour;
use crate::routes::OriginState;

/// Pause after an accept error that may pass (too many open files, an aborted handshake).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Runs the origin `name` on `listener` until `shutdown` completes, starting with the default
/// [`Behaviour`] (200, no delay).
pub async fn serve(
    listener: TcpListener,
    name: String,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_with(listener, name, Behaviour::default(), shutdown).await
}

/// Like [`serve`], starting with `behaviour`.
///
/// When `shutdown` completes the listener and every open connection are closed at once, even in
/// the middle of a delayed answer. Returns an error only when accepting fails in a way that will
/// not pass; running out of file descriptors is logged and retried.
pub async fn serve_with(
    listener: TcpListener,
    name: String,
    behaviour: Behaviour,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let origin = Arc::new(OriginState::new(name, behaviour));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&origin)));
                }
                Err(err) if is_transient(&err) => {
                    tracing::warn!(error = %err, "origin cannot accept a connection now");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                Err(err) => return Err(err),
            },
            Some(joined) = connections.join_next() => {
                if let Err(err) = joined {
                    tracing::warn!(error = %err, "origin connection task failed");
                }
            }
        }
    }
}

/// Runs one origin per listener in this process, named `{name_prefix}{index}` in listener order
/// (`origin-0`, `origin-1`, ...), until `shutdown` completes. Returns the first error of any of
/// them, stopping the others.
pub async fn serve_many(
    listeners: Vec<TcpListener>,
    name_prefix: &str,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut servers = JoinSet::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        let name = format!("{name_prefix}{index}");
        servers.spawn(serve(listener, name, std::future::pending()));
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(joined) = servers.join_next() => joined.map_err(io::Error::other)??,
        }
    }
    servers.shutdown().await;
    Ok(())
}

async fn serve_connection(stream: TcpStream, origin: Arc<OriginState>) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
    let service = service_fn(move |request| Arc::clone(&origin).handle(request));
    if let Err(err) = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %err, "origin connection ended with an error");
    }
}

/// Accept errors that concern one connection or a passing shortage, not the listener.
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::OutOfMemory
    ) || matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
