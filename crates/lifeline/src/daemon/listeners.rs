//! The load balancers' listeners: one server per distinct address, however many load balancers
//! share it. A reload binds the new addresses before anything switches over, and stops the
//! removed ones gently: they stop accepting and their in-flight requests finish.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use lifeline_model::{Listener, Topology};
use lifeline_proxy_http::{DataPlane, server_tls};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long in-flight requests of a stopped listener may take to finish.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// The running servers, by address.
pub struct Listeners {
    data_plane: DataPlane,
    servers: HashMap<SocketAddr, Server>,
}

struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Addresses bound for a topology but not serving yet: [`Listeners::switch`] starts them.
pub struct Bound {
    listeners: Vec<(Listener, TcpListener)>,
}

impl Listeners {
    pub fn new(data_plane: DataPlane) -> Self {
        Self {
            data_plane,
            servers: HashMap::new(),
        }
    }

    /// Binds every address of `topology` not served yet. Nothing is bound if one fails.
    pub async fn bind_new(&self, topology: &Topology) -> anyhow::Result<Bound> {
        let mut listeners = Vec::new();
        for listener in distinct_listeners(topology) {
            if self.servers.contains_key(&listener.address) {
                continue;
            }
            let socket = TcpListener::bind(listener.address)
                .await
                .with_context(|| format!("cannot listen on {}", listener.address))?;
            listeners.push((listener, socket));
        }
        Ok(Bound { listeners })
    }

    /// Starts serving what `bound` holds and stops the addresses `topology` no longer has.
    /// TLS files are read here; an address whose files cannot be used is reported and not served.
    pub fn switch(&mut self, topology: &Topology, bound: Bound) -> Vec<String> {
        let mut problems = Vec::new();
        for (listener, socket) in bound.listeners {
            let tls = match listener.tls.as_ref().map(server_tls).transpose() {
                Ok(tls) => tls,
                Err(error) => {
                    problems.push(format!("{}: {error}", listener.address));
                    continue;
                }
            };
            let (stop, stopped) = oneshot::channel();
            let data_plane = self.data_plane.clone();
            let address = listener.address;
            let task = tokio::spawn(async move {
                let shutdown = async {
                    if stopped.await.is_err() {
                        tracing::debug!(%address, "listener owner went away");
                    }
                };
                if let Err(error) = data_plane
                    .serve(socket, tls, shutdown, DRAIN_DEADLINE)
                    .await
                {
                    tracing::error!(%address, %error, "listener failed");
                }
            });
            tracing::info!(%address, tls = listener.tls.is_some(), "serving");
            self.servers.insert(address, Server { stop, task });
        }
        let wanted: Vec<SocketAddr> = distinct_listeners(topology).map(|l| l.address).collect();
        let gone: Vec<SocketAddr> = self
            .servers
            .keys()
            .filter(|a| !wanted.contains(a))
            .copied()
            .collect();
        for address in gone {
            if let Some(server) = self.servers.remove(&address) {
                tracing::info!(%address, "no longer in the config: draining");
                stop(server, address);
            }
        }
        problems
    }

    /// Stops accepting everywhere and waits for in-flight requests (up to the drain deadline).
    pub async fn shutdown(self) {
        let mut tasks = Vec::new();
        for (address, server) in self.servers {
            tasks.push(server.task);
            if server.stop.send(()).is_err() {
                tracing::debug!(%address, "listener had already stopped");
            }
        }
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "listener task failed");
            }
        }
    }
}

fn stop(server: Server, address: SocketAddr) {
    if server.stop.send(()).is_err() {
        tracing::debug!(%address, "listener had already stopped");
    }
}

/// Each listen address once (the config makes sure listeners sharing one agree on TLS).
fn distinct_listeners(topology: &Topology) -> impl Iterator<Item = Listener> + '_ {
    let mut seen = Vec::new();
    topology
        .load_balancers
        .iter()
        .flat_map(|lb| lb.listeners.iter())
        .filter(move |listener| {
            let new = !seen.contains(&listener.address);
            seen.push(listener.address);
            new
        })
        .cloned()
}
