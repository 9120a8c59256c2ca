//! The accept loop of one endpoint, and its shutdown: stop accepting, tell every connection
//! (waiting or proxied) to close, and return once they all have.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::conn::{self, Endpoint};
use crate::metrics::TcpMetrics;
use crate::route::Route;

/// Pause after an accept error that concerns more than one connection (out of file
/// descriptors, say), so the loop does not spin until it passes.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Serves one endpoint (e.g. `main/writer`) until `shutdown` resolves; then stops accepting
/// and closes every connection, waiting or proxied, before it returns.
///
/// A new connection goes to a backend of the current `route`, round-robin; while the route
/// holds (no backends) it waits at most `wait` (its value when the connection starts waiting)
/// for one. Fails only when the listener has no
/// local address; accept errors are logged and the loop goes on.
pub async fn serve(
    name: &str,
    listener: TcpListener,
    route: watch::Receiver<Arc<Route>>,
    wait: watch::Receiver<Duration>,
    metrics: TcpMetrics,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let endpoint = Arc::new(Endpoint::new(name, wait, &metrics));
    let (stop, stopping) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(endpoint = name, %local, "endpoint listening");
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    tokio::spawn(conn::run(
                        Arc::clone(&endpoint),
                        client,
                        peer,
                        route.clone(),
                        stopping.clone(),
                    ));
                }
                Err(err) if is_per_connection(&err) => {
                    tracing::debug!(
                        endpoint = name,
                        %local,
                        error = %err,
                        "a connection failed before it was accepted"
                    );
                }
                Err(err) => {
                    tracing::warn!(
                        endpoint = name,
                        %local,
                        error = %err,
                        "cannot accept a connection now"
                    );
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    drop(stopping);
    stop.send_replace(());
    stop.closed().await;
    tracing::info!(endpoint = name, %local, "endpoint stopped");
    Ok(())
}

/// Accept errors that concern only the connection being accepted.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
