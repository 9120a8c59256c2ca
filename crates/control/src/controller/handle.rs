//! What the rest of the daemon holds of a running controller, and what it can ask of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use lifeline_model::{
    ForceTarget, LoadBalancerName, OriginName, RoutingTable, StatusSnapshot, Timestamp, Topology,
};
use tokio::sync::{mpsc, oneshot, watch};

/// What other parts of the daemon ask of the controller.
#[derive(Debug)]
pub(super) enum Command {
    /// Switch to a new, validated topology; answered once the controller uses it.
    Reload {
        topology: Arc<Topology>,
        done: oneshot::Sender<()>,
    },
    Force {
        load_balancer: LoadBalancerName,
        target: Option<ForceTarget>,
        done: oneshot::Sender<Result<(), String>>,
    },
    Drain {
        origin: OriginName,
        draining: bool,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// The store has not answered for a lease (`true`), or answers again.
    WithoutStore(bool),
}

/// When the controller loop last ran, so `GET /health` can tell a stuck controller.
#[derive(Debug, Default)]
pub struct Heartbeat(AtomicU64);

impl Heartbeat {
    pub(super) fn beat(&self, now: Timestamp) {
        self.0.store(now.as_millis(), Ordering::Relaxed);
    }

    pub fn last(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::Relaxed))
    }
}

/// What the rest of the daemon holds of a running controller.
#[derive(Clone)]
pub struct ControllerHandle {
    /// The latest status; readers `load()` it without locks.
    pub status: Arc<ArcSwap<StatusSnapshot>>,
    /// The latest routing table; the data plane compiles each new one.
    pub routing: watch::Receiver<Arc<RoutingTable>>,
    pub heartbeat: Arc<Heartbeat>,
    pub(super) commands: mpsc::Sender<Command>,
}

impl ControllerHandle {
    /// Hands a new topology to the controller and waits until it is in use. Returns false if the
    /// controller has stopped.
    pub async fn reload(&self, topology: Arc<Topology>) -> bool {
        let (done, applied) = oneshot::channel();
        self.commands
            .send(Command::Reload { topology, done })
            .await
            .is_ok()
            && applied.await.is_ok()
    }

    /// Pins a load balancer to a pool or origin (`None` clears the pin). `Err` says why not.
    pub async fn force(
        &self,
        load_balancer: LoadBalancerName,
        target: Option<ForceTarget>,
    ) -> Result<(), String> {
        let (done, answer) = oneshot::channel();
        self.ask(
            Command::Force {
                load_balancer,
                target,
                done,
            },
            answer,
        )
        .await
    }

    /// Drains an origin (no new requests) or undrains it. `Err` says why not.
    pub async fn drain(&self, origin: OriginName, draining: bool) -> Result<(), String> {
        let (done, answer) = oneshot::channel();
        self.ask(
            Command::Drain {
                origin,
                draining,
                done,
            },
            answer,
        )
        .await
    }

    /// Tells a controller sharing health that the store has not answered for a lease (`true`):
    /// no leader can decide origins meanwhile, so it routes them by its own checks. `false`:
    /// the store answers again, and the leader's decisions are taken up as they come.
    pub async fn without_store(&self, lost: bool) {
        if self
            .commands
            .send(Command::WithoutStore(lost))
            .await
            .is_err()
        {
            tracing::debug!("the controller has stopped");
        }
    }

    async fn ask(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<(), String>>,
    ) -> Result<(), String> {
        let stopped = || "the controller has stopped".to_string();
        self.commands.send(command).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
