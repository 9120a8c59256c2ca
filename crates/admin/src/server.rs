//! What the admin API holds, and how it is served: HTTP/1.1 over a bounded number of connections.
//!
//! At most `max_connections` admin connections are open; the accept loop waits for a free slot
//! before it accepts, so further clients wait in the kernel's listen queue. That bounds the
//! descriptors the admin API holds at exactly the limit, costs nothing under a flood (no accept and
//! close per connection), and serves a waiting client as soon as a slot frees, which the header
//! and idle timeouts ([`conn`](crate::conn)) guarantee. Accept errors never end the loop: a
//! shortage of descriptors is logged once and retried after a pause.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use lifeline_control::ControllerHandle;
use lifeline_control::cluster::ClusterHandle;
use lifeline_control::escalation::Escalation;
use lifeline_model::{AdminLimits, ClusterName, InstanceStatus, Preflight, Topology};
use lifeline_store::StateStore;
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tower::Service;

use crate::conn::{Activity, TrackedBody, Watched};
use crate::routes::app;

/// Pause after an accept error that is not about one connection (out of descriptors, ...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

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
    /// The database clusters' managers; a reload swaps in the new set.
    pub clusters: Arc<ArcSwap<Vec<ClusterHandle>>>,
    /// Each cluster's latest preflight, refreshed by the daemon (`GET /failover/health`).
    pub preflight: PreflightResults,
    /// The Lifeline instances sharing the store, this one included, as the daemon last saw them.
    pub instances: Arc<ArcSwap<Vec<InstanceStatus>>>,
    /// The scorecards' scores, levels and signals.
    pub escalation: Escalation,
}

/// The latest [`Preflight`] of each cluster by name; a cluster not yet checked has none.
pub type PreflightResults = Arc<ArcSwap<HashMap<ClusterName, Preflight>>>;

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

/// Serves the admin API on an already bound listener until `shutdown` resolves, then lets the
/// requests in flight finish. The limits are those of the topology at the start.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = state.topology.load().admin.limits;
    let router = app(state);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = http1::Builder::new();
    builder.header_read_timeout(None).keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut starved = false;
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the slots are never closed"),
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) if is_about_one_connection(&err) => continue,
                Err(err) => {
                    if !starved {
                        tracing::warn!(error = %err, "the admin API cannot accept connections; retrying");
                        starved = true;
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        if std::mem::take(&mut starved) {
            tracing::info!("the admin API accepts connections again");
        }
        connection(&builder, &graceful, stream, router.clone(), limits, slot);
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Serves one connection on its own task until it ends or breaks a limit, holding its slot.
fn connection(
    builder: &http1::Builder,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    router: Router,
    limits: AdminLimits,
    slot: OwnedSemaphorePermit,
) {
    let activity = Activity::new(limits);
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = activity.request();
            let response = router.clone().call(request);
            async move {
                let response = response.await?;
                Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, in_flight)))
            }
        })
    };
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
    let served = graceful.watch(builder.serve_connection(io, service));
    tokio::spawn(async move {
        tokio::select! {
            served = served => if let Err(err) = served {
                tracing::debug!(error = %err, "admin connection failed");
            },
            expiry = activity.expired() => {
                tracing::debug!(?expiry, "admin connection timed out");
            }
        }
        drop(slot);
    });
}

/// Accept errors that concern one connection, not the listener or the process.
fn is_about_one_connection(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}
