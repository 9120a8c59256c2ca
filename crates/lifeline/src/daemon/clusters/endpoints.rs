//! One cluster's writer and reader endpoints (and a Redis cluster's Sentinel-compatible
//! listener), and the feed that turns its manager's routes into theirs. Both outlive the manager: a reload restarts the manager behind them, and the
//! feed keeps the last route until the new manager has published its own, so the endpoints
//! never see an empty route in between (which would close every writer connection).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lifeline_control::cluster::ClusterRoutes;
use lifeline_model::{Cluster, ClusterName, NodeName};
use lifeline_proxy_tcp::{Backend, Route, TcpMetrics};
use lifeline_redis::sentinel::Discovery;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::discovery::{self, Announced};
use crate::daemon::stopped;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Writer,
    Reader,
    Sentinel,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Writer, Kind::Reader, Kind::Sentinel];

    fn as_str(self) -> &'static str {
        match self {
            Kind::Writer => "writer",
            Kind::Reader => "reader",
            Kind::Sentinel => "sentinel",
        }
    }

    fn listen(self, cluster: &Cluster) -> Option<SocketAddr> {
        match self {
            Kind::Writer => cluster.writer_listen,
            Kind::Reader => cluster.reader_listen,
            Kind::Sentinel => cluster.sentinel_listen,
        }
    }
}

/// Endpoint addresses bound for a config but not serving yet.
#[derive(Default)]
pub struct Bound {
    listeners: Vec<(ClusterName, Kind, TcpListener)>,
}

impl Bound {
    fn take(&mut self, cluster: &ClusterName, kind: Kind) -> Option<TcpListener> {
        let index = self
            .listeners
            .iter()
            .position(|(c, k, _)| c == cluster && *k == kind)?;
        Some(self.listeners.remove(index).2)
    }
}

/// Binds every endpoint address of `clusters` that `serving` (the address each cluster's
/// endpoint serves now) does not already have. Nothing is bound if one fails.
pub async fn bind(
    clusters: &[Cluster],
    serving: impl Fn(&ClusterName, Kind) -> Option<SocketAddr>,
) -> anyhow::Result<Bound> {
    let mut bound = Bound::default();
    for cluster in clusters {
        for kind in Kind::ALL {
            let Some(address) = kind.listen(cluster) else {
                continue;
            };
            if serving(&cluster.name, kind) == Some(address) {
                continue;
            }
            let listener = TcpListener::bind(address).await.with_context(|| {
                format!(
                    "cannot listen on {address} for the {} endpoint of cluster {} ({}_listen)",
                    kind.as_str(),
                    cluster.name,
                    kind.as_str()
                )
            })?;
            bound.listeners.push((cluster.name.clone(), kind, listener));
        }
    }
    Ok(bound)
}

/// A cluster's endpoints: the routes they read, and the listeners serving them.
pub struct Endpoints {
    name: ClusterName,
    /// Hands the feed a new manager's routes.
    managers: mpsc::UnboundedSender<watch::Receiver<ClusterRoutes>>,
    writer: watch::Receiver<Arc<Route>>,
    reader: watch::Receiver<Arc<Route>>,
    wait: watch::Sender<Duration>,
    /// The nodes the Sentinel-compatible listener announces.
    announced: watch::Sender<Announced>,
    serving: Vec<Serving>,
}

struct Serving {
    kind: Kind,
    address: SocketAddr,
    stop: oneshot::Sender<()>,
}

impl Endpoints {
    /// Starts the feed; the endpoints hold new connections until a manager publishes a route.
    pub fn new(cluster: &Cluster, tasks: &mut JoinSet<()>, stop: &watch::Receiver<bool>) -> Self {
        let hold = || {
            Arc::new(Route {
                backends: Vec::new(),
            })
        };
        let (writer_tx, writer) = watch::channel(hold());
        let (reader_tx, reader) = watch::channel(hold());
        let (managers, routes) = mpsc::unbounded_channel();
        tasks.spawn(feed(routes, writer_tx, reader_tx, stopped(stop.clone())));
        Self {
            name: cluster.name.clone(),
            managers,
            writer,
            reader,
            wait: watch::channel(cluster.writer_wait).0,
            announced: watch::channel(Announced::of(cluster)).0,
            serving: Vec::new(),
        }
    }

    /// From now on the endpoints follow this manager's routes, from its first one on.
    pub fn follow(&self, routes: watch::Receiver<ClusterRoutes>) {
        if self.managers.send(routes).is_err() {
            tracing::debug!(cluster = %self.name, "the endpoints' feed has stopped");
        }
    }

