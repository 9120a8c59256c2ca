//! What the rest of the daemon holds of a running cluster, and what it can ask of it.

use std::sync::Arc;

use arc_swap::ArcSwap;
use lifeline_model::NodeName;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::cluster::OperationError;
use crate::cluster::status::ClusterStatus;

/// Where a cluster's endpoints send new connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterRoutes {
    /// The primary, or `None`: hold new writer connections.
    pub writer: Option<(NodeName, String)>,
    pub readers: Vec<(NodeName, String)>,
}

/// Whether a manager may stop for a reload, judged on its status at a quiet moment.
pub type RetireCheck = Box<dyn FnOnce(&ClusterStatus) -> Result<(), String> + Send>;

pub(super) enum Command {
    Request {
        target: Option<NodeName>,
        force: bool,
        switchover_only: bool,
        reply: oneshot::Sender<Result<String, OperationError>>,
    },
    Retire {
        check: RetireCheck,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Isolate(bool),
}

/// What the rest of the daemon holds of a running cluster.
#[derive(Clone)]
pub struct ClusterHandle {
    pub name: lifeline_model::ClusterName,
    pub status: Arc<ArcSwap<ClusterStatus>>,
    pub routes: watch::Receiver<ClusterRoutes>,
    pub(super) check_now: Arc<Notify>,
    pub(super) commands: mpsc::Sender<Command>,
}

impl ClusterHandle {
    /// `lifeline failover`: promote `target` (or the best standby). With a healthy primary this
    /// is a switchover. `force` skips the data-loss checks. `Ok` says what started.
    pub async fn failover(
        &self,
        target: Option<NodeName>,
        force: bool,
    ) -> Result<String, OperationError> {
        self.request(target, force, false).await
    }

    /// `lifeline switchover`: only with a healthy primary.
    pub async fn switchover(&self, target: Option<NodeName>) -> Result<String, OperationError> {
        self.request(target, false, true).await
    }

    /// Closes the writer endpoint (existing connections too) while this instance is cut off,
    /// and opens it again once it is back in touch. Nothing if the manager has stopped.
    pub async fn isolate(&self, isolated: bool) {
        if self
            .commands
            .send(Command::Isolate(isolated))
            .await
            .is_err()
        {
            tracing::debug!(cluster = %self.name, "manager stopped before its isolation changed");
        }
    }

    /// Checks every node now instead of at its next interval.
    pub fn check_now(&self) {
        self.check_now.notify_waiters();
    }

    /// Stops the manager between two decisions, when no failover, switchover, unfence or
    /// rejoin runs and `check` accepts its status then; its endpoints keep the last route.
    /// `Ok` once it has stopped, its actions ended and its writes are stored (so that a
    /// successor resumes from them), or if it had already stopped.
    pub async fn retire(&self, check: RetireCheck) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Retire { check, reply })
            .await
            .is_err()
        {
            return Ok(());
        }
        answer.await.unwrap_or(Ok(()))
    }

    async fn request(
        &self,
        target: Option<NodeName>,
        force: bool,
        switchover_only: bool,
    ) -> Result<String, OperationError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || OperationError::Stopped(self.name.clone());
        self.commands
            .send(Command::Request {
                target,
                force,
                switchover_only,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
