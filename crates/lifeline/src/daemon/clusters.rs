//! The database clusters: a manager per cluster, with the driver of its kind, and its writer
//! and reader endpoints fed from the manager's routes.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use lifeline_control::cluster::{ClusterHandle, ClusterManager, ClusterMetrics, ClusterRoutes};
use lifeline_model::{ClusterDriver, ClusterKind, Topology};
use lifeline_postgres::PgDriver;
use lifeline_proxy_tcp::{Backend, Route, TcpMetrics};
use lifeline_store::StateStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Starts every cluster of `topology`; `stop` ends them. Endpoint addresses are bound before
/// anything starts, so a taken port fails the start cleanly.
pub async fn start<F>(
    topology: &Topology,
    store: &Arc<dyn StateStore>,
    metrics: &ClusterMetrics,
    tcp_metrics: &TcpMetrics,
    stop: impl Fn() -> F,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<Vec<ClusterHandle>>
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut bound = Vec::new();
    for cluster in &topology.clusters {
        for (kind, address) in [
            ("writer", cluster.writer_listen),
            ("reader", cluster.reader_listen),
        ] {
            if let Some(address) = address {
                let listener = TcpListener::bind(address).await.with_context(|| {
                    format!(
                        "cannot listen on {address} for the {kind} endpoint of cluster {}",
                        cluster.name
                    )
                })?;
                bound.push((cluster.name.clone(), kind, listener));
            }
        }
    }
    let mut handles = Vec::new();
    for cluster in &topology.clusters {
        let (manager, handle) = ClusterManager::start(
            Arc::new(cluster.clone()),
            driver(cluster.kind),
            store.clone(),
            metrics.clone(),
        )
        .await
        .with_context(|| format!("cannot read the stored state of cluster {}", cluster.name))?;
        tasks.spawn(manager.run(stop()));
        let (writer, reader) = endpoint_routes(handle.routes.clone(), tasks);
        let mine: Vec<(&'static str, TcpListener)> = take_listeners(&mut bound, &cluster.name);
        for (kind, listener) in mine {
            let name = format!("{}/{kind}", cluster.name);
            let route = if kind == "writer" {
                writer.clone()
            } else {
                reader.clone()
            };
            let (wait, metrics, shutdown) = (cluster.writer_wait, tcp_metrics.clone(), stop());
            tracing::info!(endpoint = %name, address = %listener.local_addr()?, "serving");
            tasks.spawn(async move {
                if let Err(error) =
                    lifeline_proxy_tcp::serve(&name, listener, route, wait, metrics, shutdown).await
                {
                    tracing::error!(endpoint = %name, %error, "endpoint failed");
                }
            });
        }
        handles.push(handle);
    }
    Ok(handles)
}

/// The driver of a cluster's kind: the one place that knows which crate speaks to which
/// database.
pub fn driver(kind: ClusterKind) -> Arc<dyn ClusterDriver> {
    match kind {
        ClusterKind::Postgres => Arc::new(PgDriver),
    }
}

fn take_listeners(
    bound: &mut Vec<(lifeline_model::ClusterName, &'static str, TcpListener)>,
    cluster: &lifeline_model::ClusterName,
) -> Vec<(&'static str, TcpListener)> {
    let mut mine = Vec::new();
    let mut index = 0;
    while index < bound.len() {
        if &bound[index].0 == cluster {
            let (_, kind, listener) = bound.remove(index);
            mine.push((kind, listener));
        } else {
            index += 1;
        }
    }
    mine
}

/// Splits a manager's routes into the writer's and the readers' endpoint routes.
fn endpoint_routes(
    mut routes: watch::Receiver<ClusterRoutes>,
    tasks: &mut JoinSet<()>,
) -> (watch::Receiver<Arc<Route>>, watch::Receiver<Arc<Route>>) {
    let (writer_tx, writer) = watch::channel(Arc::new(Route {
        backends: Vec::new(),
    }));
    let (reader_tx, reader) = watch::channel(Arc::new(Route {
        backends: Vec::new(),
    }));
    tasks.spawn(async move {
        loop {
            let current = routes.borrow_and_update().clone();
            let backend = |(node, address): &(lifeline_model::NodeName, String)| Backend {
                node: node.clone(),
                address: address.clone(),
            };
            writer_tx.send_if_modified(|route| {
                replace(route, current.writer.iter().map(backend).collect())
            });
            reader_tx.send_if_modified(|route| {
                replace(route, current.readers.iter().map(backend).collect())
            });
            if routes.changed().await.is_err() {
                return;
            }
        }
    });
    (writer, reader)
}

fn replace(route: &mut Arc<Route>, backends: Vec<Backend>) -> bool {
    if route.backends == backends {
        return false;
    }
    *route = Arc::new(Route { backends });
    true
}
