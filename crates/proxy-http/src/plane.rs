//! [`DataPlane`]: the proxy's shared state, kept current by following the controller's routing
//! tables.
//!
//! Every table the controller publishes is compiled off the request path into a [`Compiled`]
//! generation and swapped in atomically; requests load whatever generation is current and never
//! wait for the controller.

use std::future::Future;
use std::io;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use lifeline_model::{Ejection, RoutingTable};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::clients::Clients;
use crate::compiled::Compiled;
use crate::metrics::ProxyMetrics;
use crate::passive::Ejector;
use crate::route::StatsRegistry;
use crate::serve;

/// The HTTP data plane. Cheap to clone; every clone serves the same routing.
#[derive(Clone)]
pub struct DataPlane {
    shared: Arc<Shared>,
}

/// What every connection of every listener shares.
pub(crate) struct Shared {
    pub(crate) current: ArcSwap<Compiled>,
    pub(crate) clients: Clients,
    pub(crate) ejector: Ejector,
}

// === impl DataPlane ===

impl DataPlane {
    /// Starts following `routing`: the current table is compiled at once, each later one by a
    /// background task (so this must be called inside a Tokio runtime). Passive ejections go to
    /// `ejections` without ever waiting: when it is full they are dropped and counted.
    pub fn new(
        mut routing: watch::Receiver<Arc<RoutingTable>>,
        ejections: mpsc::Sender<Ejection>,
        metrics: ProxyMetrics,
    ) -> DataPlane {
        let stats = StatsRegistry::new();
        let table = Arc::clone(&routing.borrow_and_update());
        let clients = Clients::new();
        let compiled = Compiled::new(table, &stats, &metrics, &clients.pools);
        let shared = Arc::new(Shared {
            current: ArcSwap::from_pointee(compiled),
            clients,
            ejector: Ejector::new(ejections, metrics.ejections_dropped()),
        });
        tokio::spawn(follow(routing, Arc::downgrade(&shared), stats, metrics));
        DataPlane { shared }
    }

    /// Serves one bound listener until `shutdown` resolves, then stops accepting and lets
    /// in-flight requests finish until `drain_deadline`, then closes what is left. With `tls`
    /// the listener speaks HTTPS (HTTP/2 or HTTP/1.1 by ALPN, see [`server_tls`](crate::server_tls)).
    ///
    /// Returns an error only when accepting fails for good; running out of file descriptors is
    /// logged and retried.
    pub async fn serve(
        &self,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl Future<Output = ()> + Send,
        drain_deadline: Duration,
    ) -> io::Result<()> {
        serve::serve(
            Arc::clone(&self.shared),
            listener,
            tls,
            shutdown,
            drain_deadline,
        )
        .await
    }
}

/// Compiles every table the controller publishes, until it stops publishing or the data plane
/// is dropped.
async fn follow(
    mut routing: watch::Receiver<Arc<RoutingTable>>,
    shared: Weak<Shared>,
    stats: StatsRegistry,
    metrics: ProxyMetrics,
) {
    while routing.changed().await.is_ok() {
        let table = Arc::clone(&routing.borrow_and_update());
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let generation = table.generation;
        shared.current.store(Arc::new(Compiled::new(
            table,
            &stats,
            &metrics,
            &shared.clients.pools,
        )));
        tracing::debug!(generation, "routing table applied");
    }
}