    /// Serves `cluster`'s endpoint settings: its wait, and its addresses. An address that
    /// changed is served from `bound` and the old one stops, closing its connections.
    pub fn serve(
        &mut self,
        cluster: &Cluster,
        bound: &mut Bound,
        metrics: &TcpMetrics,
        tasks: &mut JoinSet<()>,
        stop: &watch::Receiver<bool>,
    ) {
        self.wait.send_if_modified(|wait| {
            let changed = *wait != cluster.writer_wait;
            *wait = cluster.writer_wait;
            changed
        });
        let announced = Announced::of(cluster);
        self.announced.send_if_modified(|current| {
            let changed = *current != announced;
            *current = announced;
            changed
        });
        for kind in Kind::ALL {
            let wanted = kind.listen(cluster);
            let current = self.serving.iter().position(|s| s.kind == kind);
            if current.map(|i| self.serving[i].address) == wanted {
                continue;
            }
            if let Some(listener) = bound.take(&cluster.name, kind) {
                self.spawn(kind, listener, metrics, tasks, stop);
            }
            if let Some(index) = current {
                let old = self.serving.remove(index);
                tracing::info!(endpoint = %self.endpoint(kind), address = %old.address, "no longer in the config: stopping");
                old.stop();
            }
        }
    }

    /// Stops every endpoint (its cluster left the config) and, once they are gone, the feed.
    pub fn stop(self) {
        for serving in self.serving {
            serving.stop();
        }
    }

    fn endpoint(&self, kind: Kind) -> String {
        format!("{}/{}", self.name, kind.as_str())
    }

    fn spawn(
        &mut self,
        kind: Kind,
        listener: TcpListener,
        metrics: &TcpMetrics,
        tasks: &mut JoinSet<()>,
        stop: &watch::Receiver<bool>,
    ) {
        let Ok(address) = listener.local_addr() else {
            tracing::error!(endpoint = %self.endpoint(kind), "a bound listener has no address");
            return;
        };
        let name = self.endpoint(kind);
        let (stop_one, stopped_one) = oneshot::channel();
        let everything = stopped(stop.clone());
        let shutdown = async {
            tokio::select! {
                () = everything => {}
                _ = stopped_one => {}
            }
        };
        tracing::info!(endpoint = %name, %address, "serving");
        let route = match kind {
            Kind::Writer => self.writer.clone(),
            Kind::Reader => self.reader.clone(),
            Kind::Sentinel => {
                let (view_tx, view) = watch::channel(Discovery::default());
                tasks.spawn(discovery::feed(
                    self.writer.clone(),
                    self.reader.clone(),
                    self.announced.subscribe(),
                    view_tx,
                ));
                let master = self.name.to_string();
                tasks.spawn(lifeline_redis::sentinel::serve(
                    master, listener, view, shutdown,
                ));
                self.serving.push(Serving {
                    kind,
                    address,
                    stop: stop_one,
                });
                return;
            }
        };
        let (wait, metrics) = (self.wait.subscribe(), metrics.clone());
        tasks.spawn(async move {
            if let Err(error) =
                lifeline_proxy_tcp::serve(&name, listener, route, wait, metrics, shutdown).await
            {
                tracing::error!(endpoint = %name, %error, "endpoint failed");
            }
        });
        self.serving.push(Serving {
            kind,
            address,
            stop: stop_one,
        });
    }

    /// The address the endpoint of this kind serves now.
    pub fn address(&self, kind: Kind) -> Option<SocketAddr> {
        self.serving
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.address)
    }
}

impl Serving {
    fn stop(self) {
        if self.stop.send(()).is_err() {
            tracing::debug!(address = %self.address, "endpoint had already stopped");
        }
    }
}

/// Copies each manager's routes to the endpoints' until the daemon stops or the cluster leaves
/// the config. A new manager's routes count from its first published one: until then, and
/// after a manager stopped, the endpoints keep the last route.
async fn feed(
    mut managers: mpsc::UnboundedReceiver<watch::Receiver<ClusterRoutes>>,
    writer: watch::Sender<Arc<Route>>,
    reader: watch::Sender<Arc<Route>>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut current: Option<watch::Receiver<ClusterRoutes>> = None;
    loop {
        let changed = async {
            match current.as_mut() {
                Some(routes) => routes.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut stop => return,
            // The manager's last routes go out before its successor's.
            alive = changed => match (alive, current.as_mut()) {
                (true, Some(routes)) => {
                    let routes = routes.borrow_and_update().clone();
                    forward(&writer, routes.writer.as_slice());
                    forward(&reader, &routes.readers);
                }
                _ => current = None,
            },
            next = managers.recv() => match next {
                Some(routes) => current = Some(routes),
                None => return,
            },
        }
    }
}

/// Publishes `nodes` as the route unless it already is: a connection sees a change only when
/// there is one.
fn forward(route: &watch::Sender<Arc<Route>>, nodes: &[(NodeName, String)]) {
    let backends: Vec<Backend> = nodes
        .iter()
        .map(|(node, address)| Backend {
            node: node.clone(),
            address: address.clone(),
        })
        .collect();
    route.send_if_modified(|route| {
        if route.backends == backends {
            return false;
        }
        *route = Arc::new(Route { backends });
        true
    });
}
