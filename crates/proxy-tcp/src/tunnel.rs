//! Copying bytes between a client and its backend until either side closes, or until a new
//! route no longer has the backend: then both sockets close at once, so that after a failover
//! no client sends one more query to the old primary. Each connection watches the route
//! itself; no registry of connections is needed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::conn::Endpoint;
use crate::open::Opened;
use crate::route::{Backend, Route};

/// Why a tunnel ended.
enum End {
    /// Both sides finished (bytes from the client, bytes from the backend), or one failed.
    Closed(io::Result<(u64, u64)>),
    /// A new route no longer has the backend.
    Dropped,
}

/// Proxies until the end, then closes both sockets (by dropping them).
///
/// `route` must have been marked seen while the backend was in it, so that every later route
/// is checked.
pub(crate) async fn run(
    endpoint: &Endpoint,
    peer: SocketAddr,
    mut client: TcpStream,
    opened: Opened,
    route: &mut watch::Receiver<Arc<Route>>,
) {
    let Opened {
        backend,
        mut stream,
        active: _active,
    } = opened;
    let name = &*endpoint.name;
    match copy(&mut client, &mut stream, &backend, route).await {
        End::Closed(Ok((sent, received))) => {
            tracing::debug!(
                endpoint = name,
                %peer,
                node = %backend.node,
                sent,
                received,
                "connection closed"
            );
        }
        End::Closed(Err(err)) => {
            tracing::debug!(
                endpoint = name,
                %peer,
                node = %backend.node,
                error = %err,
                "connection failed"
            );
        }
        End::Dropped => {
            endpoint.metrics.closed_by_route_change.inc();
            tracing::debug!(
                endpoint = name,
                %peer,
                node = %backend.node,
                "the route dropped the backend; connection closed"
            );
        }
    }
}

async fn copy(
    client: &mut TcpStream,
    stream: &mut TcpStream,
    backend: &Backend,
    route: &mut watch::Receiver<Arc<Route>>,
) -> End {
    let mut copying = std::pin::pin!(copy_bidirectional(client, stream));
    // Once the publisher is gone the route can no longer change.
    let mut watching = true;
    loop {
        tokio::select! {
            biased;
            changed = route.changed(), if watching => match changed {
                Ok(()) => {
                    if !route.borrow_and_update().contains(backend) {
                        return End::Dropped;
                    }
                }
                Err(_) => watching = false,
            },
            result = &mut copying => return End::Closed(result),
        }
    }
}
