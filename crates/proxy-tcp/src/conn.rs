//! One client connection from accept to close: find a backend (`open`: wait while the route
//! holds, connect with fallthrough), then copy bytes until either side closes or the route
//! drops the backend (`tunnel`). The whole of it races the endpoint's stop signal, so that
//! shutdown closes waiting and proxied connections alike.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::metrics::{EndpointMetrics, TcpMetrics};
use crate::route::Route;
use crate::{open, tunnel};

/// What the connections of one endpoint share.
pub(crate) struct Endpoint {
    /// `cluster/role`, as in logs and metric labels: `main/writer`.
    pub(crate) name: Arc<str>,
    /// How long a new connection waits while the route holds before it is closed; a reload
    /// can change it, and a connection that starts waiting reads it then.
    wait: watch::Receiver<Duration>,
    pub(crate) metrics: EndpointMetrics,
    /// Whose turn it is among the route's backends; one step per connection.
    turn: AtomicUsize,
}

// === impl Endpoint ===

impl Endpoint {
    pub(crate) fn new(name: &str, wait: watch::Receiver<Duration>, metrics: &TcpMetrics) -> Self {
        Self {
            name: Arc::from(name),
            wait,
            metrics: metrics.endpoint(name),
            turn: AtomicUsize::new(0),
        }
    }

    pub(crate) fn wait(&self) -> Duration {
        *self.wait.borrow()
    }

    pub(crate) fn next_turn(&self) -> usize {
        self.turn.fetch_add(1, Ordering::Relaxed)
    }
}

/// Serves one accepted client until it is done or `stop` changes (or its sender is gone).
pub(crate) async fn run(
    endpoint: Arc<Endpoint>,
    client: TcpStream,
    peer: SocketAddr,
    mut route: watch::Receiver<Arc<Route>>,
    mut stop: watch::Receiver<()>,
) {
    if let Err(err) = client.set_nodelay(true) {
        tracing::debug!(
            endpoint = %endpoint.name,
            %peer,
            error = %err,
            "cannot set TCP_NODELAY on a client"
        );
    }
    tokio::select! {
        () = proxy(&endpoint, client, peer, &mut route) => {}
        // A stop and a vanished `serve` both mean stop. Dropping `proxy` closes the client's
        // socket and the backend's.
        _ = stop.changed() => {
            tracing::debug!(
                endpoint = %endpoint.name,
                %peer,
                "endpoint stopping; connection closed"
            );
        }
    }
}

async fn proxy(
    endpoint: &Endpoint,
    client: TcpStream,
    peer: SocketAddr,
    route: &mut watch::Receiver<Arc<Route>>,
) {
    if let Some(opened) = open::open(endpoint, peer, route).await {
        tunnel::run(endpoint, peer, client, opened, route).await;
    }
}
