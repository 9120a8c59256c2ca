//! Finding a backend for a new connection. While the route holds, the connection waits for a
//! route with backends, at most the endpoint's `wait`, without reading from the client: what
//! it has sent stays queued in its socket and reaches the backend later. Then the route's
//! backends are tried round-robin, each at most once, falling through to the next when a
//! connect fails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, timeout, timeout_at};

use crate::conn::Endpoint;
use crate::metrics::Active;
use crate::route::{Backend, Route};

/// A connect that takes longer fails and the next backend is tried: a partitioned host drops
/// SYNs, and the kernel would retry for minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to a backend of the current route.
pub(crate) struct Opened {
    pub(crate) backend: Backend,
    pub(crate) stream: TcpStream,
    pub(crate) active: Active,
}

/// Connects to a backend of the current route, or gives up (the caller then closes the client,
/// which sees what it would see from a dead server).
///
/// A route published while connecting counts: a backend it dropped is no place for a new
/// connection, and when every backend failed, the new route's are tried too.
pub(crate) async fn open(
    endpoint: &Endpoint,
    peer: SocketAddr,
    route: &mut watch::Receiver<Arc<Route>>,
) -> Option<Opened> {
    let name = &*endpoint.name;
    let wait = endpoint.wait();
    let deadline = Instant::now() + wait;
    loop {
        let current = match timeout_at(deadline, route.wait_for(|route| !route.is_hold())).await {
            Ok(Ok(current)) => Arc::clone(&current),
            Ok(Err(_)) => {
                tracing::debug!(
                    endpoint = name,
                    %peer,
                    "the route's publisher is gone during a hold; connection closed"
                );
                return None;
            }
            Err(_) => {
                endpoint.metrics.wait_timeouts.inc();
                tracing::debug!(
                    endpoint = name,
                    %peer,
                    wait = ?wait,
                    "held longer than the wait; connection closed"
                );
                return None;
            }
        };
        match connect(endpoint, peer, &current).await {
            Some((backend, stream)) if route.borrow_and_update().contains(backend) => {
                return Some(Opened {
                    active: endpoint.metrics.connected(&backend.node),
                    backend: backend.clone(),
                    stream,
                });
            }
            Some((backend, _)) => {
                tracing::debug!(
                    endpoint = name,
                    %peer,
                    node = %backend.node,
                    "the route dropped the backend during the connect; trying the new route"
                );
            }
            None if route.has_changed().unwrap_or(false) => {
                tracing::debug!(
                    endpoint = name,
                    %peer,
                    "every backend failed, but the route changed; trying the new route"
                );
            }
            None => {
                tracing::warn!(
                    endpoint = name,
                    %peer,
                    "no backend accepted a connection; client closed"
                );
                return None;
            }
        }
    }
}

/// Tries each backend of `route` once, starting with the one whose turn it is.
async fn connect<'r>(
    endpoint: &Endpoint,
    peer: SocketAddr,
    route: &'r Route,
) -> Option<(&'r Backend, TcpStream)> {
    let name = &*endpoint.name;
    for backend in route.candidates(endpoint.next_turn()) {
        match timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect(backend.address.as_str()),
        )
        .await
        {
            Ok(Ok(stream)) => {
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(
                        endpoint = name,
                        node = %backend.node,
                        error = %err,
                        "cannot set TCP_NODELAY on a backend connection"
                    );
                }
                return Some((backend, stream));
            }
            Ok(Err(err)) => {
                tracing::debug!(
                    endpoint = name,
                    %peer,
                    node = %backend.node,
                    address = %backend.address,
                    error = %err,
                    "connect to a backend failed"
                );
            }
            Err(_) => {
                tracing::debug!(
                    endpoint = name,
                    %peer,
                    node = %backend.node,
                    address = %backend.address,
                    timeout = ?CONNECT_TIMEOUT,
                    "connect to a backend timed out"
                );
            }
        }
        endpoint.metrics.connect_failed(&backend.node);
    }
    None
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use crate::metrics::TcpMetrics;

    use super::*;

    const WAIT: Duration = Duration::from_secs(30);

    fn endpoint() -> Endpoint {
        let metrics = TcpMetrics::register(&mut Registry::default());
        Endpoint::new("main/writer", watch::channel(WAIT).1, &metrics)
    }

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40000))
    }

    fn hold() -> Arc<Route> {
        Arc::new(Route {
            backends: Vec::new(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_gives_up_after_exactly_the_wait_even_when_holds_are_republished() {
        let endpoint = endpoint();
        let (publisher, mut route) = watch::channel(hold());
        let republishing = async {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(5)).await;
                publisher.send_replace(hold());
            }
        };
        let started = Instant::now();
        let (opened, ()) = tokio::join!(open(&endpoint, peer(), &mut route), republishing);
        assert!(opened.is_none());
        assert_eq!(started.elapsed(), WAIT);
        assert_eq!(endpoint.metrics.wait_timeouts.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_whose_publisher_is_gone_gives_up_at_once() {
        let endpoint = endpoint();
        let (publisher, mut route) = watch::channel(hold());
        drop(publisher);
        let started = Instant::now();
        assert!(open(&endpoint, peer(), &mut route).await.is_none());
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(endpoint.metrics.wait_timeouts.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_waits_as_long_as_the_wait_said_when_it_started() {
        let metrics = TcpMetrics::register(&mut Registry::default());
        let (set_wait, wait) = watch::channel(WAIT);
        let endpoint = Endpoint::new("main/writer", wait, &metrics);
        set_wait.send_replace(Duration::from_secs(3));
        let (_publisher, mut route) = watch::channel(hold());
        let started = Instant::now();
        assert!(open(&endpoint, peer(), &mut route).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }
}
