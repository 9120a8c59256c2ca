//! What the admin API holds, and how it is served.

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use lifeline_control::ControllerHandle;
use lifeline_control::cluster::ClusterHandle;
use lifeline_model::Topology;
use lifeline_store::StateStore;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::routes::app;

/// Everything the handlers read.
#[derive(Clone)]
pub struct AdminState {
    pub controller: ControllerHandle,
    pub store: Arc<dyn StateStore>,
    pub registry: Arc<Registry>,
    /// The running config: the token comes from here, so a reload can change it.
    pub topology: Arc<ArcSwap<Topology>>,
    /// Requests for the daemon (reload, ...).
    pub commands: mpsc::Sender<AdminCommand>,
    /// The PostgreSQL clusters' managers.
    pub clusters: Vec<ClusterHandle>,
}

/// A change the admin API asks the daemon to make.
#[derive(Debug)]
pub enum AdminCommand {
    /// Re-read the config file.
    Reload {
        reply: oneshot::Sender<ReloadOutcome>,
    },
}

/// The answer to a reload.
#[derive(Debug)]
pub enum ReloadOutcome {
    Applied {
        summary: String,
    },
    /// The file was bad: the running config stays. One line per problem, `file:line:col: ...`.
    Rejected {
        errors: Vec<String>,
    },
}

/// Serves the admin API on an already bound listener until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
